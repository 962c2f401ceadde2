-- Test drives: TDA scheduled, TDR done, TDE a scheduled one deleted.
CREATE OR REPLACE FUNCTION dms.capture_test_drive() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'test_drive';
        tbl constant text := 'dms.test_drive';
        r   dms.test_drive%ROWTYPE;
        code text;
    BEGIN
        IF TG_OP = 'DELETE' THEN
            r := OLD;
            code := CASE WHEN OLD.status = 'SCHEDULED' THEN 'TDE' END;
        ELSE
            r := NEW;
            IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
                code := CASE NEW.status WHEN 'SCHEDULED' THEN 'TDA' WHEN 'DONE' THEN 'TDR' END;
            END IF;
            PERFORM dms.mark_contact_in_progress(NEW.contact_id);
        END IF;
        IF code IS NOT NULL THEN
            PERFORM gmcrm.record_trigger(code, r.contact_id, src, tbl, r.id,
                                         p_vehicle_model_id => r.vehicle_model_id, p_user_id => r.user_id);
        END IF;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER test_drive_capture AFTER INSERT OR UPDATE OR DELETE ON dms.test_drive
    FOR EACH ROW EXECUTE FUNCTION dms.capture_test_drive();
