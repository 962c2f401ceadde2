-- The UPDATE half of the sender's wake-up (25.gmcrm.notify_outbox_inserted.sql says what wakes it and
-- why): an event put back in the queue (FAILED or BLOCKED -> PENDING) or a FAILED or BLOCKED one skipped
-- (the lead's later events can go) notifies gmcrm_outbox with its dealer code; the sender's own
-- updates (claims, releases, SENT, RETRY, FAILED, CANCELLED) do not.
CREATE OR REPLACE FUNCTION gmcrm.notify_outbox_requeued() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM pg_notify('gmcrm_outbox', d.dealer_code)
        FROM (
            SELECT DISTINCT n.dealer_code
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE o.status IN ('FAILED', 'BLOCKED') AND n.status IN ('PENDING', 'SKIPPED')
        ) d;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER trigger_outbox_notify_requeue AFTER UPDATE ON gmcrm.trigger_outbox
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gmcrm.notify_outbox_requeued();
