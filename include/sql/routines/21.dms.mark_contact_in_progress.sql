-- The contact is being worked: leaves the salesperson's queue. Applies to every contact (the
-- status is the DMS's own), not only to leads. Takes the lead lock before the row lock (0010).
CREATE OR REPLACE FUNCTION dms.mark_contact_in_progress(p_contact_id bigint) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT gmcrm.lock_lead_of_contact(p_contact_id);
    UPDATE dms.contact SET status = 'IN_PROGRESS' WHERE id = p_contact_id AND status = 'IN_QUEUE';
    $$;
