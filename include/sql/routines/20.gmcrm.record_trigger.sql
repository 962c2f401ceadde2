-- Records trigger p_code for a contact, once per step of the catalogue row, when the contact came
-- from a live GM lead and the catalogue says the trigger applies to its lead type from that source.
-- Returns the number of outbox rows written (0 when nothing applies). Usable by any DMS screen or
-- import code (LIM, LAT): it is the single place that decides.
-- p_source is a source key of the catalogue's `sources` ('contact_action', 'proposal',
-- 'invoice:VEHICLE', ...); a key 'table:qualifier' also matches an entry for 'table'.
-- It takes the lead's lock first (gmcrm.lead_lock_key: a lead's events commit in outbox order), and
-- after the close or for a lead deleted at GM it writes no outbox row but a gmcrm.activity_not_sent
-- row (0010's notes).
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
                           'gmcrm.catalogue.sync_catalogue(conn) (run after every schema upgrade).';
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
