DROP TABLE IF EXISTS gmcrm.import_log;
DROP TABLE IF EXISTS gmcrm.import_watermark;
DROP TABLE IF EXISTS gmcrm.import_batch;
DROP TABLE IF EXISTS gmcrm.lead_staging;
