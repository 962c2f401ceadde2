-- Undo 0010.lead-end: record_trigger as 0002 defined it (no lead lock, no activity_not_sent), no
-- cancellation trigger. CANCELLED events become SKIPPED (never sent, with their reason), the nearest
-- status 0004 knows, so the old CHECK holds and nothing 0010 had stopped is sent.

-- Records trigger p_code for a contact, once per step of the catalogue row, when the contact came
-- from a live GM lead and the catalogue says the trigger applies to its lead type from that source.
-- Returns the number of outbox rows written (0 when nothing applies). Usable by any DMS screen or
-- import code (LIM, LAT): it is the single place that decides.
-- p_source is a source key of the catalogue's `sources` ('contact_action', 'proposal',
-- 'invoice:VEHICLE', ...); a key 'table:qualifier' also matches an entry for 'table'.
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
        c        record;
        cat      gmcrm.trigger_catalogue%ROWTYPE;
        allowed  jsonb;
        written  integer := 0;
        one      integer;
    BEGIN
        SELECT ct.dealer_code, ct.lead_id, ct.lead_type, ct.gm_deleted_at INTO c
        FROM dms.contact ct WHERE ct.id = p_contact_id;
        -- Contacts the dealership created itself never tell GM anything; nor do leads GM deleted.
        IF NOT FOUND OR c.lead_id IS NULL OR c.gm_deleted_at IS NOT NULL THEN
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

        FOR s IN 1 .. cat.step_count LOOP
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

CREATE OR REPLACE FUNCTION dms.mark_contact_in_progress(p_contact_id bigint) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE dms.contact SET status = 'IN_PROGRESS' WHERE id = p_contact_id AND status = 'IN_QUEUE'
    $$;

CREATE OR REPLACE FUNCTION dms.mark_contact_closed(p_contact_id bigint, p_status text) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE dms.contact SET status = p_status
    WHERE id = p_contact_id AND status IS DISTINCT FROM p_status
    $$;
DROP FUNCTION IF EXISTS gmcrm.lock_lead_of_contact(bigint);

DROP TRIGGER IF EXISTS contact_cancel_deleted_lead ON dms.contact;
DROP FUNCTION IF EXISTS dms.contact_cancel_deleted_lead();
DROP FUNCTION IF EXISTS gmcrm.cancel_lead_events(text, text);
DROP FUNCTION IF EXISTS gmcrm.lead_deleted_reason(timestamptz);
DROP FUNCTION IF EXISTS gmcrm.lead_lock_key(text);
DROP TABLE IF EXISTS gmcrm.activity_not_sent;

UPDATE gmcrm.trigger_outbox
SET status = 'SKIPPED', skipped_reason = coalesce(skipped_reason, 'cancelled: ' || cancelled_reason)
WHERE status = 'CANCELLED';
ALTER TABLE gmcrm.trigger_outbox DROP CONSTRAINT trigger_outbox_status_check;
ALTER TABLE gmcrm.trigger_outbox ADD CONSTRAINT trigger_outbox_status_check
    CHECK (status IN ('PENDING', 'SENT', 'RETRY', 'FAILED', 'BLOCKED', 'SKIPPED'));
ALTER TABLE gmcrm.trigger_outbox DROP COLUMN IF EXISTS cancelled_reason;
