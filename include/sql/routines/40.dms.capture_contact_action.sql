-- Capture triggers (40-47): DMS change -> outbox rows, in the same transaction. Which DMS action
-- records which code is decided here (triggers.md, column "DMS action"); whether it applies to the
-- contact's lead type, how many steps it has and everything GM sees comes from the catalogue.
-- Providências: CRE (+ VRE in person, after sales), CNR, NFF (after sales won), VPE.
CREATE OR REPLACE FUNCTION dms.capture_contact_action() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'contact_action';
        tbl constant text := 'dms.contact_action';
    BEGIN
        IF NEW.kind = 'CONTACT' THEN
            PERFORM dms.mark_contact_in_progress(NEW.contact_id);
            PERFORM gmcrm.record_trigger('CRE', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
            -- Then the showroom visit, which the catalogue limits to in-person forms (and after sales).
            PERFORM gmcrm.record_trigger('VRE', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
        ELSIF NEW.kind = 'NO_CONTACT' THEN
            PERFORM dms.mark_contact_in_progress(NEW.contact_id);
            PERFORM gmcrm.record_trigger('CNR', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_reason_id => NEW.reason_id,
                                         p_user_id => NEW.user_id);
        ELSIF NEW.kind = 'CLOSING' AND NEW.result = 'WON' THEN
            PERFORM dms.mark_contact_closed(NEW.contact_id, 'CLOSED_WON');
            PERFORM gmcrm.record_trigger('NFF', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
        ELSIF NEW.kind IN ('CLOSING', 'LOST_SALE', 'DISCARD', 'INACTIVATION') THEN
            PERFORM dms.record_lost_sale(NEW.contact_id, src, tbl, NEW.id, NEW.reason_id, NEW.user_id);
        END IF;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER contact_action_capture AFTER INSERT ON dms.contact_action
    FOR EACH ROW EXECUTE FUNCTION dms.capture_contact_action();
