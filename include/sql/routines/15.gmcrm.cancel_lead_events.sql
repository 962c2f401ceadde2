-- Every unsent event of a lead ends CANCELLED with p_reason (claims released: a worker holding one
-- records nothing over it, its outcomes only apply to rows it still has claimed). Returns how many.
CREATE OR REPLACE FUNCTION gmcrm.cancel_lead_events(p_lead_id text, p_reason text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
    DECLARE
        n integer;
    BEGIN
        UPDATE gmcrm.trigger_outbox
        SET status = 'CANCELLED', cancelled_reason = p_reason, next_attempt_at = NULL,
            claimed_by = NULL, claimed_until = NULL,
            -- "waiting behind event N: retry or skip it" no longer holds; GM's errors stay.
            last_error = CASE WHEN status = 'BLOCKED' THEN NULL ELSE last_error END
        WHERE lead_id = p_lead_id AND status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED');
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END
    $$;
