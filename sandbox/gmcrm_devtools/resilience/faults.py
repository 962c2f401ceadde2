"""The fault classes: each injects its fault into a world that has pending leads and events, runs what
the fault hits, and returns how many faults it injected. Cycles until quiet and the counts follow
(``case.run_case``).

GM-side faults are the sandbox's (``gmcrm_sandbox.faults``); PostgreSQL crashes are real
(``pg_ctl stop -m immediate``) at a chosen point of the DAG's own code (which runs in this process
under ``dag.test()``); the killed send worker is a real process killed with SIGKILL; concurrent runs are
threads running the task bodies the DAGs call (one Airflow never runs two runs of a DAG at once, but two
deployments, or a manual run beside a scheduled one in another scheduler, do).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from gmcrm.gm_client import GmClient
from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline
from gmcrm.paths import PROJECT_ROOT
from gmcrm.send.deliver import Sender
from gmcrm.send.report import RunInfo
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.admin import AdminError

from .case import Case, patched
from .env import CLIENT_TIMEOUT, IMPORT_DAG, SEND_DAG, RunRecord

FaultClass = tuple[str, Callable[[Case], int]]


def _sandbox_faults(*specs: dict[str, Any]) -> Callable[[Case], int]:
    """Sandbox faults (admin API specs) added before one cycle; the count of their uses."""

    def inject(case: Case) -> int:
        for spec in specs:
            case.sandbox.admin.add_fault(spec)
        case.cycle()
        return sum(int(spec.get("count", 1)) for spec in specs)

    return inject


def _both(kind: str, query: int, collection: int, **spec: Any) -> Callable[[Case], int]:
    """A fault on the import's queries and on the send's collection calls."""
    return _sandbox_faults(
        {"kind": kind, "count": query, "applies_to": "query", **spec},
        {"kind": kind, "count": collection, "applies_to": "collection", **spec},
    )


def expired_session(case: Case) -> int:
    # Each task signs in afresh: the first session it gets is refused once, the re-sign-in works.
    case.sandbox.admin.refuse_sessions(count=1)
    case.run(IMPORT_DAG)
    case.sandbox.admin.refuse_sessions(count=1)
    case.run(SEND_DAG)
    return 2


def session_refused_again(case: Case) -> int:
    # The first session and the one after signing in again are both refused.
    case.sandbox.admin.refuse_sessions(count=2)
    case.run(IMPORT_DAG)
    case.sandbox.admin.refuse_sessions(count=2)
    case.run(SEND_DAG)
    return 2


def daily_limit(case: Case) -> int:
    case.sandbox.admin.exhaust_daily_limit()
    case.cycle()
    case.sandbox.admin.set_limits(used=0)  # the next day
    return 1


def crash_between_extract_and_load(case: Case) -> int:
    crashed: list[bool] = []
    original = pipeline.load_group

    def load_group(conn: psycopg.Connection[Any], group: Any, mapping: Any) -> Any:
        if not crashed:
            crashed.append(True)
            case.env.pg.crash_and_restart()  # the extract committed; the load task's connection dies
        return original(conn, group, mapping)

    with patched(pipeline, "load_group", load_group):
        case.cycle()
    return len(crashed)


def _wait_for_lock_waiter(server_url: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(server_url, autocommit=True) as probe:
                row = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
                ).fetchone()
            if row and row[0]:
                return
        except psycopg.OperationalError:
            pass
        time.sleep(0.02)


def crash_during_load(case: Case) -> int:
    """The crash hits while a group's load statement runs (held at the advisory lock of its first
    dealership, so the moment is certain rather than a race against a statement of a second or less)."""
    crashed: list[bool] = []
    original = pipeline.load_dealers

    def load_dealers(conn: psycopg.Connection[Any], codes: list[str], run_id: str) -> Any:
        if crashed:
            return original(conn, codes, run_id)
        crashed.append(True)
        blocker = case.env.connect(autocommit=False)
        blocker.execute("SELECT pg_advisory_xact_lock(hashtextextended('gmcrm.load_dealer:' || %s, 0))", (min(codes),))

        def crash() -> None:
            _wait_for_lock_waiter(case.env.pg.server_url)
            case.env.pg.crash_and_restart()

        crasher = threading.Thread(target=crash)
        crasher.start()
        try:
            return original(conn, codes, run_id)
        finally:
            crasher.join()
            blocker.close()

    with patched(pipeline, "load_dealers", load_dealers):
        case.cycle()
    return len(crashed)


def crash_during_send(case: Case) -> int:
    """The crash hits while a send call is on its way (GM applies it), before it is recorded: the first
    call, whether a collection or a composite graph (leads with several events go in graphs)."""
    crashed: list[bool] = []

    def crashing(original: Callable[[GmClient, Any], Any]) -> Callable[[GmClient, Any], Any]:
        def call(self: GmClient, payload: Any) -> Any:
            if crashed:
                return original(self, payload)
            crashed.append(True)
            case.sandbox.admin.add_latency(1.0, count=1, applies_to="collection")
            crasher = threading.Timer(0.3, case.env.pg.crash_and_restart)
            crasher.start()
            try:
                return original(self, payload)
            finally:
                crasher.join()

        return call

    case.run(IMPORT_DAG)
    with (
        patched(GmClient, "upsert_events", crashing(GmClient.upsert_events)),
        patched(GmClient, "upsert_event_graphs", crashing(GmClient.upsert_event_graphs)),
    ):
        case.run(SEND_DAG)
    return len(crashed)


_DYING_WORKER = """
import os, signal, sys
from gmcrm.gm_client import GmClient
from gmcrm.send.deliver import Sender
from gmcrm.send.report import RunInfo
import psycopg

