-- The outbox of GM trigger events (gmcrm.send.outbox): claims, outcomes, requeue, blocking, skip,
-- cancel, list. Named statements; parameters are psycopg named params. The statuses and their moves:
-- gmcrm.send.report.OutboxStatus and TRANSITIONS.

-- name: retry_failed
-- Put FAILED events back in the queue (within the filters) before a run: the backfill path, and
-- `gmcrm events retry`.
UPDATE gmcrm.trigger_outbox o
SET status = 'PENDING', next_attempt_at = NULL, last_error = NULL, last_error_code = NULL
WHERE o.status = 'FAILED'
  AND (%(outbox_ids)s::bigint[] IS NULL OR o.id = ANY(%(outbox_ids)s::bigint[]))
  AND (%(dealer_codes)s::text[] IS NULL OR o.dealer_code = ANY(%(dealer_codes)s::text[]))
  AND (%(lead_id)s::text IS NULL OR o.lead_id = %(lead_id)s::text)
  AND (%(trigger_codes)s::text[] IS NULL OR o.trigger_code = ANY(%(trigger_codes)s::text[]))
  AND (%(occurred_from)s::timestamptz IS NULL OR o.occurred_at >= %(occurred_from)s::timestamptz)
  AND (%(occurred_to)s::timestamptz IS NULL OR o.occurred_at < %(occurred_to)s::timestamptz);

-- name: block_behind_failed
-- A later event of a lead waits, visibly, behind an earlier one that failed for good.
UPDATE gmcrm.trigger_outbox o
SET status = 'BLOCKED',
    last_error = 'waiting behind event ' || f.id || ' (' || f.trigger_code || ', FAILED): retry or skip it first'
FROM (
    SELECT DISTINCT ON (lead_id) lead_id, id, trigger_code
    FROM gmcrm.trigger_outbox WHERE status = 'FAILED' ORDER BY lead_id, id
) f
WHERE o.lead_id = f.lead_id AND o.id > f.id AND o.status IN ('PENDING', 'RETRY');

-- name: unblock
-- Once the failed event is retried or skipped, the ones behind it are sendable again.
UPDATE gmcrm.trigger_outbox o
SET status = 'PENDING', last_error = NULL
WHERE o.status = 'BLOCKED'
  AND NOT EXISTS (
      SELECT 1 FROM gmcrm.trigger_outbox f
      WHERE f.lead_id = o.lead_id AND f.id < o.id AND f.status = 'FAILED'
  );

-- name: cancel_deleted
-- Events of leads known to be deleted at GM that a DMS transaction committed while the import was
-- marking the deletion (the dms.contact trigger of 0010 cancels the ones it can see): cancelled
-- before the run claims anything. Only sendable rows can be such stragglers (partial index).
UPDATE gmcrm.trigger_outbox o
SET status = 'CANCELLED', cancelled_reason = gmcrm.lead_deleted_reason(c.gm_deleted_at), next_attempt_at = NULL,
    claimed_by = NULL, claimed_until = NULL
FROM dms.contact c
WHERE o.status IN ('PENDING', 'RETRY') AND c.lead_id = o.lead_id AND c.gm_deleted_at IS NOT NULL;

-- name: cancel_leads
-- GM answered that a lead is deleted (ENTITY_IS_DELETED): every unsent event of each lead ends
-- CANCELLED with its reason, the answered one included (record_outcomes left it to this).
SELECT coalesce(sum(gmcrm.cancel_lead_events(t.lead_id, t.reason)), 0)::int
FROM unnest(%(lead_ids)s::text[], %(reasons)s::text[]) AS t(lead_id, reason);

