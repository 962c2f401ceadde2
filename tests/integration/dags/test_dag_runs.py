"""The runs tell the truth in the Airflow UI (issue 8, points 5 and 8), through ``dag.test()`` against the
GM sandbox and PostgreSQL: a run in which a dealership failed to import, or an event failed for good,
ends failed, its last task naming what failed; a clean run is green; both carry a short summary; a dry
run changes nothing in the outbox, through the DAG too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.dags import (  # noqa: F401 (fixtures)
    airflow_db,
    asset_events,
    dagbag,
    state,
    task_states,
    without_retries,
    xcom,
)
from tests.integration.helpers.imports import create_leads, lead, refuse_contacts_of, rows, scalar
from tests.integration.helpers.send import contacts, import_leads, outbox, seed
from tests.integration.test_alerts import webhook  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

IMPORT_CHECK = "all_dealerships_imported"
SEND_CHECK = "no_events_failed"
CPF = "529.982.247-25"


@pytest.fixture
def conn(dms_conn_env: str) -> Iterator[psycopg.Connection[Any]]:
    """The seeded DMS that ``dms_postgres`` points at; each statement commits on its own."""
    with psycopg.connect(dms_conn_env, autocommit=True) as connection:
        seed(connection)
        yield connection


def _refuse_contacts_of(conn: psycopg.Connection[Any], dealer_code: str) -> None:
    """A DMS rule that refuses a dealership's contacts: its load fails in the database, after all retries.
    The error names a customer's CPF, so the masking of what reaches the UI and the alert shows."""
    refuse_contacts_of(conn, dealer_code, f"is closed for maintenance (ask {CPF})")


# ---------------------------------------------------------------------------------------------
# The import


