-- Load one dealership's transformed leads: match or create customers, upsert contacts (a re-read
-- lead changes only the GM columns), LIM/LAT, parts counter services and internal mail, deleted
-- leads, quarantine, watermark and last_integration_at. Idempotent. The caller commits.
-- Reads the session's pg_temp.gmcrm_lead_rows / gmcrm_quarantine_rows / gmcrm_deleted_rows
-- (tables OF the row types of migration 0003, made by gmcrm.leads.load), filtered by dealership.
-- Its history, with measurements, is in the headers of migrations 0005 (speed: plans that do not
-- depend on guesses, no speculative insertion, one round trip per dealership), 0009 (the leads of
-- one load matched exactly as one at a time in CreatedDate order) and 0015 ("updated" counts only
-- a change of a GM field the DMS keeps).
--
CREATE OR REPLACE FUNCTION gmcrm.load_dealer(p_run_id text, p_dealer text)
RETURNS TABLE (
    leads_read integer, contacts_created integer, contacts_updated integer, customers_created integer,
    customers_matched integer, quarantined integer, deleted integer, skipped_closed integer,
    events_recorded integer, api_calls integer, api_remaining integer
)
LANGUAGE plpgsql
AS $$
DECLARE
    n_read integer; n_created integer; n_updated integer; n_cust_created integer;
    n_matched integer; n_quarantined integer; n_deleted integer; n_skipped integer;
    n_events integer; n_mails integer; v_known bigint[]; v_batch gmcrm.import_batch;
    -- Entangled leads matched one at a time: lead, its customer; the customers they made.
    v_lead record; v_customer bigint;
    v_loop_leads text[] := '{}'; v_loop_customers bigint[] := '{}'; v_made bigint[] := '{}';