-- name: claim
-- Per lead, its sendable events in order, up to %(lead_depth)s of them, stopping at the first one that
-- is not sendable now (FAILED, backing off, claimed by another live run, or outside this run's
-- filters): GM gets a lead's events in order, one graph per lead. A claim holds while its lease runs
-- AND the session that took it lives (gmcrm.claim_is_live): a dead sender's claims are free at once.
-- SKIP LOCKED plus the claim keep two runs (or lanes) from ever claiming one event twice; the final check drops any event whose lead has an
-- earlier one this claim did not get (locked by a run claiming at this very moment), so a lead's claim
-- is always a prefix of its unsent events.
WITH locked AS (
    SELECT o.id, o.lead_id
    FROM gmcrm.trigger_outbox o
    WHERE o.status IN ('PENDING', 'RETRY')
      -- the dealership enabled, as a scalar sub-select (a primary-key probe per candidate), not a join: a
      -- join lets the planner lose the id order (claim() turns sorting off so that the candidates come in
      -- order from the sendable index); nor `= ANY (ARRAY(...))`, whose array PostgreSQL searches linearly
      -- for each candidate (25 us per candidate with 1,000 dealerships)
      AND (SELECT d.integration_enabled FROM gmcrm.dealership d WHERE d.dealer_code = o.dealer_code)
      AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
      -- Unclaimed rows (most) never call the function: OR stops at the first true.
      AND (o.claimed_until IS NULL OR NOT gmcrm.claim_is_live(o.claimed_until, o.claimed_pid, o.claimed_backend_start))
      AND (%(dealer_codes)s::text[] IS NULL OR o.dealer_code = ANY(%(dealer_codes)s::text[]))
      AND (%(lead_id)s::text IS NULL OR o.lead_id = %(lead_id)s::text)
      AND (%(trigger_codes)s::text[] IS NULL OR o.trigger_code = ANY(%(trigger_codes)s::text[]))
      AND (%(occurred_from)s::timestamptz IS NULL OR o.occurred_at >= %(occurred_from)s::timestamptz)
      AND (%(occurred_to)s::timestamptz IS NULL OR o.occurred_at < %(occurred_to)s::timestamptz)
      AND (%(lanes)s::int = 1 OR gmcrm.lead_hash(o.lead_id) %% %(lanes)s::int = %(lane)s::int)
      AND NOT EXISTS (  -- an earlier unsent event of the lead that cannot go now: the lead waits behind it
          SELECT 1 FROM gmcrm.trigger_outbox e
          WHERE e.lead_id = o.lead_id AND e.id < o.id AND e.status NOT IN ('SENT', 'SKIPPED', 'CANCELLED')
            AND NOT (e.status IN ('PENDING', 'RETRY')
                     AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= now())
                     AND (e.claimed_until IS NULL
                          OR NOT gmcrm.claim_is_live(e.claimed_until, e.claimed_pid, e.claimed_backend_start)))
          -- OFFSET 0 keeps this a probe of the lead index per candidate (a correlated sub-plan): as a
          -- join, the planner may read the whole outbox once per claim when it thinks that is cheaper
          OFFSET 0
      )
    ORDER BY o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
), ranked AS (
    SELECT l.id, l.lead_id, row_number() OVER (PARTITION BY l.lead_id ORDER BY l.id) AS depth
    FROM locked l
    WHERE NOT EXISTS (  -- an earlier unsent event of the lead that this claim does not hold
        SELECT 1 FROM gmcrm.trigger_outbox e
        WHERE e.lead_id = l.lead_id AND e.id < l.id AND e.status NOT IN ('SENT', 'SKIPPED', 'CANCELLED')
          -- the claimed ids as a hashed sub-plan (built once per claim): an anti-join with the CTE made
          -- the planner hash the whole outbox (2 s of a 4 s claim at 200,000 pending events), and
          -- `<> ALL (ARRAY(...))` searched the array linearly per earlier event (0.5 s a claim of deep leads)
          AND e.id NOT IN (SELECT k.id FROM locked k)
        -- and OFFSET 0 keeps the probe (as a join, fresh statistics let the planner hash every unsent
        -- event: 0.9 s of a claim with 100,000 pending)
        OFFSET 0
    )
)
UPDATE gmcrm.trigger_outbox o
SET claimed_by = %(worker)s, claimed_until = now() + %(lease)s::interval, claimed_pid = pg_backend_pid(),
    claimed_backend_start = (SELECT backend_start FROM pg_stat_get_activity(pg_backend_pid()))
-- primary-key probes, whatever the outbox's size: the ids as one array (an InitPlan), not a join, which
-- fresh statistics let the planner make by hashing the whole outbox (30 ms a claim at 100,000 pending)
WHERE o.id = ANY (ARRAY(SELECT r.id FROM ranked r WHERE r.depth <= %(lead_depth)s))
RETURNING o.id;

-- name: release
UPDATE gmcrm.trigger_outbox SET claimed_by = NULL, claimed_until = NULL
WHERE id = ANY(%(ids)s::bigint[]) AND claimed_by = %(worker)s;

