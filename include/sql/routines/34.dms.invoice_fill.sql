CREATE OR REPLACE FUNCTION dms.invoice_fill() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.contact_id IS NULL THEN
            NEW.contact_id := coalesce(
                (SELECT p.contact_id FROM dms.proposal p WHERE p.id = NEW.proposal_id),
                (SELECT s.contact_id FROM dms.parts_counter_service s WHERE s.id = NEW.parts_counter_service_id));
        END IF;
        IF NEW.status = 'ISSUED' THEN
            NEW.issued_at := coalesce(NEW.issued_at, clock_timestamp());
        END IF;
        RETURN NEW;
    END
    $$;

CREATE OR REPLACE TRIGGER invoice_fill BEFORE INSERT OR UPDATE ON dms.invoice
    FOR EACH ROW EXECUTE FUNCTION dms.invoice_fill();
