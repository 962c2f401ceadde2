"""What the operations page says fixes each quarantined lead and each waiting event."""

from __future__ import annotations

from gmcrm.ops_fixes import event_fix, quarantine_fix


def test_settings_reasons_name_the_setting_the_check_and_the_retry() -> None:
    fix = quarantine_fix("NO_USER", "BR0042", "PARTS")
    assert fix.commands == (
        "gmcrm dealership set BR0042 --parts-user LOGIN",
        "gmcrm dealership check BR0042",
        "gmcrm quarantine retry BR0042 --reason NO_USER",
    )
    settings = quarantine_fix("NO_CONTACT_SETTING", "BR0042", "USED_VEHICLE")
    assert (
        settings.commands[0]
        == "gmcrm contact-settings set BR0042 --lead-type USED_VEHICLE --contact-type ... --contact-subtype ..."
    )
    assert "gmcrm dealership check BR0042" in settings.commands


def test_gm_reasons_say_to_correct_the_lead_at_gm_first() -> None:
    fix = quarantine_fix("FIELD_TOO_LONG", "BR0001", "SERVICE")
    assert fix.first.startswith("Correct the field at GM")
    assert fix.commands == ("gmcrm quarantine retry BR0001 --reason FIELD_TOO_LONG",)
    assert quarantine_fix("SOMETHING_NEW", "", None).commands == ("gmcrm quarantine retry CODE --reason SOMETHING_NEW",)


def test_failed_events_get_commands_and_send_dag_params() -> None:
    row = {
        "id": 7,
        "dealer_code": "BR0001",
        "status": "FAILED",
        "last_error_code": "UNMAPPED_REASON",
        "reason_code": "V99",
    }
    fix = event_fix(row)
    assert fix.commands == (
        "gmcrm reasons list BR0001 --unmapped",
        "gmcrm reasons map BR0001 V99 <GM reason>",
        "gmcrm events retry 7",
    )
    assert fix.params == {"retry_failed": True, "dealer_codes": ["BR0001"]}
    assert fix.airflow_cli == (
        'airflow dags trigger gmcrm_send_triggers --conf \'{"retry_failed": true, "dealer_codes": ["BR0001"]}\''
    )
    other = event_fix({**row, "last_error_code": "FIELD_INTEGRITY_EXCEPTION"})
    assert other.commands == ("gmcrm events retry 7",) and other.params is not None


def test_waiting_and_final_events_need_nothing_but_a_note() -> None:
    blocked = event_fix({"id": 9, "dealer_code": "BR0001", "status": "BLOCKED", "blocked_by": 7})
    assert blocked.commands == () and blocked.params is None and "event 7" in blocked.note
    assert "deleted at GM" in event_fix({"id": 9, "dealer_code": "BR0001", "status": "CANCELLED"}).note
    assert "next send run" in event_fix({"id": 9, "dealer_code": "BR0001", "status": "RETRY"}).note
