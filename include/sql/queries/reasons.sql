-- A dealership's DMS reasons and their GM reason (`gmcrm reasons list|map`, gmcrm.dms_catalogues).
-- Named statements; parameters are psycopg named params.

-- name: list
-- The dealership's reasons with their GM reason ('-': none); only the unmapped ones when asked.
SELECT code, reason_type, coalesce(gm_reason, '-') AS gm_reason, description
FROM dms.reason
WHERE dealer_code = %(dealer_code)s AND (NOT %(unmapped)s OR gm_reason IS NULL)
ORDER BY reason_type, code;

-- name: map
-- Set a reason's "Motivo no CRM" (checked against GM's list by the caller and by the table's trigger).
UPDATE dms.reason SET gm_reason = %(gm_reason)s WHERE dealer_code = %(dealer_code)s AND code = %(code)s;
