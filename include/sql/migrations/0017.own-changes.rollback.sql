ALTER TABLE gmcrm.import_watermark DROP COLUMN IF EXISTS own_changes_checked_to;
ALTER TABLE gmcrm.import_batch DROP COLUMN IF EXISTS own_changes_checked_to;
