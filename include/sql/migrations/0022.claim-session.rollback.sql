ALTER TABLE gmcrm.trigger_outbox DROP COLUMN IF EXISTS claimed_backend_start;
ALTER TABLE gmcrm.trigger_outbox DROP COLUMN IF EXISTS claimed_pid;
