"""Sending under concurrency and crashes: two runs at once never send an event twice, and a run killed
between GM's answer and the recording of it leaves a claim that expires, after which the event is sent
again and GM still has it once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import psycopg
import pytest

from gmcrm.send.deliver import Sender
from gmcrm.send.report import Attempt, RunInfo, SendReport
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, one_client, run_import
from tests.integration.helpers.send import (
    DAG_ID,
    assert_delivered_exactly_once_in_order,
    contacts,
    import_leads,
    outbox,
    send,
    send_log,
)

pytestmark = pytest.mark.integration


def test_two_send_runs_at_once_never_send_an_event_twice(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    n_leads = 100
    created = create_leads(gm_sandbox, *(lead(("BR0001", "BR0003")[i % 2]) for i in range(n_leads)))
    _, _, failed = run_import(dms_url, one_client(fast_client()))
    assert not failed
    lead_ids = [str(c["Id"]) for c in created]
    for contact in contacts(conn, lead_ids):
        dms.register_contact(conn, contact, "PHONE")
    total = len(outbox(conn))
    assert total == 3 * n_leads

    # Slow answers widen the window in which both runs hold claims.
    gm_sandbox.admin.add_latency(0.15, count=8, applies_to="collection")
    start = threading.Barrier(2)
    reports: dict[str, SendReport] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            with psycopg.connect(dms_url, autocommit=True) as own:
                sender = Sender(
                    own, fast_client(), run=RunInfo(dag_id=DAG_ID, run_id=name, try_number=1), claim_size=25
                )
                start.wait(timeout=30)
                reports[name] = sender.run_until_done()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    Sender(conn, None).prepare()
    threads = [threading.Thread(target=run, args=(name,)) for name in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    # Both runs did part of the work...
    sent = {name: r.totals()["SENT"] for name, r in reports.items()}
    assert sent["run-a"] > 0 and sent["run-b"] > 0, sent
    assert sent["run-a"] + sent["run-b"] == total
    # ... and no event went to GM twice, nor was claimed by both: one call-record and one SENT log row each.
    receipts = Counter(r["dms_event_id"] for r in gm_sandbox.admin.receipts())
    assert len(receipts) == total and set(receipts.values()) == {1}
    log = send_log(conn)
    assert len(log) == total and {e["outcome"] for e in log} == {"SENT"}
    assert Counter(e["outbox_id"] for e in log).most_common(1)[0][1] == 1
    assert {e["run_id"] for e in log} == {"run-a", "run-b"}
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)


class Killed(Exception):
    """The worker died: after GM answered, before anything was recorded."""


class DiesAfterTheCall(Sender):
    """A Sender whose process is killed right after its first call to GM returns."""

    def _record(self, attempts: list[Attempt], report: SendReport) -> None:
        if any(a.status_code == 200 for a in attempts):
            raise Killed
        super()._record(attempts, report)


def test_killed_between_the_call_and_the_recording_sends_again_once_its_session_ends(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    lead_id, other_lead = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0003", "SERVICE"))
    lim, lat = outbox(conn, lead_id)
    other_lim = outbox(conn, other_lead)[0]

    doomed = psycopg.connect(dms_url, autocommit=True)
    try:
        dying = DiesAfterTheCall(
            doomed, fast_client(), run=RunInfo(dag_id=DAG_ID, run_id="killed", try_number=1), lead_depth=1
        )
        dying.prepare()
        with pytest.raises(Killed):
            dying.run_until_done()
        # GM has the events; the DMS recorded nothing, and the claim stays while its session does.
        assert {r["dms_event_id"] for r in gm_sandbox.admin.receipts()} == {lim.event_id, other_lim.event_id}
        assert send_log(conn) == []
        claimed = outbox(conn, lead_id)[0]
        assert (claimed.status, claimed.attempts, claimed.claimed_by) == ("PENDING", 0, dying.worker)

        # Another run while that session lingers (a hung worker) does not touch the claimed events (nor
        # the ones behind them): the lease holds.
        assert send(conn, run_id="during-lease").totals() == {}
        assert len(gm_sandbox.admin.receipts()) == 2
    finally:
        pid = doomed.info.backend_pid
        doomed.close()  # the worker's process ends: its connection, and PostgreSQL's session, with it
    _wait_for_session_end(conn, pid)

    # The next run sends them again at once, lease or not, then what came after.
    report = send(conn, run_id="after-lease", try_number=2)
    assert report.totals() == {"SENT": 4}
    assert {(r.status, r.attempts) for r in outbox(conn)} == {("SENT", 1)}

    events = gm_sandbox.admin.events(lead_id)
    assert [e["DMS_Event_Id__c"] for e in events] == [lim.event_id, lat.event_id]
    assert [e["receipts"] for e in events] == [2, 1]
    receipts = gm_sandbox.admin.receipts(lead_id)
    assert [(r["dms_event_id"], r["created"]) for r in receipts] == [
        (lim.event_id, True), (lim.event_id, False), (lat.event_id, True),
    ]  # fmt: skip
    lim_log = [e for e in send_log(conn) if e["outbox_id"] == lim.id]
    assert [(e["outcome"], e["run_id"], e["try_number"]) for e in lim_log] == [("SENT", "after-lease", 2)]
    assert lim_log[0]["response_body"]["created"] is False
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)


def _wait_for_session_end(conn: psycopg.Connection[Any], pid: int, timeout: float = 10.0) -> None:
    """PostgreSQL ends a session whose client closed its socket within milliseconds; wait for it."""
    deadline = time.monotonic() + timeout
    while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is not None:
        assert time.monotonic() < deadline, f"session {pid} still there after {timeout}s"
        time.sleep(0.02)


class DiesOnTheContactEvent(Sender):
    """Killed after GM answered the call carrying the CRE, before recording it."""

    def _record(self, attempts: list[Attempt], report: SendReport) -> None:
        if any(a.trigger_code == "CRE" and a.status_code == 200 for a in attempts):
            raise Killed
        super()._record(attempts, report)


def test_a_run_on_the_dags_connection_records_each_batch_as_it_goes(
    conn: psycopg.Connection[Any], dms_conn_env: str, gm_sandbox: SandboxProcess
) -> None:
    """The send task's connection (``dms_postgres`` through the provider's hook, autocommit off, in a
    ``with`` block that rolls back on the way out of a failure): what was sent and recorded before the
    task died stays recorded, and the claim of the call in flight stays, with its lease."""
    from gmcrm import airflow_support as af

    [lead_id] = import_leads(dms_conn_env, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
    dms.register_contact(conn, dms.contact_of_lead(conn, lead_id), "PHONE")

    with pytest.raises(Killed), af.dms_connection() as dag_conn:
        assert not dag_conn.autocommit
        # One event per lead per claim: three batches in one run, the third dies.
        sender = DiesOnTheContactEvent(dag_conn, fast_client(), run=RunInfo(DAG_ID, "dag-run", 1), lead_depth=1)
        sender.run_until_done()

    assert [e["Trigger_Code__c"] for e in gm_sandbox.admin.events(lead_id)] == ["LIM", "LAT", "CRE"]
    rows = outbox(conn, lead_id)
    assert [(r.trigger_code, r.status) for r in rows] == [("LIM", "SENT"), ("LAT", "SENT"), ("CRE", "PENDING")]
    assert rows[2].claimed_by == sender.worker
    assert [(e["trigger_code"], e["outcome"]) for e in send_log(conn, lead_id)] == [("LIM", "SENT"), ("LAT", "SENT")]


def test_lanes_split_the_leads_by_their_hash_and_cover_them_all(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    create_leads(gm_sandbox, *(lead(("BR0001", "BR0003")[i % 2]) for i in range(30)))
    _, _, failed = run_import(dms_url, one_client(fast_client()))
    assert not failed
    claimed: dict[int, list[int]] = {}
    for lane in range(3):
        sender = Sender(conn, None, lanes=3, lane=lane, lead_depth=1)
        claimed[lane] = sender.claim()
        sender.release(claimed[lane])
    lane_of = dict(
        conn.execute("SELECT id, gmcrm.lead_hash(lead_id) % 3 FROM gmcrm.trigger_outbox WHERE trigger_code = 'LIM'")
    )
    # Every lead's first event is claimed once, by the lane its hash names; each lane gets some.
    assert sorted(i for ids in claimed.values() for i in ids) == sorted(lane_of)
    assert all(lane_of[i] == lane for lane, ids in claimed.items() for i in ids)
    assert all(claimed.values())
    hashes = conn.execute(
        "SELECT gmcrm.lead_hash(v), abs(hashtext(v)::bigint) FROM unnest(%s::text[]) v", (list(map(str, range(500))),)
    ).fetchall()
    assert all(h == expected and h >= 0 for h, expected in hashes)
