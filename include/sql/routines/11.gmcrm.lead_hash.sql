-- The send DAG's lanes split the outbox by lead: lane = gmcrm.lead_hash(lead_id) % lanes. One
-- definition for the claim query and the lead log page (which links an attempt to its lane's task).
-- bigint before abs(): abs() of the int4 hash -2147483648 is out of range, which would fail every
-- claim with lanes > 1 for as long as such a lead had events.
CREATE OR REPLACE FUNCTION gmcrm.lead_hash(lead_id text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT abs(hashtext(lead_id)::bigint) $$;
