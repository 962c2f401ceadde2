-- The reason of the events cancelled because their lead was deleted at GM (also written out in
-- migration 0010's fix of the rows waiting then).
CREATE OR REPLACE FUNCTION gmcrm.lead_deleted_reason(p_deleted_at timestamptz) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT 'lead deleted at GM (the import saw it deleted at '
           || to_char(p_deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC): nothing more is sent '
           || 'for it; a new GM lead for this customer arrives as a new contact'
    $$;
