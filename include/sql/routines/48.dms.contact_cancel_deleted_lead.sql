-- The import marks a contact deleted at GM: its lead's unsent events are cancelled in the same
-- transaction. No lead lock here (the import holds the contact's row lock, and a DMS transaction
-- holding the lead lock may be waiting for it): an event that a DMS transaction commits concurrently
-- is cancelled by the send run's sweep (query cancel_deleted) or by GM's ENTITY_IS_DELETED answer.
CREATE OR REPLACE FUNCTION dms.contact_cancel_deleted_lead() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM gmcrm.cancel_lead_events(NEW.lead_id, gmcrm.lead_deleted_reason(NEW.gm_deleted_at));
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER contact_cancel_deleted_lead AFTER UPDATE OF gm_deleted_at ON dms.contact
    FOR EACH ROW
    WHEN (OLD.gm_deleted_at IS NULL AND NEW.gm_deleted_at IS NOT NULL AND NEW.lead_id IS NOT NULL)
    EXECUTE FUNCTION dms.contact_cancel_deleted_lead();
