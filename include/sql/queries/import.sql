-- The lead import (gmcrm.leads: extract, load, pipeline, heal, failures; the import's run summary).
-- Named statements (gmcrm.paths.named_queries); parameters are psycopg's (%s or %(name)s).

-- name: watermarks
SELECT dealer_code, gm_modstamp FROM gmcrm.import_watermark WHERE dealer_code = ANY(%s)

-- name: own_changes_checked
SELECT dealer_code, own_changes_checked_to FROM gmcrm.import_watermark WHERE dealer_code = ANY(%s)

-- name: quarantine_at_extract
INSERT INTO gmcrm.lead_quarantine AS q (lead_id, dealer_code, reason_code, reason, raw_record, gm_modstamp)
VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT (lead_id) DO UPDATE
SET dealer_code = EXCLUDED.dealer_code, reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason,
raw_record = EXCLUDED.raw_record, gm_modstamp = EXCLUDED.gm_modstamp, last_seen_at = now(),
times_seen = q.times_seen + 1, resolved_at = NULL
WHERE q.gm_modstamp IS DISTINCT FROM EXCLUDED.gm_modstamp OR q.resolved_at IS NOT NULL
OR q.reason_code IS DISTINCT FROM EXCLUDED.reason_code

-- name: copy_staging
COPY gmcrm.lead_staging (run_id, dealer_code, lead_id, gm_modstamp, record) FROM STDIN

-- name: dealer_codes
SELECT dealer_code FROM gmcrm.dealership

-- name: record_batch
INSERT INTO gmcrm.import_batch (run_id, dealer_code, records, watermark_candidate, api_calls,
api_remaining, api_limit, own_changes_checked_to) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (run_id, dealer_code) DO UPDATE SET
records = EXCLUDED.records, watermark_candidate = EXCLUDED.watermark_candidate,
api_calls = EXCLUDED.api_calls, api_remaining = EXCLUDED.api_remaining, api_limit = EXCLUDED.api_limit,
own_changes_checked_to = EXCLUDED.own_changes_checked_to, extracted_at = now()

-- name: show_synchronous_commit
SHOW synchronous_commit

-- name: durable_commits
SET synchronous_commit = on

-- name: clear_run_staging
DELETE FROM gmcrm.lead_staging WHERE run_id = %s

-- name: clear_run_batches
DELETE FROM gmcrm.import_batch WHERE run_id = %s

-- name: purge_staging
DELETE FROM gmcrm.lead_staging WHERE staged_at < now() - %s

-- name: purge_batches
DELETE FROM gmcrm.import_batch WHERE extracted_at < now() - %s

-- name: dealership_contexts
SELECT dealer_code, routing, traffic_origin, vehicles_user_id, parts_user_id, service_user_id,
after_sales_user_id FROM gmcrm.dealership WHERE dealer_code = ANY(%s)

-- name: contact_settings
SELECT dealer_code, lead_type, contact_type, contact_subtype, department_id FROM gmcrm.contact_setting
WHERE dealer_code = ANY(%s)

-- name: user_departments
SELECT id, department_id FROM dms.app_user WHERE id = ANY(%s)

-- name: staged_records
-- Each dealership's staged records, counted, and as one UTF-8 JSON text of comma-separated objects
-- (bytes, read in binary): a row per dealership instead of one per lead, no text decoding in Python.
SELECT dealer_code, count(*)::integer, convert_to(string_agg(record::text, ',' ORDER BY gm_modstamp), 'UTF8')
FROM gmcrm.lead_staging WHERE run_id = %s AND dealer_code = ANY(%s)
GROUP BY dealer_code ORDER BY dealer_code

-- name: column_types
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped

-- name: check_staged
-- What each dealership's extract staged, and whether this run already loaded it (the staged records
-- themselves are counted as they are read: staged_records).
SELECT d.code, b.records, g.finished_at >= b.extracted_at
FROM unnest(%s::text[]) AS d(code)
LEFT JOIN gmcrm.import_batch b ON b.run_id = %s AND b.dealer_code = d.code
LEFT JOIN gmcrm.import_log g ON g.run_id = %s AND g.dealer_code = d.code

