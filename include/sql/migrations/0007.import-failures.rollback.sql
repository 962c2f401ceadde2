DROP FUNCTION IF EXISTS gmcrm.import_run_failures(text);
DROP TABLE IF EXISTS gmcrm.import_failure;
