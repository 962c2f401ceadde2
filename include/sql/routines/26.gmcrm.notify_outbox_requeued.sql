-- The UPDATE half of the sender's wake-up (25.gmcrm.notify_outbox_inserted.sql says what wakes it and
-- why): an event put back in the queue (FAILED or BLOCKED -> PENDING) or a FAILED or BLOCKED one skipped
-- (the lead's later events can go) notifies gmcrm_outbox with its dealer code; the sender's own
-- updates (claims, releases, SENT, RETRY, FAILED, CANCELLED) do not.
-- The sender's updates (thousands a minute, 200-2,000 rows each) leave at the first check: no old row was
-- FAILED or BLOCKED. The join runs only for a requeue or a skip, as a hash join: the transition tables
-- carry no statistics, and a cached plan that expected one row joined 2,000 x 2,000 in a nested loop
-- (0.37 s of every claim in the send benchmark).
CREATE OR REPLACE FUNCTION gmcrm.notify_outbox_requeued() RETURNS trigger
    LANGUAGE plpgsql
    SET enable_nestloop = off
    AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.status IN ('FAILED', 'BLOCKED')) THEN
            RETURN NULL;
        END IF;
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
