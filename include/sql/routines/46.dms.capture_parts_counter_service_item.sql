-- Counter-service items: the first item ever added is the parts contact (CRE). first_item_at makes
-- it once, even for a multi-row insert or after items are removed and added again.
CREATE OR REPLACE FUNCTION dms.capture_parts_counter_service_item() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        s record;
    BEGIN
        UPDATE dms.parts_counter_service pcs SET first_item_at = clock_timestamp()
        WHERE pcs.id = NEW.parts_counter_service_id AND pcs.first_item_at IS NULL
        RETURNING pcs.id, pcs.contact_id, pcs.salesperson_user_id, pcs.contact_form_id INTO s;
        IF FOUND THEN
            PERFORM dms.mark_contact_in_progress(s.contact_id);
            PERFORM gmcrm.record_trigger('CRE', s.contact_id, 'parts_counter_service', 'dms.parts_counter_service',
                                         s.id,
                                         p_contact_form_id => coalesce(s.contact_form_id,
                                             (SELECT ct.contact_form_id FROM dms.contact ct WHERE ct.id = s.contact_id)),
                                         p_user_id => s.salesperson_user_id);
        END IF;
        RETURN NULL;
    END
    $$;

CREATE OR REPLACE TRIGGER parts_counter_service_item_capture AFTER INSERT ON dms.parts_counter_service_item
    FOR EACH ROW EXECUTE FUNCTION dms.capture_parts_counter_service_item();
