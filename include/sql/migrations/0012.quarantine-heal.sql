-- Quarantine heals itself (issue 9). A lead quarantined for a reason in the DMS settings (no receiving
-- user, no contact settings for its lead type) used to stay quarantined until GM touched it again or
-- someone ran full_resync: the import re-reads only the lookback window. Now the extract stages such a
-- lead again from its stored GM record (raw_record) once its dealership's settings changed after the
-- lead was last judged, and any quarantined lead a person marked (`gmcrm quarantine retry`); the
-- normal transform and load then load it (and release it) or quarantine it again with today's reason.
-- Python: plugins/gmcrm/leads/heal.py. The triggers that keep gmcrm.dealer_settings_change:
-- include/sql/routines/70.gmcrm.note_settings_change.sql.

-- When a dealership's settings last changed: receiving users, routing, traffic origin (gmcrm.dealership),
-- contact settings, and its DMS users and departments. A table of its own, not a column of
-- gmcrm.dealership: the load updates that row (last_integration_at) in every dealership's transaction,
-- and a DMS screen editing a user must never wait for, or deadlock with, a load.
CREATE TABLE gmcrm.dealer_settings_change (
    dealer_code text PRIMARY KEY,
    changed_at  timestamptz NOT NULL
);

ALTER TABLE gmcrm.lead_quarantine
    -- The moment (database clock) the load read the settings this lead was last judged against: a
    -- settings change after it may release the lead.
    ADD COLUMN settings_seen_at   timestamptz,
    -- `gmcrm quarantine retry`: try this lead again from its stored record on the next run.
    ADD COLUMN retry_requested_at timestamptz,
    -- The last time it was staged again from its stored record, and the run that did it (cleared when
    -- that run's load of the dealership finished: a retry whose load never finished is made again).
    ADD COLUMN retried_at         timestamptz,
    ADD COLUMN retry_run_id       text;
CREATE INDEX lead_quarantine_retry_run_idx ON gmcrm.lead_quarantine (retry_run_id) WHERE retry_run_id IS NOT NULL;
CREATE INDEX lead_quarantine_retry_requested_idx ON gmcrm.lead_quarantine (dealer_code)
    WHERE retry_requested_at IS NOT NULL;

