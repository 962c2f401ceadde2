-- Closing rules (triggers.md "Closing a lead"; also 24 and 32-34). They apply to contacts of live GM
-- leads: that is what keeps the lead from being closed in the DMS while it stays open at GM.
CREATE OR REPLACE FUNCTION dms.contact_action_rules() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        c record;
    BEGIN
        SELECT ct.lead_id, ct.lead_type, ct.contact_form_id, ct.gm_deleted_at INTO c
        FROM dms.contact ct WHERE ct.id = NEW.contact_id;
        -- A contact registered without a form takes the contact's own (manual: the form is required).
        IF NEW.kind = 'CONTACT' AND NEW.contact_form_id IS NULL THEN
            NEW.contact_form_id := c.contact_form_id;
        END IF;

        IF NEW.kind = 'CLOSING' AND NEW.result = 'WON' AND c.lead_id IS NOT NULL AND c.gm_deleted_at IS NULL
           AND c.lead_type IN ('NEW_VEHICLE', 'USED_VEHICLE', 'SERVICE', 'PARTS') THEN
            RAISE EXCEPTION USING
                ERRCODE = 'GMC01',
                MESSAGE = format('Lead GM de %s não pode ser fechado como ganho por uma providência (contato %s, '
                                 'Lead ID %s): registre a venda perdida com um motivo, ou conclua a venda pelo '
                                 'faturamento / a %s GM lead cannot be closed as won by a contact action: register '
                                 'a lost sale with a reason, or complete the sale through its invoice',
                                 c.lead_type, NEW.contact_id, c.lead_id, c.lead_type),
                DETAIL = 'Closing it as won here would close the contact in the DMS and leave the lead open at GM; '
                         'nothing was recorded.',
                HINT = 'Only after-sales leads are closed as won by a contact action.';
        END IF;

        IF (NEW.kind = 'CLOSING' AND NEW.result = 'LOST') OR NEW.kind IN ('LOST_SALE', 'DISCARD', 'INACTIVATION') THEN
            PERFORM dms.assert_lost_has_reason(NEW.contact_id, NEW.reason_id,
                                               lower(NEW.kind) || coalesce(' ' || lower(NEW.result), ''));
        END IF;
        RETURN NEW;
    END
    $$;

CREATE OR REPLACE TRIGGER contact_action_rules BEFORE INSERT OR UPDATE ON dms.contact_action
    FOR EACH ROW EXECUTE FUNCTION dms.contact_action_rules();
