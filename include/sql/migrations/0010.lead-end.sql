-- The end of a lead's events, and their order across DMS transactions (issue 8, items 4, 9 and 10).
--
-- 4. A lead deleted at GM sends nothing more: its unsent events (PENDING, RETRY, BLOCKED, FAILED,
--    claimed or not) end CANCELLED, a final status of their own with the reason in cancelled_reason;
--    they are no failure and block nothing. Done in the database so every path gets it: a trigger on
--    dms.contact when the import sets gm_deleted_at; the send path when GM answers ENTITY_IS_DELETED
--    (gmcrm.cancel_lead_events); activity recorded afterwards writes no outbox row (see 10).
-- 9. Recording a trigger takes a per-lead transaction-scoped advisory lock (gmcrm.lead_lock_key), so
--    a lead's events commit in their outbox order: a DMS transaction that records an event on a lead
--    waits for an open one that recorded an earlier event on it. The send claim's "earliest unsent event
--    of the lead" is then the earliest one there will ever be. Deadlocks: the capture triggers take
--    the lead lock before they update the contact row (dms.mark_contact_*), so lead lock -> row lock is
--    the one order; distribution takes its contacts (rows, then leads) in contact id order. Two DMS
--    transactions that each hold one lead and want the other's can still deadlock (PostgreSQL aborts
--    one; the screen retries), as they could on any two rows; the send path never takes a lead lock.
-- 10. After a lead is closed in the DMS (a VPE or an NFF recorded for it), later activity on its contact
--    records no outbox row: it is kept in gmcrm.activity_not_sent ("after the close, not sent"), which
--    the lead log reads, as is activity on a lead known to be deleted at GM.

-- ---------------------------------------------------------------------------------------------
-- The outbox's final status CANCELLED, and why.

ALTER TABLE gmcrm.trigger_outbox ADD COLUMN cancelled_reason text;
ALTER TABLE gmcrm.trigger_outbox DROP CONSTRAINT trigger_outbox_status_check;
ALTER TABLE gmcrm.trigger_outbox ADD CONSTRAINT trigger_outbox_status_check
    CHECK (status IN ('PENDING', 'SENT', 'RETRY', 'FAILED', 'BLOCKED', 'SKIPPED', 'CANCELLED'));

