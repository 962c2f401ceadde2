-- The operations page (gmcrm.ops_queries): each dealership's state, its quarantine, the events that wait
-- for a person, and the lead log's search of imports and quarantined leads. Named statements;
-- parameters are psycopg named params. Read-only.

-- name: dealerships
-- One row per dealership (or the one asked for). Per dealership, each look-up is one index probe
-- (LATERAL ... LIMIT 1 on (dealer_code, time DESC)): the page costs the same after a year of runs as
-- after a day.
SELECT d.dealer_code, d.name, d.integration_enabled, d.routing, d.gm_conn_id,
       l.load_run, l.finished_at, l.leads_read, l.contacts_created, l.contacts_updated, l.quarantined,
       f.failed_run, f.stage, f.error, f.failed_at,
       e.pending, e.blocked, e.failed, e.cancelled,
       x.error_event, x.error_trigger, x.last_error, x.last_error_code, x.error_at
FROM gmcrm.dealership d
LEFT JOIN LATERAL (
    SELECT run_id AS load_run, finished_at, leads_read, contacts_created, contacts_updated, quarantined
    FROM gmcrm.import_log i WHERE i.dealer_code = d.dealer_code ORDER BY finished_at DESC LIMIT 1
) l ON true
LEFT JOIN LATERAL (
    SELECT run_id AS failed_run, stage, error, failed_at
    FROM gmcrm.import_failure f WHERE f.dealer_code = d.dealer_code ORDER BY failed_at DESC LIMIT 1
) f ON true
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status IN ('PENDING', 'RETRY')) AS pending,
           count(*) FILTER (WHERE status = 'BLOCKED') AS blocked,
           count(*) FILTER (WHERE status = 'FAILED') AS failed,
           count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
    FROM gmcrm.trigger_outbox o
    WHERE o.dealer_code = d.dealer_code AND o.status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED', 'CANCELLED')
) e
LEFT JOIN LATERAL (
    SELECT id AS error_event, trigger_code AS error_trigger, last_error, last_error_code, updated_at AS error_at
    FROM gmcrm.trigger_outbox o WHERE o.dealer_code = d.dealer_code AND o.status = 'FAILED'
    ORDER BY updated_at DESC LIMIT 1
) x ON true
WHERE (%(dealer_code)s::text IS NULL OR d.dealer_code = %(dealer_code)s::text)
ORDER BY d.dealer_code;

-- name: quarantine_counts
-- Open quarantine rows per dealership and reason.
SELECT dealer_code, reason_code, count(*) FROM gmcrm.lead_quarantine
WHERE resolved_at IS NULL GROUP BY dealer_code, reason_code ORDER BY dealer_code, reason_code;

-- name: api_usage
-- The Salesforce API calls of today per GM connection. The day is the DMS session's (its TimeZone),
-- as the rest of the page shows times.
WITH imports AS (
    SELECT d.gm_conn_id, b.run_id, max(b.api_calls) AS calls
    FROM gmcrm.import_batch b JOIN gmcrm.dealership d USING (dealer_code)
    WHERE b.extracted_at >= date_trunc('day', now()) GROUP BY d.gm_conn_id, b.run_id
), sends AS (
    SELECT d.gm_conn_id, count(DISTINCT (l.run_id, l.attempted_at)) AS calls
    FROM gmcrm.send_log l JOIN gmcrm.dealership d USING (dealer_code)
    WHERE l.attempted_at >= date_trunc('day', now()) AND l.status_code IS NOT NULL
      AND l.outcome <> 'DRY_RUN'
    GROUP BY d.gm_conn_id
), remaining AS (
    SELECT DISTINCT ON (d.gm_conn_id) d.gm_conn_id, b.api_remaining, b.api_limit, b.extracted_at AS finished_at
    FROM gmcrm.import_batch b JOIN gmcrm.dealership d USING (dealer_code)
    WHERE b.api_remaining IS NOT NULL AND b.extracted_at >= date_trunc('day', now())
    ORDER BY d.gm_conn_id, b.extracted_at DESC
), conns AS (SELECT DISTINCT gm_conn_id FROM gmcrm.dealership)
SELECT c.gm_conn_id,
       coalesce((SELECT sum(calls) FROM imports i WHERE i.gm_conn_id = c.gm_conn_id), 0)::int AS import_calls,
       (SELECT count(*) FROM imports i WHERE i.gm_conn_id = c.gm_conn_id)::int AS import_runs,
       coalesce((SELECT calls FROM sends s WHERE s.gm_conn_id = c.gm_conn_id), 0)::int AS send_calls,
       r.api_remaining, r.finished_at, r.api_limit
