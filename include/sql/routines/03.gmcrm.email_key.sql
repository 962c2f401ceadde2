-- E-mail keys trim what Python's str.strip() trims, as the transform does for GM's e-mails (0001
-- trimmed spaces only, so a DMS customer's e-mail ending in a tab or a no-break space never
-- matched). The customers whose key changes get it recomputed. A test keeps SQL and Python agreeing.
CREATE OR REPLACE FUNCTION gmcrm.email_key(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT nullif(lower(btrim(value, E'\u0009\u000a\u000b\u000c\u000d\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000')), '') $$;
