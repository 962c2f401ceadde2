-- The foreign key alone would accept a GM reason that GM has withdrawn, and its message names no fix.
CREATE OR REPLACE FUNCTION dms.reason_check_gm_reason() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.gm_reason IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM gmcrm.gm_reason g WHERE g.code = NEW.gm_reason AND g.active) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'GMC03',
                MESSAGE = format('Motivo no CRM %L não está na lista da GM (motivo %s da revenda %s) / '
                                 'GM reason %L is not in GM''s list',
                                 NEW.gm_reason, NEW.code, NEW.dealer_code, NEW.gm_reason),
                HINT = 'Use one of: ' || coalesce((SELECT string_agg(code, ', ' ORDER BY position)
                                                   FROM gmcrm.gm_reason WHERE active), '(none loaded)');
        END IF;
        RETURN NEW;
    END
    $$;

CREATE OR REPLACE TRIGGER reason_gm_reason_check BEFORE INSERT OR UPDATE OF gm_reason ON dms.reason
    FOR EACH ROW EXECUTE FUNCTION dms.reason_check_gm_reason();
