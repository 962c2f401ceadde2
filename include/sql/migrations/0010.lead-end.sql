-- The end of a lead's events, and their order across DMS transactions (issue 8, items 4, 9 and 10).
--
-- 4. A lead deleted at GM sends nothing more: its unsent events (PENDING, RETRY, BLOCKED, FAILED,
--    claimed or not) end CANCELLED, a final status of their own with the reason in cancelled_reason;
--    they are no failure and block nothing. Done in the database so every path gets it: a trigger on
--    dms.contact when the import sets gm_deleted_at; the send path when GM answers ENTITY_IS_DELETED
--    (gmcrm.cancel_lead_events); activity recorded afterwards writes no outbox row (see 10).
-- 9. Recording a trigger takes a per-lead transaction-scoped advisory lock (gmcrm.lead_lock_key), so
--    a lead's events commit in their outbox order: a DMS transaction that records an event on a lead
--    waits for an open one that recorded an earlier event on it. The send claim's "earliest unsent event
--    of the lead" is then the earliest one there will ever be. Deadlocks: the capture triggers take
--    the lead lock before they update the contact row (dms.mark_contact_*), so lead lock -> row lock is
--    the one order; distribution takes its contacts (rows, then leads) in contact id order. Two DMS
--    transactions that each hold one lead and want the other's can still deadlock (PostgreSQL aborts
--    one; the screen retries), as they could on any two rows; the send path never takes a lead lock.
-- 10. After a lead is closed in the DMS (a VPE or an NFF recorded for it), later activity on its contact
--    records no outbox row: it is kept in gmcrm.activity_not_sent ("after the close, not sent"), which
--    the lead log reads, as is activity on a lead known to be deleted at GM.

-- ---------------------------------------------------------------------------------------------
-- The outbox's final status CANCELLED, and why.

ALTER TABLE gmcrm.trigger_outbox ADD COLUMN cancelled_reason text;
ALTER TABLE gmcrm.trigger_outbox DROP CONSTRAINT trigger_outbox_status_check;
ALTER TABLE gmcrm.trigger_outbox ADD CONSTRAINT trigger_outbox_status_check
    CHECK (status IN ('PENDING', 'SENT', 'RETRY', 'FAILED', 'BLOCKED', 'SKIPPED', 'CANCELLED'));

-- Activity of a GM lead that the catalogue would have sent, recorded instead of an outbox row because
-- the lead was closed in the DMS before it (AFTER_CLOSE) or is known to be deleted at GM
-- (LEAD_DELETED_AT_GM). The DMS keeps the activity itself in its own tables (source_table, source_id).
CREATE TABLE gmcrm.activity_not_sent (
    id                  bigserial PRIMARY KEY,
    dealer_code         text NOT NULL,
    lead_id             text NOT NULL,
    contact_id          bigint REFERENCES dms.contact (id),
    trigger_code        text NOT NULL,
    step                smallint NOT NULL DEFAULT 1,
    source_table        text,
    source_id           bigint,
    reason_code         text NOT NULL CHECK (reason_code IN ('AFTER_CLOSE', 'LEAD_DELETED_AT_GM')),
    reason              text NOT NULL,
    -- The VPE or NFF that closed the lead (AFTER_CLOSE).
    closed_by_outbox_id bigint REFERENCES gmcrm.trigger_outbox (id),
    recorded_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX activity_not_sent_lead_idx ON gmcrm.activity_not_sent (lead_id, id);

-- ---------------------------------------------------------------------------------------------
-- Rows already waiting when this is applied.

-- Leads already known deleted at GM. The reason is gmcrm.lead_deleted_reason's text, written out:
-- routines are created after the migrations, and this fix runs once, when 0010 is applied.
UPDATE gmcrm.trigger_outbox o
SET status = 'CANCELLED',
    cancelled_reason = 'lead deleted at GM (the import saw it deleted at '
        || to_char(c.gm_deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC): nothing more is sent '
        || 'for it; a new GM lead for this customer arrives as a new contact',
    next_attempt_at = NULL,
    claimed_by = NULL, claimed_until = NULL
FROM dms.contact c
WHERE c.lead_id = o.lead_id AND c.gm_deleted_at IS NOT NULL
  AND o.status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED');

-- Events recorded after their lead's close, not sent yet: they are not sent now either.
UPDATE gmcrm.trigger_outbox o
SET status = 'CANCELLED',
    cancelled_reason = format('after the close, not sent: the lead was closed in the DMS by %s (outbox event %s)',
                              f.trigger_code, f.id),
    next_attempt_at = NULL, claimed_by = NULL, claimed_until = NULL
FROM (SELECT DISTINCT ON (lead_id) lead_id, id, trigger_code
      FROM gmcrm.trigger_outbox WHERE trigger_code IN ('VPE', 'NFF') ORDER BY lead_id, id) f
WHERE o.lead_id = f.lead_id AND o.id > f.id AND o.status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED');
