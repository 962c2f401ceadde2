-- Closes the contact (CLOSED_WON / CLOSED_LOST), taking the lead lock before the row lock (0010).
CREATE OR REPLACE FUNCTION dms.mark_contact_closed(p_contact_id bigint, p_status text) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT gmcrm.lock_lead_of_contact(p_contact_id);
    UPDATE dms.contact SET status = p_status
    WHERE id = p_contact_id AND status IS DISTINCT FROM p_status;
    $$;
