-- Whether an outbox claim still holds: its lease has not run out AND the session that took it is still
-- connected (same pid, same backend start: a pid can be reused by a later session). A claim taken
-- before migration 0022 names no session and holds until its lease runs out.
-- pg_stat_get_activity(pid) reads only that backend's entry (pid and backend_start are visible to any
-- role), from the snapshot the transaction took: cheap enough per claimed row.
CREATE OR REPLACE FUNCTION gmcrm.claim_is_live(p_until timestamptz, p_pid integer, p_backend_start timestamptz)
    RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT p_until IS NOT NULL AND p_until >= now()
           AND (p_pid IS NULL
                OR EXISTS (SELECT 1 FROM pg_stat_get_activity(p_pid) a WHERE a.backend_start = p_backend_start));
    $$;
