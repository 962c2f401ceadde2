-- Load some dealerships' transformed leads in one transaction: match or create customers,
-- upsert contacts (a re-read lead changes only the GM columns), LIM/LAT, parts counter services and
-- internal mail, deleted leads, quarantine, watermark and last_integration_at, and a gmcrm.import_log
-- row per dealership. Idempotent. One row per dealership: what its load did.
-- Reads the session's pg_temp.gmcrm_lead_rows / gmcrm_quarantine_rows / gmcrm_deleted_rows (tables
-- OF the row types of migration 0003) and gmcrm_shared_key_rows, made by gmcrm.leads.load, filtered
-- by dealership.
-- Every rule is per dealership (matching looks only at the lead's own dealership's customers), so a
-- group loads exactly as its dealerships one at a time: gmcrm.load_dealer is this function with one.
-- Its history, with measurements, is in the headers of migrations 0005 (speed: plans that do not
-- depend on guesses, no speculative insertion, one round trip per dealership), 0009 (the leads of
-- one load matched exactly as one at a time in CreatedDate order), 0015 ("updated" counts only a
-- change of a GM field the DMS keeps). Several dealerships in one call (issue 11): the start of its
-- statements, ~0.6 ms of CPU however few the leads (plans, relations and indexes opened, generated
-- columns' expressions prepared), was paid per dealership, about 6 us per lead at 100 leads each. The
-- load tasks pass about 1,000 rows' worth (GMCRM_LOAD_ROWS_PER_TRANSACTION): past a few thousand a
-- statement's rows cost more each (gmcrm.settings).
--
CREATE OR REPLACE FUNCTION gmcrm.load_dealers(p_run_id text, p_dealers text[])
RETURNS TABLE (
    dealer_code text, leads_read integer, contacts_created integer, contacts_updated integer,
    customers_created integer, customers_matched integer, quarantined integer, deleted integer,
    skipped_closed integer, events_recorded integer, api_calls integer, api_remaining integer
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    -- The group, each once, in code order (the order its locks are taken in).
    v_dealers text[];
    -- The contacts of the leads read again, and those leads (the rest are new).
    v_known bigint[]; v_known_leads text[];
    -- Per dealership: {"BR0001": n}; the new leads' counts {"BR0001": [created, customers made,
    -- customers matched, events]}.
    v_updated jsonb; v_deleted jsonb; v_new jsonb;
    -- Entangled leads matched one at a time: lead, its customer; the customers they made, by dealership.
    v_lead record; v_customer bigint;
    v_loop_leads text[] := '{}'; v_loop_customers bigint[] := '{}'; v_made bigint[] := '{}';
    v_made_by text[] := '{}';
