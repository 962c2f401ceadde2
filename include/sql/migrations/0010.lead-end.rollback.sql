-- Undo 0010.lead-end: no cancellation trigger, no activity_not_sent. The routines are not restored to
-- an older definition: the next upgrade re-applies the current ones. CANCELLED events become SKIPPED (never sent, with their reason), the nearest
-- status 0004 knows, so the old CHECK holds and nothing 0010 had stopped is sent.

DROP FUNCTION IF EXISTS gmcrm.lock_lead_of_contact(bigint);

DROP TRIGGER IF EXISTS contact_cancel_deleted_lead ON dms.contact;
DROP FUNCTION IF EXISTS dms.contact_cancel_deleted_lead();
DROP FUNCTION IF EXISTS gmcrm.cancel_lead_events(text, text);
DROP FUNCTION IF EXISTS gmcrm.lead_deleted_reason(timestamptz);
DROP FUNCTION IF EXISTS gmcrm.lead_lock_key(text);
DROP TABLE IF EXISTS gmcrm.activity_not_sent;

UPDATE gmcrm.trigger_outbox
SET status = 'SKIPPED', skipped_reason = coalesce(skipped_reason, 'cancelled: ' || cancelled_reason)
WHERE status = 'CANCELLED';
ALTER TABLE gmcrm.trigger_outbox DROP CONSTRAINT trigger_outbox_status_check;
ALTER TABLE gmcrm.trigger_outbox ADD CONSTRAINT trigger_outbox_status_check
    CHECK (status IN ('PENDING', 'SENT', 'RETRY', 'FAILED', 'BLOCKED', 'SKIPPED'));
ALTER TABLE gmcrm.trigger_outbox DROP COLUMN IF EXISTS cancelled_reason;
