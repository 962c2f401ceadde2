-- Normalisation used for customer matching. The Python side (gmcrm.normalize) implements the
-- same rules; a test keeps the two in agreement.
-- Written as single expressions so that PostgreSQL inlines them (generated columns included):
-- translate() with the non-digits of the value itself strips them ~6x faster than a regexp.
CREATE OR REPLACE FUNCTION gmcrm.digits(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT nullif(translate(value, translate(value, '0123456789', ''), ''), '') $$;