-- Activity of a GM lead that the catalogue would have sent, recorded instead of an outbox row because
-- the lead was closed in the DMS before it (AFTER_CLOSE) or is known to be deleted at GM
-- (LEAD_DELETED_AT_GM). The DMS keeps the activity itself in its own tables (source_table, source_id).
CREATE TABLE gmcrm.activity_not_sent (
    id                  bigserial PRIMARY KEY,
    dealer_code         text NOT NULL,
    lead_id             text NOT NULL,
    contact_id          bigint REFERENCES dms.contact (id),
    trigger_code        text NOT NULL,
    step                smallint NOT NULL DEFAULT 1,
    source_table        text,
    source_id           bigint,
    reason_code         text NOT NULL CHECK (reason_code IN ('AFTER_CLOSE', 'LEAD_DELETED_AT_GM')),
    reason              text NOT NULL,
    -- The VPE or NFF that closed the lead (AFTER_CLOSE).
    closed_by_outbox_id bigint REFERENCES gmcrm.trigger_outbox (id),
    recorded_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX activity_not_sent_lead_idx ON gmcrm.activity_not_sent (lead_id, id);

-- ---------------------------------------------------------------------------------------------
-- Per-lead lock and cancellation.

-- The key of a lead's transaction-scoped advisory lock (one bigint space with load_dealer's
-- 'gmcrm.load_dealer:' keys; the prefixes keep them apart).
CREATE FUNCTION gmcrm.lead_lock_key(p_lead_id text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT hashtextextended('gmcrm.lead:' || p_lead_id, 0) $$;

-- Every unsent event of a lead ends CANCELLED with p_reason (claims released: a worker holding one
-- records nothing over it, its outcomes only apply to rows it still has claimed). Returns how many.
CREATE FUNCTION gmcrm.cancel_lead_events(p_lead_id text, p_reason text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
    DECLARE
        n integer;
    BEGIN
        UPDATE gmcrm.trigger_outbox
        SET status = 'CANCELLED', cancelled_reason = p_reason, next_attempt_at = NULL,
            claimed_by = NULL, claimed_until = NULL,
            -- "waiting behind event N: retry or skip it" no longer holds; GM's errors stay.
            last_error = CASE WHEN status = 'BLOCKED' THEN NULL ELSE last_error END
        WHERE lead_id = p_lead_id AND status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED');
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END
    $$;

-- Takes the lock of the contact's lead (none for a contact without one). The capture triggers call
-- it, through the two functions below, before they update the contact: so a DMS transaction always
-- takes a lead's lock before the contact's row lock, never the other way round. Otherwise a screen
-- holding the row lock (say, closing the contact) and waiting for the lead lock would deadlock with
-- the transaction holding the lead lock that goes on to update the contact.
CREATE FUNCTION gmcrm.lock_lead_of_contact(p_contact_id bigint) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT pg_advisory_xact_lock(gmcrm.lead_lock_key(ct.lead_id))
    FROM dms.contact ct WHERE ct.id = p_contact_id AND ct.lead_id IS NOT NULL
    $$;

CREATE OR REPLACE FUNCTION dms.mark_contact_in_progress(p_contact_id bigint) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT gmcrm.lock_lead_of_contact(p_contact_id);
    UPDATE dms.contact SET status = 'IN_PROGRESS' WHERE id = p_contact_id AND status = 'IN_QUEUE';
    $$;

CREATE OR REPLACE FUNCTION dms.mark_contact_closed(p_contact_id bigint, p_status text) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT gmcrm.lock_lead_of_contact(p_contact_id);
    UPDATE dms.contact SET status = p_status
    WHERE id = p_contact_id AND status IS DISTINCT FROM p_status;
    $$;

CREATE FUNCTION gmcrm.lead_deleted_reason(p_deleted_at timestamptz) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT 'lead deleted at GM (the import saw it deleted at '
           || to_char(p_deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC): nothing more is sent '
           || 'for it; a new GM lead for this customer arrives as a new contact'
    $$;

-- The import marks a contact deleted at GM: its lead's unsent events are cancelled in the same
-- transaction. No lead lock here (the import holds the contact's row lock, and a DMS transaction
-- holding the lead lock may be waiting for it): an event that a DMS transaction commits concurrently
-- is cancelled by the send run's sweep (query cancel_deleted) or by GM's ENTITY_IS_DELETED answer.
CREATE FUNCTION dms.contact_cancel_deleted_lead() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM gmcrm.cancel_lead_events(NEW.lead_id, gmcrm.lead_deleted_reason(NEW.gm_deleted_at));
        RETURN NULL;
    END
    $$;
CREATE TRIGGER contact_cancel_deleted_lead AFTER UPDATE OF gm_deleted_at ON dms.contact
    FOR EACH ROW
    WHEN (OLD.gm_deleted_at IS NULL AND NEW.gm_deleted_at IS NOT NULL AND NEW.lead_id IS NOT NULL)
    EXECUTE FUNCTION dms.contact_cancel_deleted_lead();

-- ---------------------------------------------------------------------------------------------
-- Recording a trigger (0002's function, plus: the lead lock; no outbox row after the close or for a
-- lead deleted at GM, but a gmcrm.activity_not_sent row).

CREATE OR REPLACE FUNCTION gmcrm.record_trigger(
    p_code               text,
    p_contact_id         bigint,
    p_source             text,
    p_source_table       text,
    p_source_id          bigint,
    p_contact_form_id    bigint DEFAULT NULL,
    p_reason_id          bigint DEFAULT NULL,
    p_vehicle_model_id   bigint DEFAULT NULL,
    p_vehicle_model_year text DEFAULT NULL,
    p_trade_in           jsonb DEFAULT NULL,
    p_user_id            bigint DEFAULT NULL
) RETURNS integer
    LANGUAGE plpgsql
    AS $$
    DECLARE
        c           record;
        cat         gmcrm.trigger_catalogue%ROWTYPE;
        allowed     jsonb;
        written     integer := 0;
        one         integer;
        deleted_at  timestamptz;
        closer_id   bigint;
        closer_code text;
        why_code    text;
        why         text;
    BEGIN
        SELECT ct.dealer_code, ct.lead_id, ct.lead_type INTO c
        FROM dms.contact ct WHERE ct.id = p_contact_id;
        -- Contacts the dealership created itself never tell GM anything.
        IF NOT FOUND OR c.lead_id IS NULL THEN
            RETURN 0;
        END IF;

        SELECT * INTO cat FROM gmcrm.trigger_catalogue t WHERE t.code = p_code;
        IF NOT FOUND THEN
            -- An empty catalogue is a deployment mistake: refuse loudly rather than lose events.
            -- A loaded catalogue without this code means GM no longer wants it.
            IF NOT EXISTS (SELECT 1 FROM gmcrm.trigger_catalogue) THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'GMC09',
                    MESSAGE = 'gmcrm.trigger_catalogue está vazio: os gatilhos da GM não podem ser registrados / '
                              'the trigger catalogue is empty, GM triggers cannot be recorded',
                    HINT = 'Load it from plugins/gmcrm/config/triggers.yaml with '
                           'gmcrm.triggers.sync_catalogue(conn) (run after every schema upgrade).';
            END IF;
            RETURN 0;
        END IF;

        IF c.lead_type IS NULL OR NOT (c.lead_type = ANY (cat.lead_types)) THEN
            RETURN 0;
        END IF;
        IF cat.sources IS NOT NULL THEN
            allowed := coalesce(cat.sources -> p_source, cat.sources -> split_part(p_source, ':', 1));
            IF allowed IS NULL OR NOT (allowed ? c.lead_type) THEN
                RETURN 0;
            END IF;
        END IF;
        IF cat.contact_form_types IS NOT NULL
           AND coalesce(NOT (dms.contact_form_type(p_contact_form_id) = ANY (cat.contact_form_types)), true) THEN
            RETURN 0;
        END IF;

        -- One recording transaction per lead at a time, until it commits: an earlier event of the lead
        -- still uncommitted elsewhere holds this one back, so the lead's events commit (and become
        -- claimable) in outbox order. Held until commit, re-entrant within the transaction (the capture
        -- triggers usually hold it already: see gmcrm.lock_lead_of_contact). A statement touching many
        -- leads takes them in its rows' order; distribution goes in contact id order.
        PERFORM pg_advisory_xact_lock(gmcrm.lead_lock_key(c.lead_id));

        -- Read after the lock (each statement here takes a new snapshot under READ COMMITTED, the DMS's
        -- isolation): a close or a deletion committed by the transaction we waited for is seen.
        SELECT ct.gm_deleted_at INTO deleted_at FROM dms.contact ct WHERE ct.id = p_contact_id;
        IF deleted_at IS NOT NULL THEN
            why_code := 'LEAD_DELETED_AT_GM';
            why := gmcrm.lead_deleted_reason(deleted_at);
        ELSE
            SELECT o.id, o.trigger_code INTO closer_id, closer_code
            FROM gmcrm.trigger_outbox o
            WHERE o.lead_id = c.lead_id AND o.trigger_code IN ('VPE', 'NFF')
            ORDER BY o.id
            LIMIT 1;
            IF closer_id IS NOT NULL THEN
                why_code := 'AFTER_CLOSE';
                why := format('after the close, not sent: the lead was closed in the DMS by %s (outbox event %s)',
                              closer_code, closer_id);
            END IF;
        END IF;

        FOR s IN 1 .. cat.step_count LOOP
            IF why_code IS NOT NULL THEN
                INSERT INTO gmcrm.activity_not_sent (
                    dealer_code, lead_id, contact_id, trigger_code, step, source_table, source_id,
                    reason_code, reason, closed_by_outbox_id)
                VALUES (
                    c.dealer_code, c.lead_id, p_contact_id, p_code, s, p_source_table, p_source_id,
                    why_code, why, closer_id);
                CONTINUE;
            END IF;
            INSERT INTO gmcrm.trigger_outbox (
                dealer_code, lead_id, contact_id, trigger_code, step, occurred_at,
                contact_form_id, reason_id, vehicle_model_id, vehicle_model_year, trade_in, user_id,
                source_table, source_id)
            VALUES (
                c.dealer_code, c.lead_id, p_contact_id, p_code, s, clock_timestamp(),
                p_contact_form_id, p_reason_id, p_vehicle_model_id, p_vehicle_model_year, p_trade_in,
                p_user_id, p_source_table, p_source_id)
            -- LIM is unique per lead (0001): a re-import records it once.
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS one = ROW_COUNT;
            written := written + one;
        END LOOP;
        RETURN written;
    END
    $$;

-- ---------------------------------------------------------------------------------------------
-- Rows already waiting when this is applied.

-- Leads already known deleted at GM.
UPDATE gmcrm.trigger_outbox o
SET status = 'CANCELLED', cancelled_reason = gmcrm.lead_deleted_reason(c.gm_deleted_at), next_attempt_at = NULL,
    claimed_by = NULL, claimed_until = NULL
FROM dms.contact c
WHERE c.lead_id = o.lead_id AND c.gm_deleted_at IS NOT NULL
  AND o.status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED');

-- Events recorded after their lead's close, not sent yet: they are not sent now either.
UPDATE gmcrm.trigger_outbox o
SET status = 'CANCELLED',
    cancelled_reason = format('after the close, not sent: the lead was closed in the DMS by %s (outbox event %s)',
                              f.trigger_code, f.id),
    next_attempt_at = NULL, claimed_by = NULL, claimed_until = NULL
FROM (SELECT DISTINCT ON (lead_id) lead_id, id, trigger_code
      FROM gmcrm.trigger_outbox WHERE trigger_code IN ('VPE', 'NFF') ORDER BY lead_id, id) f
WHERE o.lead_id = f.lead_id AND o.id > f.id AND o.status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED');