FROM conns c LEFT JOIN remaining r USING (gm_conn_id)
ORDER BY c.gm_conn_id;

-- name: quarantine
-- Leads in quarantine now, with GM's lead type read from the stored record (its field named by the GM
-- mapping, config/gm_crm.yaml).
SELECT q.lead_id, q.dealer_code, q.reason_code, q.reason, q.first_seen_at, q.last_seen_at, q.times_seen,
       q.raw_record ->> %(lead_type_field)s::text AS gm_lead_type
FROM gmcrm.lead_quarantine q
WHERE q.resolved_at IS NULL
  AND (%(dealer_code)s::text IS NULL OR q.dealer_code = %(dealer_code)s::text)
  AND (%(reason)s::text IS NULL OR q.reason_code = %(reason)s::text)
ORDER BY q.dealer_code, q.reason_code, q.last_seen_at DESC
LIMIT %(limit)s;

-- name: events
-- Outbox events in the statuses asked for; a BLOCKED one names the FAILED event it waits behind.
SELECT o.id, o.dealer_code, o.lead_id, o.trigger_code, o.status, o.attempts, o.occurred_at, o.updated_at,
       o.last_error, o.last_error_code, r.code AS reason_code,
       (SELECT min(f.id) FROM gmcrm.trigger_outbox f
        WHERE o.status = 'BLOCKED' AND f.lead_id = o.lead_id AND f.id < o.id AND f.status = 'FAILED') AS blocked_by
FROM gmcrm.trigger_outbox o
LEFT JOIN dms.reason r ON r.id = o.reason_id
WHERE o.status = ANY(%(statuses)s)
  AND (%(dealer_code)s::text IS NULL OR o.dealer_code = %(dealer_code)s::text)
ORDER BY o.dealer_code, o.status, o.id
LIMIT %(limit)s;

-- name: imports
-- The lead log's search by dealership: its loads and its failed imports, newest first.
SELECT * FROM (
    SELECT finished_at AS at, dealer_code, run_id, 'LOADED' AS outcome, leads_read, contacts_created,
           contacts_updated, quarantined, NULL::text AS stage, NULL::text AS error
    FROM gmcrm.import_log
    WHERE (%(dealer_code)s::text IS NULL OR dealer_code = %(dealer_code)s::text)
      AND (%(date_from)s::timestamptz IS NULL OR finished_at >= %(date_from)s::timestamptz)
      AND (%(date_to)s::timestamptz IS NULL OR finished_at < %(date_to)s::timestamptz)
    UNION ALL
    SELECT failed_at, dealer_code, run_id, 'FAILED', NULL, NULL, NULL, NULL, stage, error
    FROM gmcrm.import_failure
    WHERE (%(dealer_code)s::text IS NULL OR dealer_code = %(dealer_code)s::text)
      AND (%(date_from)s::timestamptz IS NULL OR failed_at >= %(date_from)s::timestamptz)
      AND (%(date_to)s::timestamptz IS NULL OR failed_at < %(date_to)s::timestamptz)
) i ORDER BY at DESC LIMIT %(limit)s;

-- name: quarantined
-- The lead log's search: quarantined leads of a dealership or a Lead ID, open or resolved.
SELECT lead_id, dealer_code, reason_code, reason, first_seen_at, last_seen_at, resolved_at
FROM gmcrm.lead_quarantine
WHERE (%(dealer_code)s::text IS NULL OR dealer_code = %(dealer_code)s::text)
  AND (%(lead_id)s::text IS NULL OR lead_id = %(lead_id)s::text)
  AND (%(date_from)s::timestamptz IS NULL OR last_seen_at >= %(date_from)s::timestamptz)
  AND (%(date_to)s::timestamptz IS NULL OR first_seen_at < %(date_to)s::timestamptz)
ORDER BY last_seen_at DESC LIMIT %(limit)s;