class DiesAfterGmAnswered(Sender):
    def _record(self, attempts, report):
        if any(a.status_code == 200 for a in attempts):
            os.kill(os.getpid(), signal.SIGKILL)  # GM answered; nothing recorded yet
        super()._record(attempts, report)

dms_url, instance_url, client_id, client_secret, ca_bundle = sys.argv[1:6]
client = GmClient.direct(instance_url, client_id, client_secret, ca_bundle, timeout=10.0)
with psycopg.connect(dms_url, autocommit=True) as conn:
    sender = DiesAfterGmAnswered(conn, client, run=RunInfo(dag_id="gmcrm_send_triggers", run_id="killed-worker"))
    sender.prepare()
    sender.run_until_done()
"""


def worker_killed(case: Case) -> int:
    sandbox = case.sandbox
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT / "sandbox")]),
    }
    case.run(IMPORT_DAG)
    result = subprocess.run(
        [sys.executable, "-c", _DYING_WORKER, case.env.dms_url, sandbox.instance_url, sandbox.client_id,
         sandbox.client_secret, sandbox.ca_bundle],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != -signal.SIGKILL:
        case.notes.append(f"the worker was not killed (exit {result.returncode}): {result.stderr[-300:]}")
        return 0
    return 1


def _thread_runs(case: Case, dag_id: str, body: Callable[[psycopg.Connection[Any], str], bool]) -> int:
    """Two runs of ``body`` at once (a barrier starts them together); each judged like a DAG run."""
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def one(run_id: str) -> None:
        with case.env.connect(autocommit=False) as conn:
            barrier.wait()
            try:
                results[run_id] = body(conn, run_id)
            except Exception as exc:
                case.notes.append(f"{run_id}: {type(exc).__name__}")
                results[run_id] = False

    run_ids = [f"concurrent__{uuid.uuid4().hex[:8]}" for _ in range(2)]
    threads = [threading.Thread(target=one, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for run_id in run_ids:
        green = results.get(run_id, False)
        case.judge(RunRecord(dag_id, run_id, green, "success" if green else "failed"))
    return 2


def _import_body(conn: psycopg.Connection[Any], run_id: str) -> bool:
    """The import DAG's tasks: extract, then each group's load (a failed load fails its task)."""
    summary = pipeline.extract(conn, run_id, lambda conn_id: GmClient.from_conn_id(conn_id))
    failed: list[Any] = []
    for group in summary.groups:
        _done, group_failed = pipeline.load_group(conn, group, load_mapping())
        failed += group_failed
    return not failed


def _send_body(conn: psycopg.Connection[Any], run_id: str) -> bool:
    sender = Sender(conn, GmClient.from_conn_id("gm_crm"), run=RunInfo(dag_id=SEND_DAG, run_id=run_id))
    sender.prepare()
    return not sender.run_until_done().failed


def two_imports(case: Case) -> int:
    return _thread_runs(case, IMPORT_DAG, _import_body)


def two_sends(case: Case) -> int:
    case.run(IMPORT_DAG)
    return _thread_runs(case, SEND_DAG, _send_body)


def interleaved_dms_transactions(case: Case) -> int:
    """A no-contact (CNR) recorded in a transaction still open while another commits a test drive done
    (TDR) on the same lead, and a send runs in between."""
    case.cycle()  # what is pending goes first: the lead's earlier events are at GM
    row = case.conn.execute(
        "SELECT t.id, t.contact_id FROM dms.test_drive t JOIN dms.contact c ON c.id = t.contact_id "
        "WHERE c.lead_id IS NOT NULL ORDER BY t.id LIMIT 1"
    ).fetchone()
    if row is None:
        case.notes.append("no test drive to work on")
        return 0
    drive, contact = row
    first = case.env.connect(autocommit=False)
    try:
        dms.register_no_contact(first, contact)  # open: not yet visible to the sender

        def second() -> None:
            with case.env.connect(autocommit=True) as conn:
                dms.complete_test_drive(conn, drive)  # commits at once (or waits for the first, if locked)

        committer = threading.Thread(target=second)
        committer.start()
        committer.join(timeout=2.0)  # finished, or waiting on the first transaction
        case.run(SEND_DAG)
        first.commit()
        committer.join()
    finally:
        first.close()
    return 1


def malformed_corpus(case: Case) -> int:
    """Each malformed GM lead ends loaded or quarantined with a reason; the rest of its batch loads."""
    from tests.data.malformed_leads import malformed_leads  # the corpus (test data), checked by the caller

    created, refused = 0, 0
    for record in malformed_leads("BR0001"):
        try:
            case.sandbox.admin.create_leads([record])
            created += 1
        except AdminError:  # a value GM itself refuses is not a lead GM could send us
            refused += 1
    if refused:
        case.notes.append(f"{refused} corpus leads refused by the sandbox's admin API (not leads at GM)")
    case.cycle()
    return created


def corpus_available() -> bool:
    try:
        from tests.data.malformed_leads import malformed_leads  # noqa: F401
    except ImportError:
        return False
    return True


# Five 503s in a row outlast the client's four tries: the import's extract task fails once and Airflow's
# retry gets through; the send leaves its batch RETRY with a backoff, sent a cycle later.
FAULT_CLASSES: list[FaultClass] = [
    ("GM 503 (JSON body)", _both("status", 5, 5, status=503)),
    ("GM 503 (HTML body)", _both("status", 5, 5, status=503, html=True)),
    ("connection dropped before GM applied the call", _both("drop", 2, 2, when="before")),
    (
        "connection dropped after GM applied it",
        _sandbox_faults({"kind": "drop", "count": 3, "applies_to": "collection", "when": "after"}),
    ),
    ("timeout", _both("latency", 1, 2, seconds=CLIENT_TIMEOUT + 1.5)),
    ("expired session", expired_session),
    ("daily limit", daily_limit),
    (
        "UNABLE_TO_LOCK_ROW on some records",
        _sandbox_faults({"kind": "record_error", "count": 3, "status_code": "UNABLE_TO_LOCK_ROW"}),
    ),
    ("PostgreSQL crash between extract and load", crash_between_extract_and_load),
    ("PostgreSQL crash during a load", crash_during_load),
    ("PostgreSQL crash during a send", crash_during_send),
    ("send worker killed between GM's answer and recording it", worker_killed),
    ("two import runs at once", two_imports),
    ("two send runs at once", two_sends),
    ("two DMS transactions on one lead interleaved with a send", interleaved_dms_transactions),
    ("session refused again right after signing in again", session_refused_again),
]
CORPUS_CLASS: FaultClass = ("malformed-lead corpus", malformed_corpus)
