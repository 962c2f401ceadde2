CREATE OR REPLACE FUNCTION dms.assert_lost_has_reason(p_contact_id bigint, p_reason_id bigint, p_what text)
    RETURNS void
    LANGUAGE plpgsql
    AS $$
    DECLARE
        c record;
    BEGIN
        IF p_reason_id IS NOT NULL THEN
            RETURN;
        END IF;
        SELECT ct.lead_id, ct.lead_type INTO c FROM dms.contact ct
        WHERE ct.id = p_contact_id AND ct.lead_id IS NOT NULL AND ct.gm_deleted_at IS NULL;
        IF FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'GMC02',
                MESSAGE = format('Lead GM não pode ser fechado como perdido sem motivo (%s; contato %s, Lead ID %s): '
                                 'informe o motivo na aba Venda Perdida / a GM lead cannot be closed as lost '
                                 'without a reason: give the lost-sale reason',
                                 p_what, p_contact_id, c.lead_id),
                DETAIL = format('lead type %s; nothing was recorded', c.lead_type),
                HINT = 'Repeat the action with a lost-sale reason (motivo de venda perdida); '
                       'GM receives the reason''s "Motivo no CRM".';
        END IF;
    END
    $$;
