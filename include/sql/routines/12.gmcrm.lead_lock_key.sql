-- The key of a lead's transaction-scoped advisory lock (one bigint space with load_dealer's
-- 'gmcrm.load_dealer:' keys; the prefixes keep them apart).
CREATE OR REPLACE FUNCTION gmcrm.lead_lock_key(p_lead_id text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT hashtextextended('gmcrm.lead:' || p_lead_id, 0) $$;
