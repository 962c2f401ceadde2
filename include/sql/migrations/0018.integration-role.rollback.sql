-- The role itself stays: it belongs to the cluster, and other DMS databases on the server may use it.
ALTER DEFAULT PRIVILEGES IN SCHEMA gmcrm REVOKE ALL ON TABLES FROM gmcrm_integration;
ALTER DEFAULT PRIVILEGES IN SCHEMA gmcrm REVOKE ALL ON SEQUENCES FROM gmcrm_integration;
REVOKE ALL ON ALL TABLES IN SCHEMA gmcrm FROM gmcrm_integration;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA gmcrm FROM gmcrm_integration;
REVOKE ALL ON ALL TABLES IN SCHEMA dms FROM gmcrm_integration;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA dms FROM gmcrm_integration;
REVOKE ALL ON SCHEMA gmcrm, dms FROM gmcrm_integration;
