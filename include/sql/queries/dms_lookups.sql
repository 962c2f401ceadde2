-- Look-ups of DMS catalogue rows by their code (gmcrm.dms_catalogues: the DMS screen actions and tests).
-- Named statements; parameters are psycopg named params.

-- name: contact_form_id
-- The dealership's first active contact form of a type (a NULL type: one with no type).
SELECT id FROM dms.contact_form
WHERE dealer_code = %(dealer_code)s AND active AND type IS NOT DISTINCT FROM %(code)s
ORDER BY id LIMIT 1;

-- name: reason_id
SELECT id FROM dms.reason WHERE dealer_code = %(dealer_code)s AND code = %(code)s;

-- name: vehicle_model_id
SELECT id FROM dms.vehicle_model WHERE dealer_code = %(dealer_code)s AND code = %(code)s;

-- name: unmapped_reasons
-- Active reasons of the types that need a GM reason and have none (or one GM withdrew); every
-- dealership when dealer_codes is NULL.
SELECT dealer_code, code, description, reason_type FROM dms.reason
WHERE active AND reason_type = ANY (%(types)s)
  AND (gm_reason IS NULL OR NOT (gm_reason = ANY (%(gm_reasons)s)))
  AND (%(dealer_codes)s::text[] IS NULL OR dealer_code = ANY (%(dealer_codes)s::text[]))
ORDER BY dealer_code, code;
