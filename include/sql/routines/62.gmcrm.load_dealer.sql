-- Load one dealership's transformed leads in its own transaction: gmcrm.load_dealers with one. The
-- load tasks call it for each dealership of a group whose load as a whole failed, so that one
-- dealership's failure holds up no other (gmcrm.leads.pipeline).
CREATE OR REPLACE FUNCTION gmcrm.load_dealer(p_run_id text, p_dealer text)
RETURNS TABLE (
    leads_read integer, contacts_created integer, contacts_updated integer, customers_created integer,
    customers_matched integer, quarantined integer, deleted integer, skipped_closed integer,
    events_recorded integer, api_calls integer, api_remaining integer
)
LANGUAGE sql
AS $$
    SELECT l.leads_read, l.contacts_created, l.contacts_updated, l.customers_created, l.customers_matched,
           l.quarantined, l.deleted, l.skipped_closed, l.events_recorded, l.api_calls, l.api_remaining
    FROM gmcrm.load_dealers(p_run_id, ARRAY[p_dealer]) AS l
$$;
