CREATE OR REPLACE FUNCTION dms.proposal_rules() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NEW.contact_form_id IS NULL THEN
            NEW.contact_form_id := (SELECT ct.contact_form_id FROM dms.contact ct WHERE ct.id = NEW.contact_id);
        END IF;
        -- Rejecting or cancelling a proposal registers a lost sale: it needs a reason.
        IF NEW.approval_state IN ('REJECTED', 'CANCELLED')
           AND (TG_OP = 'INSERT' OR OLD.approval_state IS DISTINCT FROM NEW.approval_state) THEN
            PERFORM dms.assert_lost_has_reason(NEW.contact_id, NEW.reason_id,
                                               'proposal ' || lower(NEW.approval_state));
        END IF;
        RETURN NEW;
    END
    $$;

CREATE OR REPLACE TRIGGER proposal_rules BEFORE INSERT OR UPDATE ON dms.proposal
    FOR EACH ROW EXECUTE FUNCTION dms.proposal_rules();
