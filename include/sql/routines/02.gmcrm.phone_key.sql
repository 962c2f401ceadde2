-- A Brazilian phone as area code + number: digits only, the country code 55 and a trunk 0 dropped.
CREATE OR REPLACE FUNCTION gmcrm.phone_key(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN length(gmcrm.digits(value)) IN (12, 13) AND left(gmcrm.digits(value), 2) = '55'
            THEN substr(gmcrm.digits(value), 3)
        WHEN length(gmcrm.digits(value)) IN (11, 12) AND left(gmcrm.digits(value), 1) = '0'
            THEN substr(gmcrm.digits(value), 2)
        ELSE gmcrm.digits(value)
    END
    $$;
