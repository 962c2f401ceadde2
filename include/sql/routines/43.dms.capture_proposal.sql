-- Proposals: VRE (in person) + PAB when saved; IMA vehicle changed; VTA trade-in attached;
-- PEA sent for approval; PAP approved; VPE rejected or cancelled. Order within one save:
-- showroom visit, opened, vehicle, trade-in, then the approval step.
CREATE OR REPLACE FUNCTION dms.capture_proposal() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'proposal';
        tbl constant text := 'dms.proposal';
        year text;
        trade jsonb;
        old_trade jsonb;
    BEGIN
        year := coalesce(NEW.vehicle_model_year,
                         (SELECT vm.model_year FROM dms.vehicle_model vm WHERE vm.id = NEW.vehicle_model_id));
        trade := dms.proposal_trade_in(NEW);
        PERFORM dms.mark_contact_in_progress(NEW.contact_id);

        IF TG_OP = 'INSERT' THEN
            -- A showroom visit when saved with an in-person form (the catalogue checks the form's type).
            PERFORM gmcrm.record_trigger('VRE', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
            PERFORM gmcrm.record_trigger('PAB', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id,
                                         p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                         p_user_id => NEW.user_id);
        ELSE
            -- Saved again in person after being opened otherwise: the customer came to the showroom.
            IF NEW.contact_form_id IS DISTINCT FROM OLD.contact_form_id THEN
                PERFORM gmcrm.record_trigger('VRE', NEW.contact_id, src, tbl, NEW.id,
                                             p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
            END IF;
            IF (NEW.vehicle_model_id, NEW.vehicle_model_year) IS DISTINCT FROM (OLD.vehicle_model_id, OLD.vehicle_model_year)
               AND NEW.vehicle_model_id IS NOT NULL THEN
                PERFORM gmcrm.record_trigger('IMA', NEW.contact_id, src, tbl, NEW.id,
                                             p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                             p_user_id => NEW.user_id);
            END IF;
        END IF;

        IF TG_OP = 'UPDATE' THEN
            old_trade := dms.proposal_trade_in(OLD);
        END IF;
        IF trade IS NOT NULL AND trade IS DISTINCT FROM old_trade THEN
            PERFORM gmcrm.record_trigger('VTA', NEW.contact_id, src, tbl, NEW.id,
                                         p_trade_in => trade, p_user_id => NEW.user_id);
        END IF;

        IF TG_OP = 'INSERT' OR NEW.approval_state IS DISTINCT FROM OLD.approval_state THEN
            IF NEW.approval_state = 'SENT_FOR_APPROVAL' THEN
                PERFORM gmcrm.record_trigger('PEA', NEW.contact_id, src, tbl, NEW.id,
                                             p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                             p_user_id => NEW.user_id);
            ELSIF NEW.approval_state = 'APPROVED' THEN
                PERFORM gmcrm.record_trigger('PAP', NEW.contact_id, src, tbl, NEW.id,
                                             p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                             p_user_id => NEW.user_id);
            ELSIF NEW.approval_state IN ('REJECTED', 'CANCELLED') THEN
                PERFORM dms.record_lost_sale(NEW.contact_id, src, tbl, NEW.id, NEW.reason_id, NEW.user_id);
            END IF;
        END IF;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER proposal_capture AFTER INSERT OR UPDATE ON dms.proposal
    FOR EACH ROW EXECUTE FUNCTION dms.capture_proposal();
