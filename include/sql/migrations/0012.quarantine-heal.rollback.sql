DROP TRIGGER IF EXISTS department_settings_changed ON dms.department;
DROP TRIGGER IF EXISTS app_user_settings_changed ON dms.app_user;
DROP TRIGGER IF EXISTS dealership_settings_changed ON gmcrm.dealership;
DROP TRIGGER IF EXISTS contact_setting_changed ON gmcrm.contact_setting;
DROP FUNCTION IF EXISTS gmcrm.note_settings_change();
DROP INDEX IF EXISTS gmcrm.lead_quarantine_retry_requested_idx;
DROP INDEX IF EXISTS gmcrm.lead_quarantine_retry_run_idx;
ALTER TABLE gmcrm.lead_quarantine
    DROP COLUMN IF EXISTS retry_run_id,
    DROP COLUMN IF EXISTS retried_at,
    DROP COLUMN IF EXISTS retry_requested_at,
    DROP COLUMN IF EXISTS settings_seen_at;
DROP TABLE IF EXISTS gmcrm.dealer_settings_change;
