DROP INDEX IF EXISTS gmcrm.trigger_outbox_failed_idx;
DROP INDEX IF EXISTS gmcrm.send_log_failed_run_idx;
