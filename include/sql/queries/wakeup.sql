-- The send's wake-up (gmcrm.send.wakeup, in Airflow's triggerer). Named statements.

-- name: sendable
-- After (re)connecting: is there anything the sender could send now? Notifications committed while
-- the listener was away are lost, so this stands in for them. Cheap: the partial index of 0004 holds
-- only PENDING and RETRY rows. Returns the dealer codes (at most 50) with sendable events.
SELECT coalesce(array_agg(dealer_code ORDER BY dealer_code), '{}')
FROM (
    SELECT DISTINCT o.dealer_code
    FROM gmcrm.trigger_outbox o
    WHERE o.status IN ('PENDING', 'RETRY')
      AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
    LIMIT 50
) d;
