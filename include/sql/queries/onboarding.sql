-- Adding a dealership: what its settings point at and what would quarantine its leads (gmcrm.onboarding, gmcrm.dealerships, gmcrm.cli_onboarding).
-- Named statements (gmcrm.paths.named_queries); parameters are psycopg's (%s or %(name)s).

-- name: contact_types
SELECT code FROM dms.contact_type WHERE dealer_code = %s AND active ORDER BY code

-- name: contact_subtypes
SELECT contact_type, code FROM dms.contact_subtype WHERE dealer_code = %s AND active ORDER BY code

-- name: traffic_origins
SELECT code FROM dms.traffic_origin WHERE dealer_code = %s AND active ORDER BY code

-- name: department_ids
SELECT code, id FROM dms.department WHERE dealer_code = %s

-- name: has_dms_users
SELECT EXISTS (SELECT 1 FROM dms.app_user WHERE dealer_code = %s)

-- name: users_by_id
SELECT id, dealer_code, login, active, department_id FROM dms.app_user WHERE id = ANY(%s)

-- name: dealer_contact_settings
SELECT lead_type, contact_type, contact_subtype, department_id FROM gmcrm.contact_setting
WHERE dealer_code = %s

-- name: department_dealers
SELECT id, dealer_code FROM dms.department WHERE id = ANY(%s)

-- name: same_connection_dealerships
SELECT dealer_code, last_integration_at FROM gmcrm.dealership WHERE gm_conn_id = %s
AND dealer_code <> %s AND last_integration_at IS NOT NULL

-- name: quarantined_now
SELECT reason_code, count(*) FROM gmcrm.lead_quarantine WHERE dealer_code = %s AND resolved_at IS NULL
GROUP BY reason_code ORDER BY 2 DESC, 1

-- name: user_id
SELECT id FROM dms.app_user WHERE dealer_code = %s AND login = %s

-- name: known_logins
SELECT login FROM dms.app_user WHERE dealer_code = %s ORDER BY login

-- name: users_list
SELECT u.login, u.name, coalesce(d.code, '-'), u.active FROM dms.app_user u
LEFT JOIN dms.department d ON d.id = u.department_id WHERE u.dealer_code = %s ORDER BY u.login

-- name: departments_list
SELECT d.code, d.name, count(u.id) FILTER (WHERE u.active) FROM dms.department d
LEFT JOIN dms.app_user u ON u.department_id = d.id WHERE d.dealer_code = %s
GROUP BY d.code, d.name ORDER BY d.code

-- name: settings_list
SELECT s.lead_type, s.contact_type, s.contact_subtype, coalesce(d.code, '-')
FROM gmcrm.contact_setting s LEFT JOIN dms.department d ON d.id = s.department_id
WHERE s.dealer_code = %s

-- name: dealership_traffic_origin
SELECT traffic_origin FROM gmcrm.dealership WHERE dealer_code = %s

-- name: dealership_exists
SELECT 1 FROM gmcrm.dealership WHERE dealer_code = %s

-- name: set_traffic_origin
UPDATE gmcrm.dealership SET traffic_origin = %s WHERE dealer_code = %s

-- name: contact_setting
SELECT contact_type, contact_subtype FROM gmcrm.contact_setting WHERE dealer_code = %s AND lead_type = %s

-- name: save_contact_setting
INSERT INTO gmcrm.contact_setting AS s (dealer_code, lead_type, contact_type, contact_subtype, department_id)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dealer_code, lead_type) DO UPDATE SET
contact_type = EXCLUDED.contact_type, contact_subtype = EXCLUDED.contact_subtype,
department_id = coalesce(EXCLUDED.department_id, s.department_id)

-- name: list_dealerships
-- The columns of gmcrm.dealerships.Dealership; all dealerships, or those of %(codes)s, or the enabled.
SELECT dealer_code, name, integration_enabled, routing, vehicles_user_id, parts_user_id, service_user_id,
       after_sales_user_id, traffic_origin, last_integration_at, gm_conn_id
FROM gmcrm.dealership
WHERE (%(codes)s::text[] IS NULL OR dealer_code = ANY(%(codes)s::text[]))
  AND (NOT %(enabled_only)s OR integration_enabled)
ORDER BY dealer_code