-- name: load_dealers
SELECT * FROM gmcrm.load_dealers(%s, %s)

-- name: drop_connection_staging
DELETE FROM gmcrm.lead_staging WHERE run_id = %s AND dealer_code = ANY(%s)

-- name: heal_candidates
SELECT q.lead_id, q.dealer_code, q.reason_code, q.raw_record::text, q.gm_modstamp,
       EXISTS (SELECT 1 FROM dms.contact c
               WHERE c.lead_id = q.lead_id
                 AND (c.gm_modstamp IS NULL OR q.gm_modstamp IS NULL OR c.gm_modstamp >= q.gm_modstamp))
FROM gmcrm.lead_quarantine q
LEFT JOIN gmcrm.dealer_settings_change s ON s.dealer_code = q.dealer_code
WHERE q.dealer_code = ANY(%(codes)s) AND q.resolved_at IS NULL
  AND (q.retry_requested_at IS NOT NULL
       OR (q.reason_code = ANY(%(settings)s) AND s.changed_at > coalesce(q.settings_seen_at, q.last_seen_at)))
ORDER BY q.dealer_code, q.lead_id

-- name: heal_staged_by_gm
SELECT lead_id FROM gmcrm.lead_staging WHERE run_id = %s AND lead_id = ANY(%s)

-- name: heal_mark_staged
UPDATE gmcrm.lead_quarantine SET retry_run_id = %s, retried_at = now() WHERE lead_id = ANY(%s)

-- name: heal_mark_done
UPDATE gmcrm.lead_quarantine SET retried_at = now(), settings_seen_at = now(),
retry_requested_at = NULL, retry_run_id = NULL,
resolved_at = CASE WHEN lead_id = ANY(%(superseded)s) THEN now() ELSE resolved_at END
WHERE lead_id = ANY(%(ids)s)

-- name: settings_read_at
SELECT clock_timestamp()

-- name: heal_after_load_reasons
UPDATE gmcrm.lead_quarantine q
SET reason_code = r.reason_code, reason = r.reason, settings_seen_at = %(seen)s,
    last_seen_at = CASE WHEN q.retry_run_id = %(run)s
                          OR (q.reason_code, q.reason) IS DISTINCT FROM (r.reason_code, r.reason)
                        THEN now() ELSE q.last_seen_at END,
    times_seen = q.times_seen + CASE WHEN q.retry_run_id = %(run)s THEN 1 ELSE 0 END
FROM (SELECT DISTINCT ON (lead_id) lead_id, dealer_code, reason_code, reason, gm_modstamp
      FROM pg_temp.gmcrm_quarantine_rows WHERE dealer_code = ANY(%(codes)s)
      ORDER BY lead_id, gm_modstamp DESC NULLS LAST) r
WHERE q.lead_id = r.lead_id AND q.dealer_code = r.dealer_code AND q.resolved_at IS NULL
  AND q.gm_modstamp IS NOT DISTINCT FROM r.gm_modstamp

-- name: heal_after_load_retries
UPDATE gmcrm.lead_quarantine
SET retry_run_id = NULL, settings_seen_at = greatest(settings_seen_at, %(seen)s),
    retry_requested_at = CASE WHEN retry_requested_at <= retried_at THEN NULL ELSE retry_requested_at END
WHERE retry_run_id = %(run)s AND dealer_code = ANY(%(codes)s)

-- name: heal_after_load_answered
-- A lead asked for that GM's own record loaded meanwhile: the request is answered.
UPDATE gmcrm.lead_quarantine SET retry_requested_at = NULL
WHERE retry_requested_at IS NOT NULL AND resolved_at IS NOT NULL AND dealer_code = ANY(%(codes)s)

-- name: heal_still_quarantined
SELECT count(*) FILTER (WHERE resolved_at IS NULL) FROM gmcrm.lead_quarantine
WHERE retry_run_id = %(run)s AND dealer_code = ANY(%(codes)s)

