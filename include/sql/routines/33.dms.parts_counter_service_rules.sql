CREATE OR REPLACE FUNCTION dms.parts_counter_service_rules() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        -- Cancel (230) registers a parts lost sale: it needs a reason.
        IF NEW.status = 'CANCELLED' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
            PERFORM dms.assert_lost_has_reason(NEW.contact_id, NEW.reason_id, 'counter service cancelled (230)');
            NEW.cancelled_at := coalesce(NEW.cancelled_at, clock_timestamp());
        END IF;
        IF TG_OP = 'UPDATE' THEN
            NEW.updated_at := now();
        END IF;
        RETURN NEW;
    END
    $$;

CREATE OR REPLACE TRIGGER parts_counter_service_rules BEFORE INSERT OR UPDATE ON dms.parts_counter_service
    FOR EACH ROW EXECUTE FUNCTION dms.parts_counter_service_rules();
