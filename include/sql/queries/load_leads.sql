-- The set-based load of one dealership's transformed leads, staged in the temp table tmp_lead.
-- Runs as one transaction with the rest of that dealership's load (gmcrm.leads.load).

-- name: update_known
-- A re-read lead changes only the GM columns and the interest details, never what the
-- dealership did (assignment, status, activity).
WITH upd AS (
    UPDATE dms.contact c
    SET gm_stage = t.gm_stage,
        gm_substage = t.gm_substage,
        gm_modstamp = t.gm_modstamp,
        interest_model = t.interest_model,
        interest_model_year = t.interest_model_year,
        interest_version = t.interest_version,
        lead_comments = t.lead_comments,
        lead_source = t.lead_source
    FROM tmp_lead t
    WHERE c.lead_id = t.lead_id
      AND c.gm_modstamp IS DISTINCT FROM t.gm_modstamp
    RETURNING c.id
)
SELECT count(*) FROM upd;

-- name: mark_new
UPDATE tmp_lead t SET is_new = NOT EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = t.lead_id);

-- name: match_by_document
UPDATE tmp_lead t SET customer_id = m.id, matched_by = 'document'
FROM (
    SELECT DISTINCT ON (document_key) document_key, id
    FROM dms.customer WHERE dealer_code = %(dealer_code)s AND document_key IS NOT NULL
    ORDER BY document_key, id
) m
WHERE t.is_new AND t.is_open AND t.customer_id IS NULL AND t.document = m.document_key;

-- name: match_by_email
UPDATE tmp_lead t SET customer_id = m.id, matched_by = 'email'
FROM (
    SELECT DISTINCT ON (email_key) email_key, id
    FROM dms.customer WHERE dealer_code = %(dealer_code)s AND email_key IS NOT NULL
    ORDER BY email_key, id
) m
WHERE t.is_new AND t.is_open AND t.customer_id IS NULL AND t.email_key = m.email_key;

-- name: match_by_phone
UPDATE tmp_lead t SET customer_id = m.id, matched_by = 'phone'
FROM (
    SELECT DISTINCT ON (k) k, id FROM (
        SELECT phone_key AS k, id FROM dms.customer
        WHERE dealer_code = %(dealer_code)s AND phone_key IS NOT NULL
        UNION ALL
        SELECT mobile_phone_key, id FROM dms.customer
        WHERE dealer_code = %(dealer_code)s AND mobile_phone_key IS NOT NULL
    ) keys
    ORDER BY k, id
) m
WHERE t.is_new AND t.is_open AND t.customer_id IS NULL
  AND (t.mobile_phone_key = m.k OR t.phone_key = m.k);

-- name: create_customers
-- Leads of one person in the same batch share one new customer: grouped by their strongest key.
WITH unmatched AS (
    SELECT t.*, coalesce('D' || t.document, 'E' || t.email_key, 'M' || t.mobile_phone_key,
                         'P' || t.phone_key, 'L' || t.lead_id) AS match_key
    FROM tmp_lead t
    WHERE t.is_new AND t.is_open AND t.customer_id IS NULL
),
firsts AS (
    SELECT DISTINCT ON (match_key) * FROM unmatched ORDER BY match_key, gm_created_at, lead_id
),
ins AS (
    INSERT INTO dms.customer (dealer_code, name, person_type, document, email, phone, mobile_phone,
                              created_from_lead_id)
    SELECT dealer_code, customer_name, person_type, document, email, phone, mobile_phone, lead_id
    FROM firsts
    ON CONFLICT (created_from_lead_id) WHERE created_from_lead_id IS NOT NULL DO NOTHING
    RETURNING id, created_from_lead_id
),
created AS (
    SELECT ins.id, f.match_key FROM ins JOIN firsts f ON f.lead_id = ins.created_from_lead_id
)
UPDATE tmp_lead t SET customer_id = created.id, matched_by = 'created'
FROM unmatched u JOIN created ON created.match_key = u.match_key
WHERE t.lead_id = u.lead_id;