-- name: record_outcomes
-- Outcomes of one batch, passed as arrays, applied to the outbox in one statement. DRY_RUN and
-- DEFERRED (daily limit) leave the event as it was, backoff and last error included; only the claim goes.
-- ROLLED_BACK (its lead's composite graph failed at GM) leaves it as it was too, with why as last error.
-- CANCELLED (GM says the lead is deleted) counts the attempt and keeps GM's error; cancel_leads, in
-- the same transaction, then ends the event and the rest of its lead.
UPDATE gmcrm.trigger_outbox o
SET status = CASE t.outcome
        WHEN 'SENT' THEN 'SENT'
        WHEN 'RETRY' THEN 'RETRY'
        WHEN 'FAILED' THEN 'FAILED'
        ELSE o.status END,
    attempts = o.attempts + CASE WHEN t.outcome IN ('SENT', 'RETRY', 'FAILED', 'CANCELLED') THEN 1 ELSE 0 END,
    sent_at = CASE WHEN t.outcome = 'SENT' THEN now() ELSE o.sent_at END,
    next_attempt_at = CASE t.outcome
        WHEN 'RETRY'
        THEN now() + least(%(backoff_max)s::interval, %(backoff_base)s::interval * power(2, o.attempts))
        WHEN 'SENT' THEN NULL
        WHEN 'FAILED' THEN NULL
        WHEN 'CANCELLED' THEN NULL
        ELSE o.next_attempt_at END,
    last_error = CASE t.outcome
        WHEN 'SENT' THEN NULL WHEN 'DRY_RUN' THEN o.last_error ELSE coalesce(t.error_message, o.last_error) END,
    last_error_code = CASE t.outcome
        WHEN 'SENT' THEN NULL WHEN 'DRY_RUN' THEN o.last_error_code ELSE coalesce(t.error_code, o.last_error_code) END,
    claimed_by = NULL,
    claimed_until = NULL
FROM unnest(%(ids)s::bigint[], %(outcomes)s::text[], %(codes)s::text[], %(messages)s::text[])
    AS t(outbox_id, outcome, error_code, error_message)
WHERE o.id = t.outbox_id AND o.claimed_by = %(worker)s;

-- name: events_with_references
-- Claimed events with their references as they are now (a reason mapped since the event was recorded
-- is picked up), in outbox order: what gmcrm.send.payload builds GM's records from.
SELECT o.id, o.dealer_code, o.lead_id, c.lead_type, o.trigger_code, o.step, o.occurred_at,
       cf.type AS contact_form_type,
       r.code AS reason_code, r.description AS reason_description, r.reason_type, r.gm_reason,
       vm.description AS vehicle_model, vm.version AS vehicle_trim,
       coalesce(o.vehicle_model_year, vm.model_year) AS vehicle_model_year,
       o.trade_in, u.name AS salesperson, o.vehicle_model_id
FROM gmcrm.trigger_outbox o
LEFT JOIN dms.contact c ON c.id = o.contact_id
LEFT JOIN dms.contact_form cf ON cf.id = o.contact_form_id
LEFT JOIN dms.reason r ON r.id = o.reason_id
LEFT JOIN dms.vehicle_model vm ON vm.id = o.vehicle_model_id
LEFT JOIN dms.app_user u ON u.id = o.user_id
WHERE o.id = ANY (%(ids)s::bigint[])
ORDER BY o.id;

-- name: skip
-- `gmcrm events skip`: an event never to send (FAILED, BLOCKED, PENDING or RETRY), with why.
UPDATE gmcrm.trigger_outbox SET status = 'SKIPPED', skipped_reason = %(why)s, claimed_by = NULL,
    claimed_until = NULL
WHERE id = %(id)s AND status IN ('FAILED', 'BLOCKED', 'PENDING', 'RETRY');

-- name: list
-- `gmcrm events list`: the events of one status with their last error (or why they were skipped or
-- cancelled).
SELECT id, dealer_code, lead_id, trigger_code, status, attempts, occurred_at,
       coalesce(CASE status WHEN 'CANCELLED' THEN cancelled_reason WHEN 'SKIPPED' THEN 'skipped: ' || skipped_reason END,
                coalesce(last_error_code || ': ', '') || coalesce(last_error, '')) AS why
FROM gmcrm.trigger_outbox
WHERE status = %(status)s
  AND (%(dealer_code)s::text IS NULL OR dealer_code = %(dealer_code)s::text)
  AND (%(lead_id)s::text IS NULL OR lead_id = %(lead_id)s::text)
ORDER BY id
LIMIT %(limit)s;
