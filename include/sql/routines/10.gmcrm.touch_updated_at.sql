-- updated_at of the rows a person edits, and the tables that keep it.
CREATE OR REPLACE FUNCTION gmcrm.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        NEW.updated_at := now();
        RETURN NEW;
    END
    $$;

CREATE OR REPLACE TRIGGER contact_touch BEFORE UPDATE ON dms.contact
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER customer_touch BEFORE UPDATE ON dms.customer
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER dealership_touch BEFORE UPDATE ON gmcrm.dealership
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER invoice_touch BEFORE UPDATE ON dms.invoice
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER proposal_touch BEFORE UPDATE ON dms.proposal
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER reason_touch BEFORE UPDATE ON dms.reason
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER service_appointment_touch BEFORE UPDATE ON dms.service_appointment
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER test_drive_touch BEFORE UPDATE ON dms.test_drive
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

CREATE OR REPLACE TRIGGER trigger_outbox_touch BEFORE UPDATE ON gmcrm.trigger_outbox
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();
