DROP TABLE IF EXISTS dms.traffic_origin;
DROP TABLE IF EXISTS dms.contact_subtype;
DROP TABLE IF EXISTS dms.contact_type;
