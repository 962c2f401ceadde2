"""The DAGs: integrity (DagBag, tags, retries, params), parsing without a database, network or secrets,
and a real ``dag.test()`` run of the import DAG against the GM sandbox and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gmcrm_sandbox.process import SandboxProcess
from tests.integration.import_helpers import create_leads, lead, rows, scalar, seed

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = ("gmcrm_import_leads", "gmcrm_send_triggers")


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dagbag_has_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(DAG_IDS) <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_settings(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert {"gmcrm", "gm-crm"} <= set(dag.tags)
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout is not None and dag.dagrun_timeout < timedelta(minutes=5)
    assert dag.doc_md and dag_id in dag.doc_md
    assert not dag.catchup
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.owner == "gmcrm-ops"
    for name, param in dag.params.items():
        assert param.schema.get("title") and param.description, name


def test_params_of_the_spec(dagbag: Any) -> None:
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


def test_schedules(dagbag: Any) -> None:
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


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Airflow's metadata database (SQLite under the test AIRFLOW_HOME), migrated once."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    yield


def test_import_dag_runs_with_dag_test(
    airflow_db: None, dagbag: Any, dms_conn_env: str, gm_sandbox: SandboxProcess
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
