-- The quarantine as `gmcrm quarantine` sees it (gmcrm.quarantine). Named statements
-- (gmcrm.paths.named_queries); parameters are psycopg's. The filters: %(dealer)s (any case),
-- %(reason)s, %(lead)s, each NULL for "any"; only leads still quarantined.

-- name: open_leads
-- Quarantined leads, oldest first (those waiting longest).
SELECT q.dealer_code, q.lead_id, q.reason_code, q.reason, q.first_seen_at, q.last_seen_at,
       q.times_seen, q.retry_requested_at, q.retried_at
FROM gmcrm.lead_quarantine q
WHERE q.resolved_at IS NULL AND (%(dealer)s::text IS NULL OR upper(q.dealer_code) = upper(%(dealer)s::text))
  AND (%(reason)s::text IS NULL OR q.reason_code = %(reason)s::text)
  AND (%(lead)s::text IS NULL OR q.lead_id = %(lead)s::text)
ORDER BY q.dealer_code, q.first_seen_at, q.lead_id LIMIT %(limit)s

-- name: counts
SELECT q.reason_code, count(*)
FROM gmcrm.lead_quarantine q
WHERE q.resolved_at IS NULL AND (%(dealer)s::text IS NULL OR upper(q.dealer_code) = upper(%(dealer)s::text))
  AND (%(reason)s::text IS NULL OR q.reason_code = %(reason)s::text)
  AND (%(lead)s::text IS NULL OR q.lead_id = %(lead)s::text)
GROUP BY q.reason_code ORDER BY count(*) DESC, q.reason_code

-- name: request_retry
UPDATE gmcrm.lead_quarantine q SET retry_requested_at = now()
WHERE q.resolved_at IS NULL AND (%(dealer)s::text IS NULL OR upper(q.dealer_code) = upper(%(dealer)s::text))
  AND (%(reason)s::text IS NULL OR q.reason_code = %(reason)s::text)
  AND (%(lead)s::text IS NULL OR q.lead_id = %(lead)s::text)
RETURNING q.dealer_code

-- name: disabled_dealerships
SELECT dealer_code FROM gmcrm.dealership WHERE dealer_code = ANY(%s) AND NOT integration_enabled
ORDER BY dealer_code
