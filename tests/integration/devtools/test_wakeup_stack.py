"""Event-driven sends under Airflow's real scheduler, triggerer and executor (AirflowStack): a DMS
transaction saving several events wakes the send DAG within seconds, as one Asset event and one run;
events committed while a send run is active make one run after it, never a second one at the same time
(max_active_runs); a run triggered meanwhile waits too; GM gets every event once, in order per lead."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gmcrm.airflow_support import postgres_conn_json, salesforce_conn_json
from gmcrm.dag_defaults import SEND_DAG_ID
from gmcrm_devtools import demo_seed
from gmcrm_devtools.cycle import settle, utcnow
from gmcrm_devtools.stack import AirflowStack
from gmcrm_devtools.stack_facts import FINISHED, RunFacts
from gmcrm_sandbox.process import SandboxProcess

pytestmark = pytest.mark.integration

CODES = ["BR0001", "BR0002", "BR0003"]
UNWORKED_SQL = """
SELECT c.id, coalesce(c.assigned_user_id, c.distribution_owner_user_id) FROM dms.contact c
WHERE c.lead_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dms.contact_action a WHERE a.contact_id = c.id)
ORDER BY c.id
"""
REGISTER_SQL = "INSERT INTO dms.contact_action (contact_id, kind, user_id) VALUES (%s, 'CONTACT', %s)"


def _scalar(dms_url: str, query: str) -> Any:
    with psycopg.connect(dms_url) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


def _send_runs(stack: AirflowStack, since: Any) -> list[RunFacts]:
    return [stack.run(SEND_DAG_ID, rid) for rid in stack.reader.runs_since(SEND_DAG_ID, since)]


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


@pytest.mark.timeout(1500)
def test_a_dms_commit_wakes_the_send_dag_once_and_runs_never_overlap(
    stack_home: Path, pg_server_url: str, dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    with psycopg.connect(dms_url) as conn:
        demo_seed.seed_demo(conn)
    gm_sandbox.admin.generate(6, dealer_codes=CODES, seed=12, arrived_now=True)
    env = {
        "AIRFLOW_CONN_DMS_POSTGRES": postgres_conn_json(dms_url),
        "AIRFLOW_CONN_GM_CRM": salesforce_conn_json(
            gm_sandbox.instance_url, gm_sandbox.client_id, gm_sandbox.client_secret, gm_sandbox.ca_bundle
        ),
    }
    stack = AirflowStack(stack_home, pg_server_url, env=env)
    before = utcnow()
    with stack:
        settle(stack, before)  # the first import and the sends after it
        _wait_for(
            lambda: _scalar(dms_url, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status <> 'SENT'") == 0,
            180,
            "the import's events were not all sent",
        )
        time.sleep(5)
        settle(stack, before, expect_import=False)
        with psycopg.connect(dms_url) as conn:
            unworked = [(int(r[0]), r[1]) for r in conn.execute(UNWORKED_SQL).fetchall()]
        assert len(unworked) >= 8

        # One screen saving five events in one transaction: one wake-up, one asset-triggered run, soon.
        saved = utcnow()
        with psycopg.connect(dms_url) as conn, conn.transaction():
            for contact_id, user_id in unworked[:5]:
                conn.execute(REGISTER_SQL, (contact_id, user_id))
        _wait_for(lambda: bool(_send_runs(stack, saved)), 90, "no send run after the DMS commit")
        first = _send_runs(stack, saved)
        assert [r.run_type for r in first] == ["asset_triggered"]
        assert first[0].queued_at is not None and first[0].queued_at - saved < timedelta(seconds=60)

        # While it runs: more commits and a manual run. Airflow queues them behind the active run.
        for contact_id, user_id in unworked[5:8]:
            with psycopg.connect(dms_url) as conn:
                conn.execute(REGISTER_SQL, (contact_id, user_id))
        manual = stack.trigger(SEND_DAG_ID)
        _wait_for(
            lambda: _scalar(dms_url, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status <> 'SENT'") == 0,
            300,
            "the DMS's events were not all sent",
        )
        stack.wait(SEND_DAG_ID, manual, timeout=300)
        _wait_for(lambda: all(r.state in FINISHED for r in _send_runs(stack, saved)), 300, "send runs still active")
        runs = sorted(_send_runs(stack, saved), key=lambda r: r.started_at or saved)

    assert all(r.state == "success" for r in runs), [(r.run_id, r.state) for r in runs]
    # Never two send runs at once: each started after the previous one ended.
    for earlier, later in itertools.pairwise(runs):
        assert earlier.ended_at is not None and later.started_at is not None
        assert later.started_at >= earlier.ended_at, (earlier.run_id, later.run_id)
    # Coalesced: 8 events in 4 transactions, 1 manual run; far fewer asset-triggered runs than commits.
    assert sum(r.run_type == "asset_triggered" for r in runs) <= 3
    # Every event at GM once (GM upserts on the event id, so a resend would show as a second receipt).
    events = gm_sandbox.admin.events()
    assert len(events) == _scalar(dms_url, "SELECT count(*) FROM gmcrm.trigger_outbox")
    assert all(e["receipts"] == 1 for e in events), [e for e in events if e["receipts"] != 1]