BEGIN
    -- A commit need not wait for its WAL flush: a crash can only lose the last loads, watermark
    -- included, and the next run loads them again (loading is idempotent). Nothing is lost.
    PERFORM set_config('synchronous_commit', 'off', true);
    -- The rows are sorted, hashed and kept between the steps of one statement: in memory, not spilled
    -- to disk past the default 4 MB (2,000 leads take ~5 MB; one dealership's first import can
    -- bring 10,000).
    PERFORM set_config('work_mem', '64MB', true);

    -- One load of a dealership at a time (an overlapping manual run waits, then sees what this one
    -- made); other dealerships are not held up. Taken in code order: two groups that share
    -- dealerships cannot deadlock.
    SELECT array_agg(DISTINCT d ORDER BY d) INTO v_dealers FROM unnest(p_dealers) AS u(d);
    PERFORM pg_advisory_xact_lock(hashtextextended('gmcrm.load_dealer:' || u.d, 0))
    FROM unnest(v_dealers) AS u(d);

    -- Re-read leads: only the GM columns and the interest details.
    SELECT array_agg(k.id), array_agg(l.lead_id) INTO v_known, v_known_leads
    FROM pg_temp.gmcrm_lead_rows l
    JOIN LATERAL (SELECT c.id FROM dms.contact c WHERE c.lead_id = l.lead_id LIMIT 1) k ON true
    WHERE l.dealer_code = ANY (v_dealers);
    IF v_known IS NOT NULL THEN
        -- Updated: a contact whose kept GM fields changed. Compared by content, not by stamp: two changes
        -- at GM within one second share a SystemModstamp.
        WITH changed AS (
            UPDATE dms.contact c
            SET gm_stage = l.gm_stage, gm_substage = l.gm_substage, gm_modstamp = l.gm_modstamp,
                interest_model = l.interest_model, interest_model_year = l.interest_model_year,
                interest_version = l.interest_version, lead_comments = l.lead_comments,
                lead_source = l.lead_source
            FROM pg_temp.gmcrm_lead_rows l
            WHERE c.id = ANY (v_known) AND l.dealer_code = ANY (v_dealers) AND c.lead_id = l.lead_id
              AND (c.gm_stage, c.gm_substage, c.interest_model, c.interest_model_year, c.interest_version,
                   c.lead_comments, c.lead_source)
                  IS DISTINCT FROM (l.gm_stage, l.gm_substage, l.interest_model, l.interest_model_year,
                                    l.interest_version, l.lead_comments, l.lead_source)
            RETURNING l.dealer_code
        )
        SELECT jsonb_object_agg(n.dealer_code, n.n) INTO v_updated
        FROM (SELECT ch.dealer_code, count(*) AS n FROM changed ch GROUP BY ch.dealer_code) n;
        -- A new SystemModstamp alone (GM touched the lead for something the DMS does not keep, or applied
        -- an event of ours that set the stage it had) is kept, and is not a change: not counted.
        UPDATE dms.contact c SET gm_modstamp = l.gm_modstamp
        FROM pg_temp.gmcrm_lead_rows l
        WHERE c.id = ANY (v_known) AND l.dealer_code = ANY (v_dealers) AND c.lead_id = l.lead_id
          AND c.gm_modstamp IS DISTINCT FROM l.gm_modstamp;
    END IF;

    -- Deleted at GM: marked, and nothing more is sent for them.
    WITH marked AS (
        UPDATE dms.contact c SET gm_deleted_at = now(), gm_modstamp = l.gm_modstamp
        FROM pg_temp.gmcrm_deleted_rows l
        WHERE l.dealer_code = ANY (v_dealers) AND c.lead_id = l.lead_id AND c.dealer_code = l.dealer_code
          AND c.gm_deleted_at IS NULL
        RETURNING l.dealer_code
    )
    SELECT jsonb_object_agg(n.dealer_code, n.n) INTO v_deleted
    FROM (SELECT m.dealer_code, count(*) AS n FROM marked m GROUP BY m.dealer_code) n;

    -- New leads that share a key with another lead of the same dealership in this load, one at a time
    -- in CreatedDate order, each seeing the customers the earlier ones made (see the header). Which
    -- leads share a key is worked out with the transform (gmcrm.leads.transform.shared, in
    -- pg_temp.gmcrm_shared_key_rows), so that the contacts are looked up for those few only.
    FOR v_lead IN
        SELECT l.* FROM pg_temp.gmcrm_lead_rows l
        JOIN pg_temp.gmcrm_shared_key_rows s ON s.lead_id = l.lead_id AND s.dealer_code = l.dealer_code
        WHERE l.dealer_code = ANY (v_dealers) AND l.is_open
          AND NOT EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = l.lead_id)
        ORDER BY l.gm_created_at, l.lead_id
    LOOP
        v_customer := gmcrm.match_customer(v_lead.dealer_code, v_lead.lead_id, v_lead.document,
                                           v_lead.email_key, v_lead.mobile_phone_key, v_lead.phone_key);
        IF v_customer IS NULL THEN
            INSERT INTO dms.customer (dealer_code, name, person_type, document, email, phone, mobile_phone,
                                      created_from_lead_id)
            VALUES (v_lead.dealer_code, v_lead.customer_name, v_lead.person_type, v_lead.document,
                    v_lead.email, v_lead.phone, v_lead.mobile_phone, v_lead.lead_id)
            RETURNING id INTO v_customer;
            v_made := v_made || v_customer;
            v_made_by := v_made_by || v_lead.dealer_code;
        END IF;
        v_loop_leads := v_loop_leads || v_lead.lead_id;
        v_loop_customers := v_loop_customers || v_customer;
    END LOOP;

    -- The other new leads in one statement: match the dealership's base (a customer this lead made
    -- before, then document, e-mail, phone; the lowest id wins); create a basic customer for each of
    -- the rest; insert the contacts of all new leads; record LIM then LAT per contact in that order;
    -- open the parts counter service and send the internal mail.
    WITH src AS (
        -- New: no contact had the lead when the statement above looked (nothing since made one: the
        -- dealerships' locks are held), so the contacts are not looked up a second time per lead.
        SELECT l.*,
               k.lead_id IS NULL AS is_new  -- a column, not a filter: see the header of 0005
        FROM pg_temp.gmcrm_lead_rows l
        LEFT JOIN (SELECT DISTINCT u.lead_id FROM unnest(v_known_leads) AS u(lead_id)) k ON k.lead_id = l.lead_id
        WHERE l.dealer_code = ANY (v_dealers)
    ), looped AS (
        SELECT u.lead_id, u.customer_id, u.customer_id = ANY (v_made) AS made
        FROM unnest(v_loop_leads, v_loop_customers) AS u(lead_id, customer_id)
    ), matched AS MATERIALIZED (
        SELECT s.*, lp.customer_id AS looped_id, CASE
            WHEN lp.lead_id IS NOT NULL THEN CASE WHEN NOT lp.made THEN lp.customer_id END
            -- gmcrm.match_customer's rules written out: an SQL function with sub-selects is not
            -- inlined, and calling it per lead cost about 30-60 us of CPU per lead (issue 11); the
            -- property test (set-based == one at a time, which calls the function) keeps them equal.
            ELSE coalesce(
                (SELECT c.id FROM dms.customer c WHERE c.created_from_lead_id = s.lead_id),
                (SELECT min(c.id) FROM dms.customer c
                 WHERE c.dealer_code = s.dealer_code AND s.document IS NOT NULL AND c.document_key = s.document),
                (SELECT min(c.id) FROM dms.customer c
                 WHERE c.dealer_code = s.dealer_code AND s.email_key IS NOT NULL AND c.email_key = s.email_key),
                CASE WHEN s.mobile_phone_key IS NOT NULL THEN least(
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = s.dealer_code AND c.mobile_phone_key = s.mobile_phone_key),
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = s.dealer_code AND c.phone_key = s.mobile_phone_key)) END,
                CASE WHEN s.phone_key IS DISTINCT FROM s.mobile_phone_key AND s.phone_key IS NOT NULL THEN least(
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = s.dealer_code AND c.phone_key = s.phone_key),
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = s.dealer_code AND c.mobile_phone_key = s.phone_key)) END)
            END AS matched_id  -- a customer that existed before this load
        FROM src s LEFT JOIN looped lp ON lp.lead_id = s.lead_id
        WHERE s.is_open AND s.is_new
    ), ins_customer AS (
        INSERT INTO dms.customer (dealer_code, name, person_type, document, email, phone, mobile_phone,
                                  created_from_lead_id)
        SELECT m.dealer_code, m.customer_name, m.person_type, m.document, m.email, m.phone, m.mobile_phone,
               m.lead_id
        FROM matched m WHERE m.matched_id IS NULL AND m.looped_id IS NULL
        RETURNING id, created_from_lead_id
    ), resolved AS (
        SELECT m.*, coalesce(m.matched_id, m.looped_id, ic.id) AS customer_ref, ic.id IS NOT NULL AS made
        FROM matched m LEFT JOIN ins_customer ic ON ic.created_from_lead_id = m.lead_id
    ), ins_contact AS (
        INSERT INTO dms.contact (dealer_code, customer_id, lead_id, lead_type, department_id, contact_type,
                                 contact_subtype, description, traffic_origin, status, assigned_user_id,
                                 distribution_owner_user_id, interest_model, interest_model_year,
                                 interest_version, lead_source, lead_comments, gm_stage, gm_substage,
                                 gm_modstamp, gm_created_at)
        SELECT r.dealer_code, r.customer_ref, r.lead_id, r.lead_type, r.department_id, r.contact_type,
               r.contact_subtype, r.description, r.traffic_origin, r.status, r.assigned_user_id,
               r.distribution_owner_user_id, r.interest_model, r.interest_model_year, r.interest_version,
               r.lead_source, r.lead_comments, r.gm_stage, r.gm_substage, r.gm_modstamp, r.gm_created_at
        FROM resolved r
        ORDER BY r.dealer_code, r.gm_created_at, r.lead_id
        RETURNING id, lead_id, dealer_code, customer_id, lead_type, status, assigned_user_id, gm_created_at
    ), ins_events AS (
        INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, user_id, source_table,
                                          source_id)
        SELECT c.dealer_code, c.lead_id, c.id, v.code, CASE WHEN v.code = 'LAT' THEN c.assigned_user_id END,
               'dms.contact', c.id
        FROM ins_contact c
        CROSS JOIN (VALUES ('LIM', 1), ('LAT', 2)) AS v(code, ord)
        WHERE v.code = 'LIM' OR c.status = 'IN_QUEUE'
        ORDER BY c.dealer_code, c.gm_created_at, c.lead_id, v.ord
        RETURNING dealer_code
    ), opened AS (
        INSERT INTO dms.parts_counter_service (dealer_code, contact_id, customer_id, salesperson_user_id)
        SELECT c.dealer_code, c.id, c.customer_id, c.assigned_user_id
        FROM ins_contact c WHERE c.status = 'IN_QUEUE' AND c.lead_type = 'PARTS'
        RETURNING id, contact_id, salesperson_user_id, dealer_code, customer_id
    ), mailed AS (
        INSERT INTO dms.internal_mail (dealer_code, to_user_id, contact_id, subject, body)
        SELECT o.dealer_code, o.salesperson_user_id, o.contact_id,
               'Novo Lead GM de Peças: atendimento balcão nº ' || o.id,
               'Um Lead GM de Peças foi encaminhado para você. Cliente: ' || r.customer_name
               || '. Atendimento balcão nº ' || o.id || ' aberto em seu nome (Lead ID ' || c.lead_id || ').'
        FROM opened o
        JOIN ins_contact c ON c.id = o.contact_id
        JOIN resolved r ON r.lead_id = c.lead_id
        RETURNING 1
    ), counted AS (
        -- What happened to each dealership's new leads (the mails run to completion unread: a
        -- data-modifying WITH always does).
        -- (src is read once, by matched, so it is not kept: the closed leads are counted at the end).
        SELECT r.dealer_code, count(*) AS created, count(*) FILTER (WHERE r.made) AS made,
               count(*) FILTER (WHERE r.matched_id IS NOT NULL) AS matched, 0 AS events
        FROM resolved r GROUP BY r.dealer_code
        UNION ALL
        SELECT e.dealer_code, 0, 0, 0, count(*) FROM ins_events e GROUP BY e.dealer_code
    )
    SELECT jsonb_object_agg(t.dealer_code, jsonb_build_array(t.created, t.made, t.matched, t.events))
    INTO v_new
    FROM (SELECT c.dealer_code, sum(c.created) AS created, sum(c.made) AS made, sum(c.matched) AS matched,
                 sum(c.events) AS events
          FROM counted c GROUP BY c.dealer_code) t;

    -- Quarantine: leads that cannot become contacts, with a reason; loaded ones leave it.
    UPDATE gmcrm.lead_quarantine q SET resolved_at = now()
    FROM pg_temp.gmcrm_lead_rows l
    WHERE l.dealer_code = ANY (v_dealers) AND q.lead_id = l.lead_id AND q.resolved_at IS NULL
      AND EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = l.lead_id);

    INSERT INTO gmcrm.lead_quarantine (lead_id, dealer_code, reason_code, reason, raw_record, gm_modstamp)
    SELECT DISTINCT ON (q.lead_id) q.lead_id, q.dealer_code, q.reason_code, q.reason, q.raw_record, q.gm_modstamp
    FROM pg_temp.gmcrm_quarantine_rows q
    WHERE q.dealer_code = ANY (v_dealers)
      AND NOT EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = q.lead_id)
    ORDER BY q.lead_id, q.gm_modstamp DESC
    ON CONFLICT (lead_id) DO UPDATE
    SET dealer_code = EXCLUDED.dealer_code, reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason,
        raw_record = EXCLUDED.raw_record, gm_modstamp = EXCLUDED.gm_modstamp, last_seen_at = now(),
        times_seen = gmcrm.lead_quarantine.times_seen + 1, resolved_at = NULL
    WHERE gmcrm.lead_quarantine.gm_modstamp IS DISTINCT FROM EXCLUDED.gm_modstamp
       OR gmcrm.lead_quarantine.resolved_at IS NOT NULL;

    -- The watermark and Data da Última Integração move with this transaction, or not at all; so does the
    -- time up to which the read took the integration's own changes (migration 0017), when it did. The
    -- candidate is what the extract saw for the dealership (gmcrm.import_batch).
    INSERT INTO gmcrm.import_watermark (dealer_code, gm_modstamp, own_changes_checked_to)
    SELECT b.dealer_code, b.watermark_candidate, b.own_changes_checked_to
    FROM gmcrm.import_batch b
    WHERE b.run_id = p_run_id AND b.dealer_code = ANY (v_dealers) AND b.watermark_candidate IS NOT NULL
    ON CONFLICT (dealer_code) DO UPDATE
    SET gm_modstamp = greatest(gmcrm.import_watermark.gm_modstamp, EXCLUDED.gm_modstamp),
        own_changes_checked_to = greatest(gmcrm.import_watermark.own_changes_checked_to,
                                          EXCLUDED.own_changes_checked_to),
        updated_at = now();
    UPDATE gmcrm.dealership SET last_integration_at = now() WHERE dealer_code = ANY (v_dealers);

    DELETE FROM gmcrm.lead_staging WHERE run_id = p_run_id AND dealer_code = ANY (v_dealers);

    -- Each dealership's line in the import log (a run loaded again overwrites its own line), returned.
    -- LIM and LAT are both events; mails are not.
    RETURN QUERY
    WITH seen AS (
        -- Read; quarantined; closed at GM before their first import (no contact had them: never imported).
        SELECT r.dealer_code, count(*) AS n, count(*) FILTER (WHERE r.quarantined) AS quarantined,
               count(*) FILTER (WHERE r.skipped) AS skipped
        FROM (SELECT l.dealer_code, false AS quarantined, NOT l.is_open AND k.lead_id IS NULL AS skipped
              FROM pg_temp.gmcrm_lead_rows l
              LEFT JOIN (SELECT DISTINCT u.lead_id FROM unnest(v_known_leads) AS u(lead_id)) k
                     ON k.lead_id = l.lead_id
              WHERE l.dealer_code = ANY (v_dealers)
              UNION ALL
              SELECT q.dealer_code, true, false FROM pg_temp.gmcrm_quarantine_rows q
              WHERE q.dealer_code = ANY (v_dealers)
              UNION ALL
              SELECT x.dealer_code, false, false FROM pg_temp.gmcrm_deleted_rows x
              WHERE x.dealer_code = ANY (v_dealers)) r
        GROUP BY r.dealer_code
    ), made AS (
        SELECT u.d AS dealer_code, count(*) AS n FROM unnest(v_made_by) AS u(d) GROUP BY u.d
    ), line AS (
        SELECT d.d AS dealer_code, coalesce(r.n, 0)::integer AS leads_read,
               coalesce((v_new -> d.d ->> 0)::integer, 0) AS contacts_created,
               coalesce((v_updated ->> d.d)::integer, 0) AS contacts_updated,
               (coalesce((v_new -> d.d ->> 1)::integer, 0) + coalesce(m.n, 0))::integer AS customers_created,
               coalesce((v_new -> d.d ->> 2)::integer, 0) AS customers_matched,
               coalesce(r.quarantined, 0)::integer AS quarantined,
               coalesce((v_deleted ->> d.d)::integer, 0) AS deleted,
               coalesce(r.skipped, 0)::integer AS skipped_closed,
               coalesce((v_new -> d.d ->> 3)::integer, 0) AS events_recorded,
               b.api_calls, b.api_remaining
        FROM unnest(v_dealers) AS d(d)
        LEFT JOIN seen r ON r.dealer_code = d.d
        LEFT JOIN made m ON m.dealer_code = d.d
        LEFT JOIN gmcrm.import_batch b ON b.run_id = p_run_id AND b.dealer_code = d.d
    ), logged AS (
        INSERT INTO gmcrm.import_log AS g (run_id, dealer_code, started_at, leads_read, contacts_created,
                                           contacts_updated, customers_created, customers_matched, quarantined,
                                           deleted, skipped_closed, events_recorded, api_calls, api_remaining,
                                           finished_at)
        SELECT p_run_id, l.dealer_code, now(), l.leads_read, l.contacts_created, l.contacts_updated,
               l.customers_created, l.customers_matched, l.quarantined, l.deleted, l.skipped_closed,
               l.events_recorded, l.api_calls, l.api_remaining, clock_timestamp()
        FROM line l
        ON CONFLICT (run_id, dealer_code) DO UPDATE
        SET leads_read = EXCLUDED.leads_read, contacts_created = EXCLUDED.contacts_created,
            contacts_updated = EXCLUDED.contacts_updated, customers_created = EXCLUDED.customers_created,
            customers_matched = EXCLUDED.customers_matched, quarantined = EXCLUDED.quarantined,
            deleted = EXCLUDED.deleted, skipped_closed = EXCLUDED.skipped_closed,
            events_recorded = EXCLUDED.events_recorded, api_calls = EXCLUDED.api_calls,
            api_remaining = EXCLUDED.api_remaining, finished_at = clock_timestamp()
    )
    SELECT l.dealer_code, l.leads_read, l.contacts_created, l.contacts_updated, l.customers_created,
           l.customers_matched, l.quarantined, l.deleted, l.skipped_closed, l.events_recorded, l.api_calls,
           l.api_remaining
    FROM line l ORDER BY l.dealer_code;
END
$$;
