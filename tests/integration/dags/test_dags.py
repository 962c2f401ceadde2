"""The DAGs: integrity (DagBag, tags, retries, params), parsing without a database, network or secrets,
and a real ``dag.test()`` run of the import DAG against the GM sandbox and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.dags import airflow_db, dagbag, state, xcom  # noqa: F401 (fixtures)
from tests.integration.helpers.imports import create_leads, lead, rows, scalar, seed

ROOT = Path(__file__).resolve().parents[3]
DAG_IDS = ("gmcrm_import_leads", "gmcrm_send_triggers")
#: Each DAG's last task judges the run: trigger rule all_done, never retried (see gmcrm.run_summary).
FINAL_CHECKS = {"gmcrm_import_leads": "all_dealerships_imported", "gmcrm_send_triggers": "no_events_failed"}


def test_dagbag_has_no_import_errors(dagbag: Any) -> None:  # noqa: F811
    assert dagbag.import_errors == {}
    assert set(DAG_IDS) <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_settings(dagbag: Any, dag_id: str) -> None:  # noqa: F811
    dag = dagbag.dags[dag_id]
    assert {"gmcrm", "gm-crm"} <= set(dag.tags)
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout is not None and dag.dagrun_timeout < timedelta(minutes=5)
    assert dag.doc_md and dag_id in dag.doc_md
    assert not dag.catchup
    for task in dag.tasks:
        assert task.owner == "gmcrm-ops"
        if task.task_id == FINAL_CHECKS[dag_id]:
            continue
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
    # The run's verdict: the last task is the only leaf, runs whatever happened before it, and is not retried.
    [leaf] = dag.leaves
    assert (leaf.task_id, leaf.trigger_rule, leaf.retries) == (FINAL_CHECKS[dag_id], "all_done", 0)
    for name, param in dag.params.items():
        assert param.schema.get("title") and param.description, name


def test_params_of_the_spec(dagbag: Any) -> None:  # noqa: F811
    assert {"dealer_codes", "full_resync", "since"} <= set(dagbag.dags["gmcrm_import_leads"].params)
    assert {
        "dealer_codes",
        "retry_failed",
        "lead_id",
        "trigger_codes",
        "occurred_from",
        "occurred_to",
        "dry_run",
    } <= set(dagbag.dags["gmcrm_send_triggers"].params)


def test_schedules(dagbag: Any) -> None:  # noqa: F811
    assert dagbag.dags["gmcrm_import_leads"].timetable.expression == "*/5 * * * *"
    send = dagbag.dags["gmcrm_send_triggers"].timetable
    # Every 5 minutes and as soon as an import has recorded events (an Asset).
    assert send.timetable.expression == "*/5 * * * *"
    assert "gmcrm_trigger_outbox" in repr(send.asset_condition)


def test_parsing_needs_no_database_network_or_secrets(tmp_path: Path) -> None:
    """Import every DAG file with sockets refused and no connections defined."""
    script = textwrap.dedent(
        f"""
        import socket, sys
        def refuse(*args, **kwargs):
            raise RuntimeError("network used at parse time")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(ROOT / "dags")!r})
        assert not bag.import_errors, bag.import_errors
        assert {set(DAG_IDS)!r} <= set(bag.dags), list(bag.dags)
        print("parsed", len(bag.dags))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_") and k != "GMCRM_DMS_URL"}
    env["AIRFLOW_HOME"] = str(tmp_path)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg://nobody@203.0.113.1:1/nothing"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "parsed" in result.stdout


# ---------------------------------------------------------------------------------------------
# dag.test(): the import DAG through Airflow, against the sandbox and PostgreSQL.


