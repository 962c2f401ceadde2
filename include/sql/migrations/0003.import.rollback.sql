DROP FUNCTION IF EXISTS gmcrm.load_dealer(text, text);
DROP TABLE IF EXISTS gmcrm.lead_load_quarantine;
DROP TABLE IF EXISTS gmcrm.lead_load;
DROP TABLE IF EXISTS gmcrm.import_log;
DROP TABLE IF EXISTS gmcrm.import_watermark;
DROP TABLE IF EXISTS gmcrm.import_batch;
DROP TABLE IF EXISTS gmcrm.lead_staging;