-- name: record_failure
INSERT INTO gmcrm.import_failure (run_id, dealer_code, stage, error) VALUES (%s, %s, %s, %s)
ON CONFLICT (run_id, dealer_code) DO UPDATE SET stage = EXCLUDED.stage, error = EXCLUDED.error,
failed_at = clock_timestamp(), attempts = gmcrm.import_failure.attempts + 1

-- name: run_failures
SELECT * FROM gmcrm.import_run_failures(%s)

-- name: import_summary
SELECT count(*), coalesce(sum(leads_read), 0), coalesce(sum(contacts_created), 0),
coalesce(sum(contacts_updated), 0), coalesce(sum(quarantined), 0), coalesce(sum(events_recorded), 0),
coalesce(array_agg(dealer_code ORDER BY dealer_code) FILTER (WHERE events_recorded > 0), '{}')
FROM gmcrm.import_log WHERE run_id = %s

-- name: overdue_dealerships
-- The dealerships of %(codes)s whose last import did not load: never loaded, or failed (import_failure)
-- or staged by an earlier run than %(run_id)s (a load that never ran: the run timed out) after their
-- last load. The longest waiting first: the import puts them first in its load order.
SELECT d.code
FROM unnest(%(codes)s::text[]) AS d(code)
CROSS JOIN LATERAL (SELECT max(g.finished_at) AS loaded_at FROM gmcrm.import_log g WHERE g.dealer_code = d.code) l
CROSS JOIN LATERAL (SELECT max(f.failed_at) AS failed_at FROM gmcrm.import_failure f WHERE f.dealer_code = d.code) f
CROSS JOIN LATERAL (SELECT max(b.extracted_at) AS staged_at FROM gmcrm.import_batch b
                    WHERE b.dealer_code = d.code AND b.run_id <> %(run_id)s) b
WHERE l.loaded_at IS NULL OR f.failed_at > l.loaded_at OR b.staged_at > l.loaded_at
ORDER BY l.loaded_at NULLS FIRST, d.code

-- name: failure_streaks
SELECT f.dealer_code, count(*) FROM gmcrm.import_failure f
WHERE f.dealer_code = ANY(%s) AND f.failed_at > coalesce((SELECT max(g.finished_at) FROM gmcrm.import_log g WHERE g.dealer_code = f.dealer_code), '-infinity')
GROUP BY 1

-- name: reset_temp_tables
-- The session's temporary tables that gmcrm.load_dealer reads (rows of 0003's types), made once per
-- session and emptied for each group.
CREATE TEMP TABLE IF NOT EXISTS gmcrm_lead_rows OF gmcrm.lead_row;
CREATE INDEX IF NOT EXISTS gmcrm_lead_rows_dealer_idx ON pg_temp.gmcrm_lead_rows (dealer_code);
DELETE FROM pg_temp.gmcrm_lead_rows;
CREATE TEMP TABLE IF NOT EXISTS gmcrm_quarantine_rows OF gmcrm.quarantine_row;
CREATE INDEX IF NOT EXISTS gmcrm_quarantine_rows_dealer_idx ON pg_temp.gmcrm_quarantine_rows (dealer_code);
DELETE FROM pg_temp.gmcrm_quarantine_rows;
CREATE TEMP TABLE IF NOT EXISTS gmcrm_deleted_rows OF gmcrm.deleted_row;
CREATE INDEX IF NOT EXISTS gmcrm_deleted_rows_dealer_idx ON pg_temp.gmcrm_deleted_rows (dealer_code);
DELETE FROM pg_temp.gmcrm_deleted_rows;
-- The open leads that share a matching key with another of their dealership (gmcrm.leads.transform.shared).
CREATE TEMP TABLE IF NOT EXISTS gmcrm_shared_key_rows (lead_id text NOT NULL, dealer_code text NOT NULL);
DELETE FROM pg_temp.gmcrm_shared_key_rows;

-- name: analyze_temp_tables
-- Real row counts and the dealer_code distribution (index probes, not hash scans); the other
-- columns' statistics are never used and cost more than the rest of the step.
ANALYZE pg_temp.gmcrm_lead_rows (dealer_code);
ANALYZE pg_temp.gmcrm_quarantine_rows (dealer_code);
ANALYZE pg_temp.gmcrm_deleted_rows (dealer_code);
