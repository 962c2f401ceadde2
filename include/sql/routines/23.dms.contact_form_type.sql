CREATE OR REPLACE FUNCTION dms.contact_form_type(p_contact_form_id bigint) RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT type FROM dms.contact_form WHERE id = p_contact_form_id $$;
