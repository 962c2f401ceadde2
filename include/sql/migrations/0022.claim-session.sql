-- A claim names the PostgreSQL session that took it (its backend's pid and start time): the claim lives
-- while that session does. A sender that is killed, loses its worker or fails closes its connection,
-- PostgreSQL ends its backend, and the next claim sees the claim dead at once instead of waiting for the
-- lease (claimed_until), which stays as the fallback for a session that lingers (GMCRM_CLAIM_LEASE_SECONDS).
ALTER TABLE gmcrm.trigger_outbox ADD COLUMN claimed_pid integer;
ALTER TABLE gmcrm.trigger_outbox ADD COLUMN claimed_backend_start timestamptz;
