-- Invoices: a vehicle invoice sent to the cashier confirms the sale (PAP again); any invoice issued
-- is NFF. The source key carries the kind, so the catalogue decides which lead types each kind
-- delivers (a service invoice does not deliver a vehicle lead).
CREATE OR REPLACE FUNCTION dms.capture_invoice() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src text := 'invoice:' || NEW.kind;
        tbl constant text := 'dms.invoice';
        model_id bigint;
        year text;
        code text;
    BEGIN
        IF NEW.contact_id IS NULL OR (TG_OP = 'UPDATE' AND NOT (OLD.status IS DISTINCT FROM NEW.status)) THEN
            RETURN NULL;
        END IF;
        SELECT coalesce(NEW.vehicle_model_id, p.vehicle_model_id) INTO model_id
        FROM (SELECT 1) AS one LEFT JOIN dms.proposal p ON p.id = NEW.proposal_id;
        -- The year: the invoice's, else the proposal's (when the vehicle is the proposal's), else the model's.
        year := coalesce(NEW.model_year,
                         CASE WHEN NEW.vehicle_model_id IS NULL THEN
                             (SELECT p.vehicle_model_year FROM dms.proposal p WHERE p.id = NEW.proposal_id) END,
                         (SELECT vm.model_year FROM dms.vehicle_model vm WHERE vm.id = model_id));
        code := CASE
            WHEN NEW.status = 'SENT_TO_CASHIER' AND NEW.kind = 'VEHICLE' THEN 'PAP'
            WHEN NEW.status = 'ISSUED' THEN 'NFF'
        END;
        IF NEW.status = 'ISSUED' THEN
            PERFORM dms.mark_contact_closed(NEW.contact_id, 'CLOSED_WON');
        END IF;
        IF code IS NOT NULL THEN
            PERFORM gmcrm.record_trigger(code, NEW.contact_id, src, tbl, NEW.id,
                                         p_vehicle_model_id => model_id, p_vehicle_model_year => year,
                                         p_user_id => NEW.user_id);
        END IF;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER invoice_capture AFTER INSERT OR UPDATE ON dms.invoice
    FOR EACH ROW EXECUTE FUNCTION dms.capture_invoice();
