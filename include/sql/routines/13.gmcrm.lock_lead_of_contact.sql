-- Takes the lock of the contact's lead (none for a contact without one). The capture triggers call
-- it, through the two functions below, before they update the contact: so a DMS transaction always
-- takes a lead's lock before the contact's row lock, never the other way round. Otherwise a screen
-- holding the row lock (say, closing the contact) and waiting for the lead lock would deadlock with
-- the transaction holding the lead lock that goes on to update the contact.
CREATE OR REPLACE FUNCTION gmcrm.lock_lead_of_contact(p_contact_id bigint) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT pg_advisory_xact_lock(gmcrm.lead_lock_key(ct.lead_id))
    FROM dms.contact ct WHERE ct.id = p_contact_id AND ct.lead_id IS NOT NULL
    $$;
