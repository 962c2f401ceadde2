"""The benchmark's Airflow harness: real components (LocalExecutor, PostgreSQL metadata database), a
whole cycle as the scheduler runs it, and nothing left running afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from gmcrm.airflow_support import postgres_conn_json, salesforce_conn_json
from gmcrm.dag_defaults import IMPORT_DAG_ID, SEND_DAG_ID
from gmcrm_devtools import demo_seed
from gmcrm_devtools.cycle import dms_leads, open_gm_leads, record_staff_actions, settle, utcnow
from gmcrm_devtools.stack import AirflowStack
from gmcrm_sandbox.process import SandboxProcess

pytestmark = pytest.mark.integration

CODES = ["BR0001", "BR0002", "BR0003"]


def _one(dms_url: str, query: str) -> Any:
    with psycopg.connect(dms_url) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


def _outbox_keys(dms_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(dms_url) as conn:
        rows = conn.execute("SELECT lead_id, trigger_code FROM gmcrm.trigger_outbox WHERE status = 'SENT'").fetchall()
    return sorted((str(lead), str(code)) for lead, code in rows)


def _gm_keys(sandbox: SandboxProcess) -> list[tuple[str, str]]:
    return sorted((str(e["Lead__c"]), str(e["Trigger_Code__c"])) for e in sandbox.admin.events())


@pytest.mark.timeout(1200)
def test_a_cycle_under_the_real_scheduler_and_no_process_left(
    stack_home: Path, pg_server_url: str, dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    with psycopg.connect(dms_url) as conn:
        demo_seed.seed_demo(conn)
    leads = gm_sandbox.admin.generate(4, dealer_codes=CODES, seed=11, arrived_now=True)["created"]
    env = {
        "AIRFLOW_CONN_DMS_POSTGRES": postgres_conn_json(dms_url),
        "AIRFLOW_CONN_GM_CRM": salesforce_conn_json(
            gm_sandbox.instance_url, gm_sandbox.client_id, gm_sandbox.client_secret, gm_sandbox.ca_bundle
        ),
    }
    stack = AirflowStack(stack_home, pg_server_url, env=env)
    before = utcnow()
    with stack:
        assert set(stack.processes()) == {"api-server", "scheduler", "dag-processor", "triggerer"}
        # Cycle 0: unpaused, the scheduler runs the latest 5-minute boundary at once; the import's Asset
        # event then triggers the send.
        runs = settle(stack, before)
        assert {(r.dag_id, r.state) for r in runs} >= {(IMPORT_DAG_ID, "success"), (SEND_DAG_ID, "success")}
        assert any(r.run_type == "asset_triggered" for r in runs), [(r.dag_id, r.run_type) for r in runs]
        imported = stack.run(IMPORT_DAG_ID, next(r.run_id for r in runs if r.dag_id == IMPORT_DAG_ID))
        loads = [t.state for t in imported.tasks if t.task_id == "load_dealerships"]
        assert loads and set(loads) == {"success"}
        assert imported.wall is not None and imported.critical_path() > 0 and imported.overhead is not None
        # Every GM lead became a contact, was quarantined or was closed at GM; every event reached GM once.
        assert leads == 4 * len(CODES)
        assert open_gm_leads(gm_sandbox.admin) <= dms_leads(dms_url)
        assert _one(dms_url, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status <> 'SENT'") == 0
        sent = _outbox_keys(dms_url)
        assert sent and _gm_keys(gm_sandbox) == sent

        # A steady cycle: staff work, then both DAGs as the cron fires them.
        worked = record_staff_actions(dms_url, 2)
        assert worked == 2 * len(CODES)
        triggered = utcnow()
        run_ids = {dag: stack.trigger(dag) for dag in (IMPORT_DAG_ID, SEND_DAG_ID)}
        runs = settle(stack, triggered)
        assert {r.run_id for r in runs} >= set(run_ids.values())
        assert all(r.state == "success" for r in runs), [(r.dag_id, r.run_id, r.state) for r in runs]
        assert _one(dms_url, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE trigger_code = 'CRE'") == worked
        assert _one(dms_url, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status <> 'SENT'") == 0
        assert _gm_keys(gm_sandbox) == _outbox_keys(dms_url)
        components = list(stack.processes().values())
        assert components

    assert stack.leftovers() == []
    assert all(not p.is_running() or p.status() == "zombie" for p in components)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        dropped = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (stack.db_name,)).fetchone()
    assert dropped is None  # the metadata database went with the stack
