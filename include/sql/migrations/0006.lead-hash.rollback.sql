DROP FUNCTION IF EXISTS gmcrm.lead_hash(text);
