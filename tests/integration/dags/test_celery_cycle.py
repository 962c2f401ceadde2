"""The cycle on the distributed engine: Airflow's CeleryExecutor with a real broker and two workers.

The broker is :func:`gmcrm_devtools.stack.default_broker`: Redis at 127.0.0.1:6379 when it answers
(CI starts one), else RabbitMQ at 127.0.0.1:5672, else kombu's SQLAlchemy transport on the test's
own PostgreSQL (a real broker, slower: workers poll a table), so these tests never need a skip.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from gmcrm import db, migrate
from gmcrm.airflow_support import postgres_conn_json, salesforce_conn_json
from gmcrm.dag_defaults import IMPORT_DAG_ID, SEND_DAG_ID
from gmcrm_devtools import demo_seed
from gmcrm_devtools.cycle import (
    dms_leads,
    dms_results,
    gm_results,
    open_gm_leads,
    record_staff_actions,
    settle,
    utcnow,
)
from gmcrm_devtools.stack import AirflowStack, Executor
from gmcrm_sandbox.process import SandboxProcess

pytestmark = pytest.mark.integration

CODES = ["BR0001", "BR0002", "BR0003"]


def _fresh_dms(server: str, name: str) -> str:
    db.drop_database(server, name)
    db.ensure_database(server, name)
    url = db.with_database(server, name)
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        demo_seed.seed_demo(conn)
    return url


def _env(dms_url: str, sandbox: SandboxProcess) -> dict[str, str]:
    return {
        "AIRFLOW_CONN_DMS_POSTGRES": postgres_conn_json(dms_url),
        "AIRFLOW_CONN_GM_CRM": salesforce_conn_json(
            sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle
        ),
    }


def _two_cycles(stack_home: Path, server: str, sandbox: SandboxProcess, executor: Executor) -> dict[str, Any]:
    """Cycle 0 by the scheduler, staff work, a triggered cycle; what the DMS and GM hold then."""
    sandbox.admin.reset(empty=True)
    sandbox.admin.generate(5, dealer_codes=CODES, seed=23, arrived_now=True)
    name = f"gmcrm_celery_{executor.lower()}_{int(time.time())}"
    dms_url = _fresh_dms(server, name)
    try:
        before = utcnow()
        with AirflowStack(stack_home / executor, server, executor=executor, env=_env(dms_url, sandbox)) as stack:
            runs = settle(stack, before)
            assert runs and all(r.state == "success" for r in runs), [(r.dag_id, r.state) for r in runs]
            assert record_staff_actions(dms_url, 2) == 2 * len(CODES)
            triggered = utcnow()
            for dag in (IMPORT_DAG_ID, SEND_DAG_ID):
                stack.trigger(dag)
            runs = settle(stack, triggered)
            assert all(r.state == "success" for r in runs), [(r.dag_id, r.state) for r in runs]
            if executor == "CeleryExecutor":
                hosts = {t.hostname for r in runs for t in r.tasks}
                assert hosts and None not in hosts
            assert stack.leftovers()
        assert stack.leftovers() == []
        return {**dms_results(dms_url), **gm_results(sandbox.admin)}
    finally:
        db.drop_database(server, name)


@pytest.mark.timeout(2400)
def test_celery_with_two_workers_finds_what_the_local_executor_finds(
    stack_home: Path, pg_server_url: str, sandbox_process: SandboxProcess
) -> None:
    local = _two_cycles(stack_home, pg_server_url, sandbox_process, "LocalExecutor")
    celery = _two_cycles(stack_home, pg_server_url, sandbox_process, "CeleryExecutor")
    assert local["outbox by status"] == {"SENT": local["outbox"]}
    assert local["GM events"] == local["outbox"] > 0
    assert celery == local


def _running_load(stack: AirflowStack) -> int | None:
    """The pid of a running load task of an import run, if any."""
    with psycopg.connect(stack.metadata_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM task_instance WHERE dag_id = %s AND task_id = 'load_dealerships' "
            "AND state = 'running' AND pid IS NOT NULL LIMIT 1",
            (IMPORT_DAG_ID,),
        ).fetchone()
    return None if row is None else int(row[0])


def _worker_of(stack: AirflowStack, pid: int) -> int | None:
    for name, top in stack.processes().items():
        if name.startswith("worker-") and pid in {p.pid for p in top.children(recursive=True)}:
            return int(name.split("-")[1])
    return None


@pytest.mark.timeout(1800)
def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(
    stack_home: Path, pg_server_url: str, sandbox_process: SandboxProcess
) -> None:
    sandbox_process.admin.reset(empty=True)
    sandbox_process.admin.generate(60, dealer_codes=CODES, seed=29, arrived_now=True)
    name = f"gmcrm_celery_kill_{int(time.time())}"
    dms_url = _fresh_dms(pg_server_url, name)
    env = _env(dms_url, sandbox_process)
    # A task whose worker died stops heartbeating: found after 30 s (not 300) and retried elsewhere.
    env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] = "30"
    try:
        before = utcnow()
        with AirflowStack(stack_home, pg_server_url, executor="CeleryExecutor", env=env) as stack:
            # The scheduler's first import (the latest boundary, at once) loads on the two workers.
            killed: list[int] = []
            deadline = time.monotonic() + 600
            while not killed and time.monotonic() < deadline:
                pid = _running_load(stack)
                worker = _worker_of(stack, pid) if pid else None
                if worker is not None:
                    killed = stack.kill_worker(worker)
                time.sleep(0.2)
            assert killed, "no load task ran on a worker"
            assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == "zombie" for p in killed)
            # The cycle goes on without the dead worker: its task is found (no heartbeat) and retried on
            # the other one; on a slow machine the run may end on its dagrun_timeout instead, which
            # leaves the watermark where it was. Either way the next cycle makes everything whole.
            settle(stack, before)
            again = utcnow()
            for dag in (IMPORT_DAG_ID, SEND_DAG_ID):
                stack.trigger(dag)
            runs = settle(stack, again)
            imports = [r for r in runs if r.dag_id == IMPORT_DAG_ID]
            assert imports and imports[-1].state == "success", [(r.run_id, r.state) for r in imports]
        with psycopg.connect(dms_url) as conn:
            duplicates = conn.execute("SELECT count(*) - count(DISTINCT lead_id) FROM dms.contact").fetchone()
            twice = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM gmcrm.trigger_outbox WHERE trigger_code IN ('LIM', 'LAT') "
                "GROUP BY lead_id, trigger_code HAVING count(*) > 1) t"
            ).fetchone()
            # Not sent yet is only what a killed send task still holds under its lease (10 minutes):
            # the next run after the lease sends it (an upsert at GM: never twice).
            stuck = conn.execute(
                "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status <> 'SENT' "
                "AND NOT (status IN ('PENDING', 'RETRY') AND claimed_until > now())"
            ).fetchone()
            sent = conn.execute("SELECT count(*) FROM gmcrm.trigger_outbox WHERE status = 'SENT'").fetchone()
        assert open_gm_leads(sandbox_process.admin) <= dms_leads(dms_url)  # nothing lost
        assert duplicates == (0,) and twice == (0,)  # nothing loaded or recorded twice
        assert stuck == (0,) and sent is not None and sent[0] > 0
        results = {**dms_results(dms_url), **gm_results(sandbox_process.admin)}
        assert sent[0] <= results["GM events"] <= results["outbox"]  # each event at most once at GM
    finally:
        db.drop_database(pg_server_url, name)