-- name: insert_contacts
WITH ins AS (
    INSERT INTO dms.contact (dealer_code, customer_id, lead_id, lead_type, department_id, contact_type,
                             contact_subtype, description, traffic_origin, status, assigned_user_id,
                             distribution_owner_user_id, interest_model, interest_model_year,
                             interest_version, lead_source, lead_comments, gm_stage, gm_substage,
                             gm_modstamp, gm_created_at)
    SELECT dealer_code, customer_id, lead_id, lead_type, department_id, contact_type, contact_subtype,
           description, traffic_origin, status, assigned_user_id, distribution_owner_user_id,
           interest_model, interest_model_year, interest_version, lead_source, lead_comments,
           gm_stage, gm_substage, gm_modstamp, gm_created_at
    FROM tmp_lead
    WHERE is_new AND is_open AND customer_id IS NOT NULL
    ORDER BY gm_created_at, lead_id
    ON CONFLICT (lead_id) DO NOTHING
    RETURNING id, lead_id
)
UPDATE tmp_lead t SET contact_id = ins.id FROM ins WHERE t.lead_id = ins.lead_id;

-- name: record_lim
-- LIM for every new contact, then LAT for those that landed in a salesperson's queue (DIRECT):
-- inserted in that order, so outbox ids keep them in order per lead.
INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, source_table, source_id)
SELECT dealer_code, lead_id, contact_id, 'LIM', 'dms.contact', contact_id
FROM tmp_lead WHERE contact_id IS NOT NULL
ORDER BY gm_created_at, lead_id
ON CONFLICT (lead_id) WHERE trigger_code = 'LIM' DO NOTHING;

-- name: record_lat
INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, user_id, source_table, source_id)
SELECT dealer_code, lead_id, contact_id, 'LAT', assigned_user_id, 'dms.contact', contact_id
FROM tmp_lead WHERE contact_id IS NOT NULL AND status = 'IN_QUEUE'
ORDER BY gm_created_at, lead_id;

-- name: open_parts_counter_services
-- A parts contact in a salesperson's queue gets a counter service in that salesperson's name
-- and an internal mail telling them.
WITH opened AS (
    INSERT INTO dms.parts_counter_service (dealer_code, contact_id, customer_id, salesperson_user_id)
    SELECT dealer_code, contact_id, customer_id, assigned_user_id
    FROM tmp_lead
    WHERE contact_id IS NOT NULL AND status = 'IN_QUEUE' AND lead_type = 'PARTS'
    ON CONFLICT (contact_id) DO NOTHING
    RETURNING id, contact_id, salesperson_user_id, dealer_code
)
INSERT INTO dms.internal_mail (dealer_code, to_user_id, contact_id, subject, body)
SELECT o.dealer_code, o.salesperson_user_id, o.contact_id,
       'Novo Lead GM de Peças: atendimento balcão nº ' || o.id,
       'Um Lead GM de Peças foi encaminhado para você. Cliente: ' || cu.name ||
       '. Atendimento balcão nº ' || o.id || ' aberto em seu nome (Lead ID ' || c.lead_id || ').'
FROM opened o
JOIN dms.contact c ON c.id = o.contact_id
JOIN dms.customer cu ON cu.id = c.customer_id;

-- name: mark_deleted
WITH upd AS (
    UPDATE dms.contact c SET gm_deleted_at = now(), gm_modstamp = d.gm_modstamp
    FROM tmp_deleted d
    WHERE c.lead_id = d.lead_id AND c.gm_deleted_at IS NULL
    RETURNING c.id
)
SELECT count(*) FROM upd;

-- name: resolve_quarantine
UPDATE gmcrm.lead_quarantine q SET resolved_at = now()
FROM tmp_lead t
WHERE q.lead_id = t.lead_id AND q.resolved_at IS NULL
  AND EXISTS (SELECT 1 FROM dms.contact c WHERE c.lead_id = t.lead_id);

-- name: advance_watermark
INSERT INTO gmcrm.import_watermark (dealer_code, gm_modstamp)
SELECT dealer_code, watermark_candidate FROM gmcrm.import_batch
WHERE run_id = %(run_id)s AND dealer_code = %(dealer_code)s AND watermark_candidate IS NOT NULL
ON CONFLICT (dealer_code) DO UPDATE
SET gm_modstamp = greatest(gmcrm.import_watermark.gm_modstamp, EXCLUDED.gm_modstamp), updated_at = now();

-- name: touch_dealership
UPDATE gmcrm.dealership SET last_integration_at = now() WHERE dealer_code = %(dealer_code)s;

-- name: clear_staging
DELETE FROM gmcrm.lead_staging WHERE run_id = %(run_id)s AND dealer_code = %(dealer_code)s;