def test_an_import_in_which_a_dealership_failed_ends_failed_naming_it(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    gm_sandbox: SandboxProcess,
    webhook: list[dict[str, Any]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dag = dagbag.dags["gmcrm_import_leads"]
    without_retries(monkeypatch, dag, "load_dealerships")
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0003"), lead("BR0003"))
    _refuse_contacts_of(conn, "BR0003")

    run = dag.test()

    assert state(run) == "failed"
    states = task_states(run)
    assert states[IMPORT_CHECK] == "failed"
    assert states["load_dealerships[BR0003]"] == "failed"
    assert states["load_dealerships[BR0001]"] == states["load_dealerships[BR0002]"] == "success"
    # The other dealership loaded, and its events still wake the send DAG, the Asset event saying why.
    assert conn.execute("SELECT dealer_code, count(*) FROM dms.contact GROUP BY 1").fetchall() == [("BR0001", 1)]
    assert states["announce_events"] == "success"
    [event] = asset_events(run)
    assert event["asset"] == "gmcrm_trigger_outbox"
    assert event["extra"]["events_recorded"] == 2
    assert event["extra"]["dealerships_with_events"] == ["BR0001"]
    assert event["extra"]["dealerships_failed"] == ["BR0003"]
    # The summary a person sees names the dealership, the stage and the database's words, masked.
    summary = xcom(run, IMPORT_CHECK, "summary")
    assert "BR0003" in summary and "load" in summary and "closed for maintenance" in summary
    assert "SQLSTATE P0001" in summary and "BR0001" not in summary.split("imported:")[0]
    assert CPF not in summary
    # The ops webhook is told too, masked.
    [posted] = [w["body"]["text"] for w in webhook]
    assert "- BR0003 (load): RaiseException: BR0003 is closed for maintenance" in posted
    assert CPF not in posted

    # It keeps failing: the next run fails too, and the alert says for how long.
    run = dag.test()
    assert (state(run), task_states(run)[IMPORT_CHECK]) == ("failed", "failed")
    assert "- BR0003 (load, 2 runs in a row): RaiseException" in webhook[-1]["body"]["text"]


def test_a_clean_import_is_green_with_its_summary(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    gm_sandbox: SandboxProcess,
    webhook: list[dict[str, Any]],  # noqa: F811
) -> None:
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0003"))

    run = dagbag.dags["gmcrm_import_leads"].test()

    assert state(run) == "success"
    assert task_states(run)[IMPORT_CHECK] == "success"
    summary = xcom(run, IMPORT_CHECK, "summary")
    assert summary.startswith("3 dealerships imported") and "2 leads read" in summary
    assert [e["extra"]["dealerships_failed"] for e in asset_events(run)] == [[]]
    assert webhook == []


def test_an_import_whose_extract_failed_ends_failed(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    gm_sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A task that fails as a whole (here the staging table is gone, so nothing can be extracted) fails
    the run although no dealership's failure was recorded."""
    dag = dagbag.dags["gmcrm_import_leads"]
    without_retries(monkeypatch, dag, "extract_leads")
    create_leads(gm_sandbox, lead("BR0001"))
    conn.execute("ALTER TABLE gmcrm.lead_staging RENAME TO lead_staging_gone")

    run = dag.test()

    assert state(run) == "failed"
    states = task_states(run)
    assert (states["extract_leads"], states[IMPORT_CHECK]) == ("failed", "failed")
    assert "extract_leads" in xcom(run, IMPORT_CHECK, "summary")
    assert asset_events(run) == []


# ---------------------------------------------------------------------------------------------
# The sends


def _refused_contact(conn: psycopg.Connection[Any], dms_url: str, sandbox: SandboxProcess) -> str:
    """A lead whose contact (CRE) GM refuses for good: the test drive scheduled after it waits BLOCKED.
    (A lost sale closes the lead, so nothing after it is recorded: the follower must come before a close.)"""
    lead_id, _other = import_leads(dms_url, sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0003", "NEW_VEHICLE"))
    [contact] = contacts(conn, [lead_id])
    dms.register_contact(conn, contact, "PHONE")
    dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")
    cre = next(r for r in outbox(conn, lead_id) if r.trigger_code == "CRE")
    sandbox.admin.record_errors(dms_event_ids=[cre.event_id], status_code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    return lead_id


def test_a_send_run_in_which_an_event_failed_for_good_is_not_green(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
    webhook: list[dict[str, Any]],  # noqa: F811
) -> None:
    lead_id = _refused_contact(conn, dms_conn_env, gm_sandbox)

    run = dagbag.dags["gmcrm_send_triggers"].test()

    assert state(run) == "failed"
    states = task_states(run)
    assert (states["send_lane[lane 0]"], states[SEND_CHECK]) == ("success", "failed")
    assert [r.status for r in outbox(conn, lead_id)][-2:] == ["FAILED", "BLOCKED"]
    cre = outbox(conn, lead_id)[-2]
    summary = xcom(run, SEND_CHECK, "summary")
    assert f"BR0001 event {cre.id} (CRE): INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in summary
    assert "1 blocked behind" in summary and "retry_failed" in summary
    assert len(webhook) == 1  # the lane's alert, once

    # The next run sends nothing new and fails nothing new: green again, while the event still waits.
    run = dagbag.dags["gmcrm_send_triggers"].test()
    assert state(run) == "success"
    assert "1 event(s) FAILED from earlier runs" in xcom(run, SEND_CHECK, "summary")


def test_a_clean_send_run_is_green_with_its_summary(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
) -> None:
    import_leads(dms_conn_env, gm_sandbox, ("BR0001", "NEW_VEHICLE"))

    run = dagbag.dags["gmcrm_send_triggers"].test()

    assert state(run) == "success"
    assert task_states(run)[SEND_CHECK] == "success"
    assert xcom(run, SEND_CHECK, "summary").startswith("2 sent")
    assert {r.status for r in outbox(conn)} == {"SENT"}


def test_a_dry_run_with_retry_failed_changes_nothing_through_the_dag(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead_id = _refused_contact(conn, dms_conn_env, gm_sandbox)
    dag = dagbag.dags["gmcrm_send_triggers"]
    assert state(dag.test()) == "failed"  # the VPE failed for good, the contact after it waits
    before = outbox(conn)
    assert [r.status for r in before if r.lead_id == lead_id][-2:] == ["FAILED", "BLOCKED"]
    received = len(gm_sandbox.admin.events())

    run = dag.test(run_conf={"dry_run": True, "retry_failed": True})

    assert state(run) == "success"
    assert outbox(conn) == before  # statuses, attempts, backoff, last errors and claims as they were
    assert len(gm_sandbox.admin.events()) == received
    dry = rows(dms_conn_env, "SELECT outcome FROM gmcrm.send_log WHERE run_id = %s", run.run_id)
    assert dry == [] or {r[0] for r in dry} == {"DRY_RUN"}
    assert scalar(dms_conn_env, "SELECT count(*) FROM gmcrm.send_log WHERE outcome = 'FAILED'") == 1
