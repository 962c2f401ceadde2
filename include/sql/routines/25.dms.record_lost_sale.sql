-- A lost sale, wherever the DMS records it (a contact action, a proposal rejected or cancelled, a
-- counter service cancelled): the contact closes as lost, then VPE is recorded with the reason. One
-- place, so every source closes and records alike (the lead lock first: mark_contact_closed).
CREATE OR REPLACE FUNCTION dms.record_lost_sale(
    p_contact_id   bigint,
    p_source       text,
    p_source_table text,
    p_source_id    bigint,
    p_reason_id    bigint,
    p_user_id      bigint
) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT dms.mark_contact_closed(p_contact_id, 'CLOSED_LOST');
    SELECT gmcrm.record_trigger('VPE', p_contact_id, p_source, p_source_table, p_source_id,
                                p_reason_id => p_reason_id, p_user_id => p_user_id);
    $$;
