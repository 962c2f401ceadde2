DROP FUNCTION IF EXISTS gmcrm.load_dealer(text, text);
DROP TYPE IF EXISTS gmcrm.deleted_row;
DROP TYPE IF EXISTS gmcrm.quarantine_row;
DROP TYPE IF EXISTS gmcrm.lead_row;
DROP TABLE IF EXISTS gmcrm.import_log;
DROP TABLE IF EXISTS gmcrm.import_watermark;
DROP TABLE IF EXISTS gmcrm.import_batch;
DROP TABLE IF EXISTS gmcrm.lead_staging;
