-- The clock, not the transaction's start: a settings change is compared with the moment a load read
-- the settings (gmcrm.lead_quarantine.settings_seen_at), and a long transaction must not date its
-- change before a read that could not see it.
CREATE OR REPLACE FUNCTION gmcrm.note_settings_change() RETURNS trigger
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

CREATE OR REPLACE TRIGGER app_user_settings_changed AFTER INSERT OR DELETE OR UPDATE OF dealer_code, login, department_id, active
    ON dms.app_user
    FOR EACH ROW EXECUTE FUNCTION gmcrm.note_settings_change();

CREATE OR REPLACE TRIGGER contact_setting_changed AFTER INSERT OR UPDATE OR DELETE ON gmcrm.contact_setting
    FOR EACH ROW EXECUTE FUNCTION gmcrm.note_settings_change();

-- Only the settings the transform reads: the load's own update (last_integration_at) fires nothing.
CREATE OR REPLACE TRIGGER dealership_settings_changed AFTER UPDATE ON gmcrm.dealership
    FOR EACH ROW
    WHEN ((OLD.routing, OLD.traffic_origin, OLD.vehicles_user_id, OLD.parts_user_id, OLD.service_user_id,
           OLD.after_sales_user_id)
          IS DISTINCT FROM
          (NEW.routing, NEW.traffic_origin, NEW.vehicles_user_id, NEW.parts_user_id, NEW.service_user_id,
           NEW.after_sales_user_id))
    EXECUTE FUNCTION gmcrm.note_settings_change();

CREATE OR REPLACE TRIGGER department_settings_changed AFTER INSERT OR UPDATE OR DELETE ON dms.department
    FOR EACH ROW EXECUTE FUNCTION gmcrm.note_settings_change();
