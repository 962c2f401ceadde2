-- The send DAG's last task (no_events_failed) asks, every run, which events this run failed for good
-- and how many FAILED events still wait. Both are a few rows out of tables that only grow (the send
-- log keeps every attempt): partial indexes keep the questions cheap, and cost nothing on the rows
-- that are not FAILED. The second also serves block_behind_failed (DISTINCT ON lead_id over FAILED).
CREATE INDEX send_log_failed_run_idx ON gmcrm.send_log (dag_id, run_id) WHERE outcome = 'FAILED';
CREATE INDEX trigger_outbox_failed_idx ON gmcrm.trigger_outbox (lead_id, id) WHERE status = 'FAILED';