BEGIN
    -- A commit need not wait for its WAL flush: a crash can only lose the last loads, watermark
    -- included, and the next run loads them again (loading is idempotent). Nothing is lost.
    PERFORM set_config('synchronous_commit', 'off', true);

    -- One load of a dealership at a time (an overlapping manual run waits, then sees what this one
    -- made); other dealerships are not held up.
    PERFORM pg_advisory_xact_lock(hashtextextended('gmcrm.load_dealer:' || p_dealer, 0));

    SELECT (SELECT count(*) FROM pg_temp.gmcrm_lead_rows WHERE dealer_code = p_dealer)
         + (SELECT count(*) FROM pg_temp.gmcrm_quarantine_rows WHERE dealer_code = p_dealer)
         + (SELECT count(*) FROM pg_temp.gmcrm_deleted_rows WHERE dealer_code = p_dealer)
    INTO n_read;

    -- Re-read leads: only the GM columns and the interest details.
    SELECT array_agg(k.id) INTO v_known
    FROM pg_temp.gmcrm_lead_rows l
    JOIN LATERAL (SELECT c.id FROM dms.contact c WHERE c.lead_id = l.lead_id LIMIT 1) k ON true
    WHERE l.dealer_code = p_dealer;
    n_updated := 0;
    IF v_known IS NOT NULL THEN
        -- Updated: a contact whose kept GM fields changed. Compared by content, not by stamp: two changes
        -- at GM within one second share a SystemModstamp.
        UPDATE dms.contact c
        SET gm_stage = l.gm_stage, gm_substage = l.gm_substage, gm_modstamp = l.gm_modstamp,
            interest_model = l.interest_model, interest_model_year = l.interest_model_year,
            interest_version = l.interest_version, lead_comments = l.lead_comments, lead_source = l.lead_source
        FROM pg_temp.gmcrm_lead_rows l
        WHERE c.id = ANY (v_known) AND l.dealer_code = p_dealer AND c.lead_id = l.lead_id
          AND (c.gm_stage, c.gm_substage, c.interest_model, c.interest_model_year, c.interest_version,
               c.lead_comments, c.lead_source)
              IS DISTINCT FROM (l.gm_stage, l.gm_substage, l.interest_model, l.interest_model_year,
                                l.interest_version, l.lead_comments, l.lead_source);
        GET DIAGNOSTICS n_updated = ROW_COUNT;
        -- A new SystemModstamp alone (GM touched the lead for something the DMS does not keep, or applied
        -- an event of ours that set the stage it had) is kept, and is not a change: not counted.
        UPDATE dms.contact c SET gm_modstamp = l.gm_modstamp
        FROM pg_temp.gmcrm_lead_rows l
        WHERE c.id = ANY (v_known) AND l.dealer_code = p_dealer AND c.lead_id = l.lead_id
          AND c.gm_modstamp IS DISTINCT FROM l.gm_modstamp;
    END IF;

    -- Deleted at GM: marked, and nothing more is sent for them.
    UPDATE dms.contact c SET gm_deleted_at = now(), gm_modstamp = l.gm_modstamp
    FROM pg_temp.gmcrm_deleted_rows l
    WHERE l.dealer_code = p_dealer AND c.lead_id = l.lead_id AND c.dealer_code = p_dealer
      AND c.gm_deleted_at IS NULL;
    GET DIAGNOSTICS n_deleted = ROW_COUNT;

    -- New leads that share a key with another new lead of this load, one at a time in CreatedDate
    -- order, each seeing the customers the earlier ones made (see the header). Keys are compared over
    -- the open leads, new or re-read (taking a few more leads this way than needed is only slower,
    -- never wrong), so that the contacts are looked up for the few candidates only.
    FOR v_lead IN
        WITH token AS (
            -- A lead's keys, each once (its mobile and phone may be one number).
            SELECT l.lead_id, t.token
            FROM pg_temp.gmcrm_lead_rows l
            CROSS JOIN LATERAL (VALUES ('D' || l.document), ('E' || l.email_key), ('P' || l.phone_key),
                                       ('P' || nullif(l.mobile_phone_key, l.phone_key))) AS t(token)
            WHERE l.dealer_code = p_dealer AND l.is_open AND t.token IS NOT NULL
        ), shared AS (
            SELECT t.token FROM token t GROUP BY t.token HAVING count(*) > 1
        )
        SELECT l.* FROM pg_temp.gmcrm_lead_rows l
        WHERE l.dealer_code = p_dealer AND l.is_open
          AND l.lead_id IN (SELECT t.lead_id FROM token t JOIN shared s ON s.token = t.token)
          AND NOT EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = l.lead_id)
        ORDER BY l.gm_created_at, l.lead_id
    LOOP
        v_customer := gmcrm.match_customer(p_dealer, v_lead.lead_id, v_lead.document, v_lead.email_key,
                                           v_lead.mobile_phone_key, v_lead.phone_key);
        IF v_customer IS NULL THEN
            INSERT INTO dms.customer (dealer_code, name, person_type, document, email, phone, mobile_phone,
                                      created_from_lead_id)
            VALUES (p_dealer, v_lead.customer_name, v_lead.person_type, v_lead.document, v_lead.email,
                    v_lead.phone, v_lead.mobile_phone, v_lead.lead_id)
            RETURNING id INTO v_customer;
            v_made := v_made || v_customer;
        END IF;
        v_loop_leads := v_loop_leads || v_lead.lead_id;
        v_loop_customers := v_loop_customers || v_customer;
    END LOOP;

    -- The other new leads in one statement: match the dealership's base (a customer this lead made
    -- before, then document, e-mail, phone; the lowest id wins); create a basic customer for each of
    -- the rest; insert the contacts of all new leads; record LIM then LAT per contact in that order;
    -- open the parts counter service and send the internal mail.
    WITH src AS (
        SELECT l.*,
               k.known IS NULL AS is_new  -- a column, not a filter: see the header of 0005
        FROM pg_temp.gmcrm_lead_rows l
        LEFT JOIN LATERAL (SELECT 1 AS known FROM dms.contact c WHERE c.lead_id = l.lead_id LIMIT 1) k ON true
        WHERE l.dealer_code = p_dealer
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
                 WHERE c.dealer_code = p_dealer AND s.document IS NOT NULL AND c.document_key = s.document),
                (SELECT min(c.id) FROM dms.customer c
                 WHERE c.dealer_code = p_dealer AND s.email_key IS NOT NULL AND c.email_key = s.email_key),
                CASE WHEN s.mobile_phone_key IS NOT NULL THEN least(
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = p_dealer AND c.mobile_phone_key = s.mobile_phone_key),
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = p_dealer AND c.phone_key = s.mobile_phone_key)) END,
                CASE WHEN s.phone_key IS DISTINCT FROM s.mobile_phone_key AND s.phone_key IS NOT NULL THEN least(
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = p_dealer AND c.phone_key = s.phone_key),
                    (SELECT min(c.id) FROM dms.customer c
                     WHERE c.dealer_code = p_dealer AND c.mobile_phone_key = s.phone_key)) END)
            END AS matched_id  -- a customer that existed before this load
        FROM src s LEFT JOIN looped lp ON lp.lead_id = s.lead_id
        WHERE s.is_open AND s.is_new
    ), ins_customer AS (
        INSERT INTO dms.customer (dealer_code, name, person_type, document, email, phone, mobile_phone,
                                  created_from_lead_id)
        SELECT p_dealer, customer_name, person_type, document, email, phone, mobile_phone, lead_id
        FROM matched WHERE matched_id IS NULL AND looped_id IS NULL
        RETURNING id, created_from_lead_id
    ), resolved AS (
        SELECT m.*, coalesce(m.matched_id, m.looped_id, ic.id) AS customer_ref
        FROM matched m LEFT JOIN ins_customer ic ON ic.created_from_lead_id = m.lead_id
    ), ins_contact AS (
        INSERT INTO dms.contact (dealer_code, customer_id, lead_id, lead_type, department_id, contact_type,
                                 contact_subtype, description, traffic_origin, status, assigned_user_id,
                                 distribution_owner_user_id, interest_model, interest_model_year,
                                 interest_version, lead_source, lead_comments, gm_stage, gm_substage,
                                 gm_modstamp, gm_created_at)
        SELECT dealer_code, customer_ref, lead_id, lead_type, department_id, contact_type, contact_subtype,
               description, traffic_origin, status, assigned_user_id, distribution_owner_user_id,
               interest_model, interest_model_year, interest_version, lead_source, lead_comments,
               gm_stage, gm_substage, gm_modstamp, gm_created_at
        FROM resolved
        ORDER BY gm_created_at, lead_id
        RETURNING id, lead_id, dealer_code, customer_id, lead_type, status, assigned_user_id, gm_created_at
    ), ins_events AS (
        INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, user_id, source_table,
                                          source_id)
        SELECT c.dealer_code, c.lead_id, c.id, v.code, CASE WHEN v.code = 'LAT' THEN c.assigned_user_id END,
               'dms.contact', c.id
        FROM ins_contact c
        CROSS JOIN (VALUES ('LIM', 1), ('LAT', 2)) AS v(code, ord)
        WHERE v.code = 'LIM' OR c.status = 'IN_QUEUE'
        ORDER BY c.gm_created_at, c.lead_id, v.ord
        RETURNING 1
    ), opened AS (
        INSERT INTO dms.parts_counter_service (dealer_code, contact_id, customer_id, salesperson_user_id)
        SELECT dealer_code, id, customer_id, assigned_user_id
        FROM ins_contact WHERE status = 'IN_QUEUE' AND lead_type = 'PARTS'
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
    )
    SELECT (SELECT count(*) FROM ins_contact),
           (SELECT count(*) FROM ins_customer) + cardinality(v_made),
           (SELECT count(*) FROM resolved WHERE matched_id IS NOT NULL),
           (SELECT count(*) FROM src WHERE NOT is_open AND is_new),
           (SELECT count(*) FROM ins_events),
           (SELECT count(*) FROM mailed)
    INTO n_created, n_cust_created, n_matched, n_skipped, n_events, n_mails;

    -- Quarantine: leads that cannot become contacts, with a reason; loaded ones leave it.
    UPDATE gmcrm.lead_quarantine q SET resolved_at = now()
    FROM pg_temp.gmcrm_lead_rows l
    WHERE l.dealer_code = p_dealer AND q.lead_id = l.lead_id AND q.resolved_at IS NULL
      AND EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = l.lead_id);

    INSERT INTO gmcrm.lead_quarantine (lead_id, dealer_code, reason_code, reason, raw_record, gm_modstamp)
    SELECT DISTINCT ON (q.lead_id) q.lead_id, p_dealer, q.reason_code, q.reason, q.raw_record, q.gm_modstamp
    FROM pg_temp.gmcrm_quarantine_rows q
    WHERE q.dealer_code = p_dealer AND NOT EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = q.lead_id)
    ORDER BY q.lead_id, q.gm_modstamp DESC
    ON CONFLICT (lead_id) DO UPDATE
    SET dealer_code = EXCLUDED.dealer_code, reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason,
        raw_record = EXCLUDED.raw_record, gm_modstamp = EXCLUDED.gm_modstamp, last_seen_at = now(),
        times_seen = gmcrm.lead_quarantine.times_seen + 1, resolved_at = NULL
    WHERE gmcrm.lead_quarantine.gm_modstamp IS DISTINCT FROM EXCLUDED.gm_modstamp
       OR gmcrm.lead_quarantine.resolved_at IS NOT NULL;
    SELECT count(*) INTO n_quarantined FROM pg_temp.gmcrm_quarantine_rows WHERE dealer_code = p_dealer;

    -- What the extract saw for this dealership: its watermark candidate and its GM connection's calls.
    SELECT * INTO v_batch FROM gmcrm.import_batch WHERE run_id = p_run_id AND dealer_code = p_dealer;

    -- The watermark and Data da Última Integração move with this transaction, or not at all; so does the
    -- time up to which the read took the integration's own changes (migration 0017), when it did.
    INSERT INTO gmcrm.import_watermark (dealer_code, gm_modstamp, own_changes_checked_to)
    SELECT p_dealer, v_batch.watermark_candidate, v_batch.own_changes_checked_to
    WHERE v_batch.watermark_candidate IS NOT NULL
    ON CONFLICT (dealer_code) DO UPDATE
    SET gm_modstamp = greatest(gmcrm.import_watermark.gm_modstamp, EXCLUDED.gm_modstamp),
        own_changes_checked_to = greatest(gmcrm.import_watermark.own_changes_checked_to,
                                          EXCLUDED.own_changes_checked_to),
        updated_at = now();
    UPDATE gmcrm.dealership SET last_integration_at = now() WHERE dealer_code = p_dealer;

    DELETE FROM gmcrm.lead_staging WHERE run_id = p_run_id AND dealer_code = p_dealer;

    -- The dealership's line in the import log (a run loaded again overwrites its own line).
    INSERT INTO gmcrm.import_log AS g (run_id, dealer_code, started_at, leads_read, contacts_created,
                                       contacts_updated, customers_created, customers_matched, quarantined,
                                       deleted, skipped_closed, events_recorded, api_calls, api_remaining,
                                       finished_at)
    VALUES (p_run_id, p_dealer, now(), n_read, n_created, n_updated, n_cust_created, n_matched, n_quarantined,
            n_deleted, n_skipped, n_events, v_batch.api_calls, v_batch.api_remaining, clock_timestamp())
    ON CONFLICT (run_id, dealer_code) DO UPDATE
    SET leads_read = EXCLUDED.leads_read, contacts_created = EXCLUDED.contacts_created,
        contacts_updated = EXCLUDED.contacts_updated, customers_created = EXCLUDED.customers_created,
        customers_matched = EXCLUDED.customers_matched, quarantined = EXCLUDED.quarantined,
        deleted = EXCLUDED.deleted, skipped_closed = EXCLUDED.skipped_closed,
        events_recorded = EXCLUDED.events_recorded, api_calls = EXCLUDED.api_calls,
        api_remaining = EXCLUDED.api_remaining, finished_at = clock_timestamp();

    -- LIM and LAT are both events; mails are not.
    RETURN QUERY SELECT n_read, n_created, n_updated, n_cust_created, n_matched, n_quarantined, n_deleted,
                        n_skipped, n_events, v_batch.api_calls, v_batch.api_remaining;
END
$$;
