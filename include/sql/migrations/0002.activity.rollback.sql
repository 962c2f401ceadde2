-- Undo 0002.activity: functions and triggers first (dropping a table drops its triggers), then the
-- activity tables, the catalogues and the columns added to 0001's tables.
DROP FUNCTION IF EXISTS dms.distribute_contacts_by(bigint[], text, text);
DROP FUNCTION IF EXISTS dms.distribute_contacts(bigint[], bigint[]);

-- Takes the proposal row type: before its table.
DROP FUNCTION IF EXISTS dms.proposal_trade_in(dms.proposal);
DROP TRIGGER IF EXISTS parts_counter_service_capture ON dms.parts_counter_service;
DROP TRIGGER IF EXISTS parts_counter_service_rules ON dms.parts_counter_service;
DROP TABLE IF EXISTS dms.invoice;
DROP TABLE IF EXISTS dms.parts_counter_service_item;
DROP TABLE IF EXISTS dms.service_appointment;
DROP TABLE IF EXISTS dms.proposal;
DROP TABLE IF EXISTS dms.test_drive;
DROP TABLE IF EXISTS dms.contact_action;

DROP FUNCTION IF EXISTS dms.capture_parts_counter_service();
DROP FUNCTION IF EXISTS dms.capture_parts_counter_service_item();
DROP FUNCTION IF EXISTS dms.capture_service_appointment();
DROP FUNCTION IF EXISTS dms.capture_invoice();
DROP FUNCTION IF EXISTS dms.capture_proposal();
DROP FUNCTION IF EXISTS dms.capture_test_drive();
DROP FUNCTION IF EXISTS dms.capture_contact_action();
DROP FUNCTION IF EXISTS dms.invoice_fill();
DROP FUNCTION IF EXISTS dms.parts_counter_service_rules();
DROP FUNCTION IF EXISTS dms.proposal_rules();
DROP FUNCTION IF EXISTS dms.contact_action_rules();
DROP FUNCTION IF EXISTS dms.assert_lost_has_reason(bigint, bigint, text);
DROP FUNCTION IF EXISTS dms.contact_form_type(bigint);
DROP FUNCTION IF EXISTS dms.mark_contact_closed(bigint, text);
DROP FUNCTION IF EXISTS dms.mark_contact_in_progress(bigint);
DROP FUNCTION IF EXISTS gmcrm.record_trigger(text, bigint, text, text, bigint, bigint, bigint, bigint, text, jsonb, bigint);

ALTER TABLE dms.parts_counter_service
    DROP COLUMN IF EXISTS cancelled_at,
    DROP COLUMN IF EXISTS first_item_at,
    DROP COLUMN IF EXISTS contact_form_id,
    DROP COLUMN IF EXISTS reason_id;

DROP TABLE IF EXISTS dms.vehicle_model;
DROP TABLE IF EXISTS dms.reason;
DROP FUNCTION IF EXISTS dms.reason_check_gm_reason();
ALTER TABLE dms.contact DROP CONSTRAINT IF EXISTS contact_contact_form_fk;
DROP TABLE IF EXISTS dms.contact_form;
DROP TABLE IF EXISTS gmcrm.trigger_catalogue;
DROP TABLE IF EXISTS gmcrm.gm_reason;
