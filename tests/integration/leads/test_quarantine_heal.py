"""Quarantine heals itself: leads quarantined for a DMS setting load on the next run after the setting
is fixed, from their stored GM record (no GM change, no full_resync); ``gmcrm quarantine list/retry``
for the rest. Real PostgreSQL, the sandbox over HTTPS, the pipeline the DAG runs, the CLI as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gmcrm import dealerships, quarantine
from gmcrm.leads import pipeline
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import (
    create_leads,
    fast_client,
    lead,
    one_client,
    rows,
    run_import,
    scalar,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DAYS_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def old_lead(minute: int, dealer_code: str = "BR0001", lead_type: str = "NEW_VEHICLE", **fields: Any) -> dict[str, Any]:
    """A lead GM last changed days ago: far outside the 600 s lookback of every later run."""
    at = _stamp(DAYS_AGO + timedelta(minutes=minute))
    return lead(dealer_code, lead_type, SystemModstamp=at, CreatedDate=at, **fields)


NAMELESS = {"First_Name__c": None, "Last_Name__c": None, "Email__c": None, "Mobile_Phone__c": None}


def _quarantine(dms: str, lead_id: str) -> dict[str, Any]:
    with psycopg.connect(dms) as conn:
        cur = conn.execute("SELECT * FROM gmcrm.lead_quarantine WHERE lead_id = %s", (lead_id,))
        names = [d.name for d in cur.description or []]
        row = cur.fetchone()
    assert row is not None, f"lead {lead_id} was never quarantined"
    return dict(zip(names, row, strict=True))


def _sql(dms: str, query: str, *params: Any) -> None:
    with psycopg.connect(dms) as conn:
        conn.execute(query, params)


def gmcrm(dms: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``gmcrm`` command line as a person runs it (its own process)."""
    env = {
        **os.environ,
        "GMCRM_DMS_URL": dms,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "sandbox"), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "gmcrm.cli", *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_leads_without_contact_settings_load_on_the_next_run_after_the_settings_are_added(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    _sql(dms, "DELETE FROM gmcrm.contact_setting WHERE dealer_code = 'BR0001'")
    waiting = create_leads(gm_sandbox, *(old_lead(m) for m in range(3)))
    (nameless,) = create_leads(gm_sandbox, old_lead(5, **NAMELESS))
    # A lead GM changed just now: the watermark moves to it, so the next run reads only the last 600 s.
    (fresh,) = create_leads(gm_sandbox, lead("BR0001", "SERVICE"))
    client = fast_client()
    _summary, done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed and done[0].quarantined == 5 and done[0].contacts_created == 0
    for w in waiting:
        q = _quarantine(dms, w["Id"])
        assert q["reason_code"] == "NO_CONTACT_SETTING"
        assert q["reason"] == (
            "Dealership BR0001 has no contact type and subtype for New Vehicle leads: set them with "
            "`gmcrm contact-settings set BR0001 --lead-type NEW_VEHICLE --contact-type TYPE --contact-subtype "
            "SUBTYPE` and the lead is tried again on the next run"
        )
    before = _quarantine(dms, nameless["Id"])
    assert before["reason_code"] == "NO_NAME_NO_CONTACT"
    assert "complete the lead at GM (it loads on its next change)" in before["reason"]
    watermark = scalar(dms, "SELECT gm_modstamp FROM gmcrm.import_watermark WHERE dealer_code = 'BR0001'")

    # The settings are added (as `gmcrm contact-settings set` or a DMS screen would); nothing changes at GM.
    _sql(
        dms,
        "INSERT INTO gmcrm.contact_setting (dealer_code, lead_type, contact_type, contact_subtype) "
        "VALUES ('BR0001', 'NEW_VEHICLE', 'VENDA', 'VEICULO_NOVO')",
    )
    summary, done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed
    assert summary.retried == 3 and summary.records == 4  # GM's query read only the fresh lead
    assert done[0].contacts_created == 3
    for w in waiting:
        contact = rows(dms, "SELECT contact_type, gm_modstamp FROM dms.contact WHERE lead_id = %s", w["Id"])
        assert contact and contact[0][0] == "VENDA"
        assert contact[0][1] == datetime.strptime(w["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert _quarantine(dms, w["Id"])["resolved_at"] is not None
    # The data reason stays, untouched: only GM's next change (or a person) brings it back.
    after = _quarantine(dms, nameless["Id"])
    assert after["resolved_at"] is None
    assert (after["times_seen"], after["last_seen_at"]) == (before["times_seen"], before["last_seen_at"])
    assert _quarantine(dms, fresh["Id"])["reason_code"] == "NO_CONTACT_SETTING"  # SERVICE has none yet
    # Re-staged records are old: they never move the watermark (and the load's staged count matched).
    assert scalar(dms, "SELECT gm_modstamp FROM gmcrm.import_watermark WHERE dealer_code = 'BR0001'") == watermark
    assert scalar(dms, "SELECT count(*) FROM gmcrm.lead_staging") == 0

    # Healed once: the next runs do not try the others again until a setting changes.
    summary, done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed and summary.retried == 0 and summary.records == 1
    assert scalar(dms, "SELECT count(*) FROM dms.contact WHERE dealer_code = 'BR0001'") == 3


def test_a_receiving_user_set_later_moves_the_reason_on_and_then_the_lead_loads(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    _sql(dms, "UPDATE gmcrm.dealership SET parts_user_id = NULL WHERE dealer_code = 'BR0003'")
    _sql(dms, "DELETE FROM gmcrm.contact_setting WHERE dealer_code = 'BR0003' AND lead_type = 'PARTS'")
    (parts,) = create_leads(gm_sandbox, old_lead(1, "BR0003", "PARTS"))
    create_leads(gm_sandbox, lead("BR0003", "SERVICE"))  # moves the watermark to now
    client = fast_client()
    run_import(dms, one_client(client), dealer_codes=["BR0003"])
    q = _quarantine(dms, parts["Id"])
    assert q["reason_code"] == "NO_USER"
    assert (
        "`gmcrm dealership set BR0003 --parts-user LOGIN` (logins: `gmcrm users list BR0003`) and the lead is tried "
        "again on the next run" in q["reason"]
    )
    assert "`gmcrm contact-settings set BR0003 --lead-type PARTS" in q["reason"]

    with psycopg.connect(dms) as conn:  # what `gmcrm dealership set BR0003 --parts-user balcao.pecas2` does
        dealerships.upsert_dealership(
            conn, "BR0003", parts_user_id=dealerships.user_id(conn, "BR0003", "balcao.pecas2")
        )
    summary, _done, failed = run_import(dms, one_client(client), dealer_codes=["BR0003"])
    assert not failed and summary.retried == 1
    q = _quarantine(dms, parts["Id"])
    # Tried again: still quarantined, now for what is left to fix (the load alone kept the old reason).
    assert (q["reason_code"], q["resolved_at"], q["times_seen"]) == ("NO_CONTACT_SETTING", None, 2)
    assert "no user" not in q["reason"]
    assert q["retried_at"] is not None and q["retry_run_id"] is None

    summary, _done, _failed = run_import(dms, one_client(client), dealer_codes=["BR0003"])
    assert summary.retried == 0  # nothing changed since: not tried again

    _sql(
        dms,
        "INSERT INTO gmcrm.contact_setting (dealer_code, lead_type, contact_type, contact_subtype) "
        "VALUES ('BR0003', 'PARTS', 'POS_VENDA', 'BALCAO_PECAS')",
    )
    summary, done, failed = run_import(dms, one_client(client), dealer_codes=["BR0003"])
    assert not failed and summary.retried == 1 and done[0].contacts_created == 1
    assert _quarantine(dms, parts["Id"])["resolved_at"] is not None
    # The parts lead opened its counter service, as any new parts lead does.
    assert (
        scalar(
            dms,
            "SELECT count(*) FROM dms.parts_counter_service s JOIN dms.contact c ON c.id = s.contact_id "
            "WHERE c.lead_id = %s",
            parts["Id"],
        )
        == 1
    )


def test_quarantine_list_and_retry_commands(dms: str, gm_sandbox: SandboxProcess) -> None:
    _sql(dms, "DELETE FROM gmcrm.contact_setting WHERE dealer_code = 'BR0001' AND lead_type = 'USED_VEHICLE'")
    (nameless,) = create_leads(gm_sandbox, old_lead(1, **NAMELESS))
    (used,) = create_leads(gm_sandbox, old_lead(2, lead_type="USED_VEHICLE"))
    # A lead type GM filled with a phone number: the reason quotes it, the command line must not.
    (odd,) = create_leads(gm_sandbox, old_lead(3, Lead_Type__c="ligar 11 98765-4321"))
    create_leads(gm_sandbox, lead("BR0001"))  # moves the watermark to now
    client = fast_client()
    run_import(dms, one_client(client), dealer_codes=["BR0001"])

    listed = gmcrm(dms, "quarantine", "list", "BR0001")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    by_lead = {lead_id: next(line for line in lines if lead_id in line) for lead_id in (nameless["Id"], used["Id"])}
    assert by_lead[nameless["Id"]].startswith(f"BR0001   {nameless['Id']} NO_NAME_NO_CONTACT")
    assert " seen 1x " in by_lead[nameless["Id"]] and "first 20" in by_lead[nameless["Id"]]
    assert "`gmcrm contact-settings set BR0001 --lead-type USED_VEHICLE" in by_lead[used["Id"]]
    assert "--department DEPARTMENT` (departments: `gmcrm departments list BR0001`)" in by_lead[used["Id"]]
    assert "98765-4321" not in listed.stdout and "***21" in listed.stdout
    assert "3 lead(s) in quarantine" in listed.stdout

    only = gmcrm(dms, "quarantine", "list", "--reason", "no_name_no_contact")
    assert only.returncode == 0 and nameless["Id"] in only.stdout and used["Id"] not in only.stdout
    assert "1 lead(s) in quarantine (NO_NAME_NO_CONTACT 1)" in only.stdout

    for bad in (["quarantine", "retry"], ["quarantine", "retry", "--reason", "BOGUS"]):
        refused = gmcrm(dms, *bad)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert gmcrm(dms, "quarantine", "retry", "--lead", "006NOTQUARANTINED0").returncode == 1
    assert scalar(dms, "SELECT count(*) FROM gmcrm.lead_quarantine WHERE retry_requested_at IS NOT NULL") == 0

    retried = gmcrm(dms, "quarantine", "retry", "BR0001", "--reason", "NO_NAME_NO_CONTACT")
    assert retried.returncode == 0, retried.stderr
    assert "1 quarantined lead(s) marked" in retried.stdout
    assert "retry-requested" in gmcrm(dms, "quarantine", "list", "BR0001", "--reason", "NO_NAME_NO_CONTACT").stdout

    summary, _done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed and summary.retried == 1  # the marked lead only: the other two were not asked for
    q = _quarantine(dms, nameless["Id"])
    assert (q["reason_code"], q["resolved_at"], q["times_seen"], q["retry_requested_at"]) == (
        "NO_NAME_NO_CONTACT",
        None,
        2,
        None,
    )
    assert " seen 2x " in gmcrm(dms, "quarantine", "list", "--reason", "NO_NAME_NO_CONTACT").stdout
    assert _quarantine(dms, odd["Id"])["times_seen"] == 1

    # --all: every quarantined lead; the next run tries the three (none loads: nothing was fixed).
    assert "3 quarantined lead(s) marked" in gmcrm(dms, "quarantine", "retry", "--all").stdout
    summary, _done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed and summary.retried == 3
    assert scalar(dms, "SELECT count(*) FROM gmcrm.lead_quarantine WHERE resolved_at IS NULL") == 3


def test_a_retried_lead_whose_gm_record_changed_loads_the_newer_record(dms: str, gm_sandbox: SandboxProcess) -> None:
    (nameless,) = create_leads(gm_sandbox, old_lead(1, **NAMELESS, Comments__c="primeira versão"))
    create_leads(gm_sandbox, lead("BR0001"))
    client = fast_client()
    run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert _quarantine(dms, nameless["Id"])["reason_code"] == "NO_NAME_NO_CONTACT"

    assert gmcrm(dms, "quarantine", "retry", "--lead", nameless["Id"]).returncode == 0
    # Meanwhile GM completes the lead: its record now is newer than the one the quarantine stored.
    gm_sandbox.admin.update_lead(nameless["Id"], First_Name__c="Beatriz", Comments__c="segunda versão")
    summary, done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed and done[0].contacts_created == 1
    assert summary.retried == 0  # GM's record of this run was staged; the stored one was not
    query = "SELECT lead_comments, gm_modstamp FROM dms.contact WHERE lead_id = %s"
    ((comments, stamp),) = rows(dms, query, nameless["Id"])
    assert comments == "segunda versão"
    assert stamp == datetime.strptime(
        gm_sandbox.admin.get_lead(nameless["Id"])["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z"
    )
    q = _quarantine(dms, nameless["Id"])
    assert q["resolved_at"] is not None and q["retry_requested_at"] is None


def test_a_stored_record_older_than_the_contact_never_overwrites_it(dms: str, gm_sandbox: SandboxProcess) -> None:
    (loaded,) = create_leads(gm_sandbox, old_lead(10, Comments__c="versão atual"))
    create_leads(gm_sandbox, lead("BR0001"))
    client = fast_client()
    run_import(dms, one_client(client), dealer_codes=["BR0001"])
    record = gm_sandbox.admin.get_lead(loaded["Id"])
    # An older record of the same lead left open in quarantine (as an extract-time quarantine of an
    # earlier change would be), then a person asks to retry everything.
    older = {**record, "Comments__c": "versão antiga", "SystemModstamp": _stamp(DAYS_AGO)}
    _sql(
        dms,
        "INSERT INTO gmcrm.lead_quarantine (lead_id, dealer_code, reason_code, reason, raw_record, gm_modstamp) "
        "VALUES (%s, 'BR0001', 'UNREADABLE_DATE', 'test', %s::jsonb, %s)",
        loaded["Id"],
        json.dumps(older),
        DAYS_AGO,
    )
    with psycopg.connect(dms) as conn:
        assert quarantine.request_retry(conn, "BR0001").marked == 1
    summary, _done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed and summary.retried == 0
    assert scalar(dms, "SELECT lead_comments FROM dms.contact WHERE lead_id = %s", loaded["Id"]) == "versão atual"
    q = _quarantine(dms, loaded["Id"])
    assert q["resolved_at"] is not None and q["retry_requested_at"] is None  # the lead is in the DMS


def test_settings_changes_are_recorded_per_dealership(dms: str) -> None:
    def changed(code: str) -> Any:
        return scalar(dms, "SELECT changed_at FROM gmcrm.dealer_settings_change WHERE dealer_code = %s", code)

    _sql(dms, "DELETE FROM gmcrm.dealer_settings_change")
    # The load's own update of the dealership row is not a settings change.
    _sql(dms, "UPDATE gmcrm.dealership SET last_integration_at = now(), name = 'X' WHERE dealer_code = 'BR0001'")
    assert changed("BR0001") is None
    _sql(dms, "UPDATE gmcrm.contact_setting SET contact_subtype = 'X' WHERE dealer_code = 'BR0001'")
    first = changed("BR0001")
    assert first is not None and changed("BR0002") is None
    _sql(dms, "UPDATE gmcrm.dealership SET routing = 'DISTRIBUTION' WHERE dealer_code = 'BR0001'")
    assert changed("BR0001") > first
    _sql(dms, "UPDATE dms.app_user SET department_id = NULL WHERE dealer_code = 'BR0002' AND login = 'vendedor.vn'")
    _sql(dms, "INSERT INTO dms.department (dealer_code, code, name) VALUES ('BR0003', 'NEW', 'Novo')")
    assert changed("BR0002") is not None and changed("BR0003") is not None
    # A dealership deleted with its settings (cascade) records the change without failing.
    _sql(dms, "DELETE FROM gmcrm.dealership WHERE dealer_code = 'BR0002'")


def test_a_retry_whose_load_never_ran_is_made_again_by_the_next_run(dms: str, gm_sandbox: SandboxProcess) -> None:
    _sql(dms, "DELETE FROM gmcrm.contact_setting WHERE dealer_code = 'BR0001' AND lead_type = 'SERVICE'")
    (service,) = create_leads(gm_sandbox, old_lead(1, lead_type="SERVICE"))
    create_leads(gm_sandbox, lead("BR0001"))
    client = fast_client()
    run_import(dms, one_client(client), dealer_codes=["BR0001"])
    _sql(
        dms,
        "INSERT INTO gmcrm.contact_setting (dealer_code, lead_type, contact_type, contact_subtype) "
        "VALUES ('BR0001', 'SERVICE', 'POS_VENDA', 'OFICINA')",
    )
    # A run whose extract staged the lead again, then died before loading (its staging is left over).
    with psycopg.connect(dms) as conn:
        lost = pipeline.extract(conn, "crashed__run", one_client(client), dealer_codes=["BR0001"])
    assert lost.retried == 1 and _quarantine(dms, service["Id"])["retry_run_id"] == "crashed__run"

    summary, done, failed = run_import(dms, one_client(client), dealer_codes=["BR0001"])
    assert not failed and summary.retried == 1 and done[0].contacts_created == 1
    q = _quarantine(dms, service["Id"])
    assert q["resolved_at"] is not None and q["retry_run_id"] is None


def test_migration_0012_rolls_back_and_applies_again(empty_db_url: str) -> None:
    from yoyo import get_backend, read_migrations

    from gmcrm import migrate
    from gmcrm.paths import MIGRATIONS_DIR

    migrate.upgrade(empty_db_url)
    backend = get_backend(migrate._yoyo_url(empty_db_url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id == "0012.quarantine-heal")
        with backend.lock():
            backend.rollback_migrations(backend.to_rollback(migrations))
    finally:
        backend.connection.close()
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('gmcrm.dealer_settings_change')").fetchone() == (None,)
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'gmcrm' "
            "AND table_name = 'lead_quarantine' AND column_name LIKE 'retr%%'"
        ).fetchone() == (0,)
        # The settings tables take changes again without the triggers.
        conn.execute("INSERT INTO dms.department (dealer_code, code, name) VALUES ('BR0001', 'VN', 'Novos')")
    assert migrate.upgrade(empty_db_url) == ["0012.quarantine-heal"]
