ALTER TABLE gmcrm.import_batch DROP COLUMN IF EXISTS api_limit;
