-- Wakes the sender (gmcrm.send.wakeup.OutboxNotifyTrigger, in Airflow's triggerer) when events become
-- sendable: NOTIFY gmcrm_outbox with the dealer code as payload. PostgreSQL delivers notifications at
-- commit, and only once per distinct payload per transaction, so a screen saving twenty events (or an
-- import loading a dealership in one transaction) makes one notification per dealership, and a
-- transaction that rolls back makes none.
--
-- What wakes it:
--   * a new PENDING event (INSERT);
--   * an event put back in the queue: FAILED or BLOCKED -> PENDING (`gmcrm events retry`, unblock);
--   * a FAILED or BLOCKED event skipped: the lead's later events can go now.
-- What does not: the sender's own updates (claims, releases, SENT, RETRY with its backoff, FAILED,
-- CANCELLED). Waking on them would make every run wake the next one; a RETRY's backoff is the 5-minute
-- schedule's job, and a run already sends each lead's next event once the earlier one is SENT.
--
-- Statement-level with transition tables: one call per statement whatever its row count (the
-- import's set-based loads), and the rows are only scanned to find the dealer codes.
CREATE OR REPLACE FUNCTION gmcrm.notify_outbox_inserted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM pg_notify('gmcrm_outbox', d.dealer_code)
        FROM (SELECT DISTINCT n.dealer_code FROM new_rows n WHERE n.status = 'PENDING') d;
        RETURN NULL;
    END
    $$;

-- Transition tables allow one event per trigger: the UPDATE's is 26.gmcrm.notify_outbox_requeued.sql.
CREATE OR REPLACE TRIGGER trigger_outbox_notify_insert AFTER INSERT ON gmcrm.trigger_outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gmcrm.notify_outbox_inserted();
