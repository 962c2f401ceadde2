-- Counter service: PVR sent to the cashier; VPE cancelled (230) with its reason.
CREATE OR REPLACE FUNCTION dms.capture_parts_counter_service() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'parts_counter_service';
        tbl constant text := 'dms.parts_counter_service';
    BEGIN
        IF TG_OP = 'UPDATE' AND NOT (OLD.status IS DISTINCT FROM NEW.status) THEN
            RETURN NULL;
        END IF;
        IF NEW.status = 'SENT_TO_CASHIER' THEN
            PERFORM gmcrm.record_trigger('PVR', NEW.contact_id, src, tbl, NEW.id,
                                         p_user_id => NEW.salesperson_user_id);
        ELSIF NEW.status = 'CANCELLED' THEN
            PERFORM dms.record_lost_sale(NEW.contact_id, src, tbl, NEW.id, NEW.reason_id, NEW.salesperson_user_id);
        END IF;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER parts_counter_service_capture AFTER INSERT OR UPDATE ON dms.parts_counter_service
    FOR EACH ROW EXECUTE FUNCTION dms.capture_parts_counter_service();
