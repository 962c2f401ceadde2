-- Service appointments: ACO when saved as (or changed to) type AE; its catalogue row has two steps.
CREATE OR REPLACE FUNCTION dms.capture_service_appointment() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM dms.mark_contact_in_progress(NEW.contact_id);
        IF upper(btrim(NEW.type)) = 'AE'
           AND (TG_OP = 'INSERT' OR upper(btrim(OLD.type)) IS DISTINCT FROM 'AE') THEN
            PERFORM gmcrm.record_trigger('ACO', NEW.contact_id, 'service_appointment', 'dms.service_appointment',
                                         NEW.id, p_user_id => NEW.user_id);
        END IF;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER service_appointment_capture AFTER INSERT OR UPDATE ON dms.service_appointment
    FOR EACH ROW EXECUTE FUNCTION dms.capture_service_appointment();
