DROP TABLE IF EXISTS gmcrm.send_log;
DROP INDEX IF EXISTS gmcrm.trigger_outbox_sendable_idx;
ALTER TABLE gmcrm.trigger_outbox DROP COLUMN IF EXISTS skipped_reason;
ALTER TABLE gmcrm.trigger_outbox DROP COLUMN IF EXISTS claimed_until;
ALTER TABLE gmcrm.trigger_outbox DROP COLUMN IF EXISTS claimed_by;
