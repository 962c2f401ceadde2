-- Quarantine heals itself (issue 9). A lead quarantined for a reason in the DMS settings (no receiving
-- user, no contact settings for its lead type) used to stay quarantined until GM touched it again or
-- someone ran full_resync: the import re-reads only the lookback window. Now the extract stages such a
-- lead again from its stored GM record (raw_record) once its dealership's settings changed after the
-- lead was last judged, and any quarantined lead a person marked (`gmcrm quarantine retry`); the
-- normal transform and load then load it (and release it) or quarantine it again with today's reason.
-- Python: plugins/gmcrm/leads/heal.py.

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

-- The clock, not the transaction's start: a settings change is compared with the moment a load read
-- the settings (gmcrm.lead_quarantine.settings_seen_at), and a long transaction must not date its
-- change before a read that could not see it.
CREATE FUNCTION gmcrm.note_settings_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        v_codes text[] := '{}';
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            v_codes := v_codes || OLD.dealer_code::text;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            v_codes := v_codes || NEW.dealer_code::text;
        END IF;
        INSERT INTO gmcrm.dealer_settings_change AS s (dealer_code, changed_at)
        SELECT c, clock_timestamp() FROM (SELECT DISTINCT c FROM unnest(v_codes) AS u(c) WHERE c IS NOT NULL) d
        ON CONFLICT (dealer_code) DO UPDATE SET changed_at = greatest(s.changed_at, EXCLUDED.changed_at);
        RETURN NULL;
    END
    $$;

CREATE TRIGGER contact_setting_changed AFTER INSERT OR UPDATE OR DELETE ON gmcrm.contact_setting
    FOR EACH ROW EXECUTE FUNCTION gmcrm.note_settings_change();
-- Only the settings the transform reads: the load's own update (last_integration_at) fires nothing.
CREATE TRIGGER dealership_settings_changed AFTER UPDATE ON gmcrm.dealership
    FOR EACH ROW
    WHEN ((OLD.routing, OLD.traffic_origin, OLD.vehicles_user_id, OLD.parts_user_id, OLD.service_user_id,
           OLD.after_sales_user_id)
          IS DISTINCT FROM
          (NEW.routing, NEW.traffic_origin, NEW.vehicles_user_id, NEW.parts_user_id, NEW.service_user_id,
           NEW.after_sales_user_id))
    EXECUTE FUNCTION gmcrm.note_settings_change();
CREATE TRIGGER app_user_settings_changed AFTER INSERT OR DELETE OR UPDATE OF dealer_code, login, department_id, active
    ON dms.app_user
    FOR EACH ROW EXECUTE FUNCTION gmcrm.note_settings_change();
CREATE TRIGGER department_settings_changed AFTER INSERT OR UPDATE OR DELETE ON dms.department
    FOR EACH ROW EXECUTE FUNCTION gmcrm.note_settings_change();