def test_import_dag_runs_with_dag_test(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
) -> None:
    with psycopg.connect(dms_conn_env) as conn:
        seed(conn)
    created = create_leads(
        gm_sandbox,
        *(lead(code, t) for code in ("BR0001", "BR0002") for t in ("NEW_VEHICLE", "PARTS", "SERVICE")),
    )
    run = dagbag.dags["gmcrm_import_leads"].test()
    assert str(run.state).endswith("success")
    contacts = rows(dms_conn_env, "SELECT lead_id FROM dms.contact ORDER BY lead_id")
    assert [r[0] for r in contacts] == sorted(c["Id"] for c in created)
    # Every enabled dealership was loaded in its own task (BR0003 had no leads).
    assert scalar(dms_conn_env, "SELECT count(*) FROM gmcrm.import_log") == 3
    tis = {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances()}
    labels = sorted(ti.rendered_map_index for (task, _), ti in tis.items() if task == "load_dealerships")
    assert labels == ["BR0001", "BR0002", "BR0003"]  # mapped task instances named by dealer code
    assert str(tis[("announce_events", -1)].state).endswith("success")  # events were recorded: asset event
    assert state(tis[("all_dealerships_imported", -1)]) == "success"
    assert xcom(run, "all_dealerships_imported", "summary").startswith("3 dealerships imported: 6 leads read")

    # Then the send DAG delivers LIM/LAT to GM.
    run = dagbag.dags["gmcrm_send_triggers"].test()
    assert str(run.state).endswith("success")
    assert scalar(dms_conn_env, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status <> 'SENT'") == 0
    sent = scalar(
        dms_conn_env,
        "SELECT count(*) FROM gmcrm.send_log WHERE outcome = 'SENT' AND dag_id = %s",
        "gmcrm_send_triggers",
    )
    assert sent == scalar(dms_conn_env, "SELECT count(*) FROM gmcrm.trigger_outbox") > 0
    assert len(gm_sandbox.admin.events()) == sent
    assert xcom(run, "no_events_failed", "summary") == f"{sent} sent"


# ---------------------------------------------------------------------------------------------
# Date-time params: refused when the run is triggered (the API server validates a run's conf against
# the serialized DAG's params), and refused again, without retries, by a task that still gets one.

DATETIME_PARAMS = [("gmcrm_import_leads", "since"), ("gmcrm_send_triggers", "occurred_from"),
                   ("gmcrm_send_triggers", "occurred_to")]  # fmt: skip


def _trigger_params(dag: Any, conf: dict[str, Any]) -> Any:
    """What the API server does with a Trigger DAG form or a REST/CLI conf before it creates the run."""
    from airflow.serialization.serialized_objects import DagSerialization

    served = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    return served.params.deep_merge(conf).validate()


@pytest.mark.parametrize(("dag_id", "name"), DATETIME_PARAMS)
@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "yesterday",
        "",
        "2026-13-01T00:00:00Z",
        "2026-11-31T25:00:00Z",
        "2026-11-30T08:00",  # no seconds, no time zone
        "2026-11-30",  # a date without a time
        "30/11/2026 08:00:00",
        "2026-11-30T08:00:00Z; DROP TABLE gmcrm.trigger_outbox",
        12345,
    ],
)
def test_garbage_date_times_are_refused_when_the_run_is_triggered(
    dagbag: Any,  # noqa: F811
    dag_id: str,
    name: str,
    value: Any,
) -> None:
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError) as refused:
        _trigger_params(dagbag.dags[dag_id], {name: value})
    message = str(refused.value)
    assert f"Invalid input for param {name}" in message
    assert "2026-11-30T08:00:00Z" in message  # what to give instead (the schema's example)


@pytest.mark.parametrize(("dag_id", "name"), DATETIME_PARAMS)
@pytest.mark.parametrize(
    "value",
    [
        None,
        "2026-11-30T08:00:00Z",
        "2026-11-30T08:00:00.000Z",  # what the Trigger DAG form's date-time picker sends
        "2026-11-30T05:00:00-03:00",
        "2026-11-30 08:00:00+00:00",
        "2026-11-30T08:00:00.123456+01:00",
    ],
)
def test_iso_date_times_and_null_are_accepted(dagbag: Any, dag_id: str, name: str, value: Any) -> None:  # noqa: F811
    from gmcrm.dag_params import datetime_value

    params = _trigger_params(dagbag.dags[dag_id], {name: value})
    assert params[name] == value
    parsed = datetime_value(params, name)
    assert parsed is None if value is None else parsed.utcoffset() is not None


@pytest.mark.parametrize(
    ("dag_id", "name", "task_id"),
    [("gmcrm_import_leads", "since", "extract_leads"), ("gmcrm_send_triggers", "occurred_to", "prepare_queue")],
)
def test_a_task_that_still_gets_a_bad_date_fails_at_once(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
    dag_id: str,
    name: str,
    task_id: str,
) -> None:
    """30 February has the shape of a date and time, so it passes the trigger; the first task refuses it
    at its first try (no retries, no call to GM), and the run fails, its last task naming that task."""
    with psycopg.connect(dms_conn_env) as conn:
        seed(conn)
    run = dagbag.dags[dag_id].test(run_conf={name: "2026-02-30T08:00:00Z"})

    assert state(run) == "failed"
    [first] = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    assert (state(first), first.try_number) == ("failed", 1)
    assert gm_sandbox.admin.calls()["total"] == 0
    assert f"failed tasks: {task_id}" in xcom(run, FINAL_CHECKS[dag_id], "summary")
