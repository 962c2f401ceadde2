"""Latency from a DMS commit to GM's receipt, under Airflow's real scheduler, triggerer and executor.

    .venv/bin/python benchmarks/bench_latency.py [--events 1000] [--rate 10] [--dealers 12]
        [--wakeup on|off|both]

Starts the GM CRM sandbox (HTTPS, its own process), a DMS database (``GMCRM_BENCH_PG_URL``, else the
PostgreSQL at 127.0.0.1:5432 when it answers, else an embedded one) and Airflow's API server, scheduler,
DAG processor and triggerer (LocalExecutor, PostgreSQL metadata database:
:class:`gmcrm_devtools.stack.AirflowStack`), both DAGs unpaused as in production. The scheduler's first
import brings GM's leads into the DMS and the send that follows it empties the outbox. Then the DMS
registers a contact on one imported lead at a time, each in its own transaction, at ``--rate`` per
second until ``--events`` events (CRE, written to the outbox by the DMS's own trigger, its
``occurred_at`` the commit's clock). When every event is SENT, each one's latency is GM's receipt (the
sandbox's ``first_received_at`` of the Lead_Event__c, 1-second resolution: it truncates) minus the
DMS's ``occurred_at``. Prints p50, p95, max and the send runs by type.

``--wakeup on``: the outbox watcher (LISTEN/NOTIFY through the triggerer) wakes the send DAG;
``off`` (``GMCRM_SEND_WAKEUP=off``): only its 5-minute schedule does, for comparison; ``both`` runs
the two in turn.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "sandbox"), str(ROOT / "benchmarks")]

import psycopg  # noqa: E402
from bench_import import fresh_db, server_url  # noqa: E402

from gmcrm import db  # noqa: E402
from gmcrm.airflow_support import postgres_conn_json, salesforce_conn_json  # noqa: E402
from gmcrm.dag_defaults import SEND_DAG_ID  # noqa: E402
from gmcrm_devtools.cycle import settle, utcnow  # noqa: E402
from gmcrm_devtools.stack import AirflowStack  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402

# Imported contacts nobody has worked yet, with who would register the contact: one per event.
CANDIDATES_SQL = """
SELECT c.id, coalesce(c.assigned_user_id, c.distribution_owner_user_id)
FROM dms.contact c
WHERE c.lead_id IS NOT NULL AND c.gm_deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM dms.contact_action a WHERE a.contact_id = c.id)
ORDER BY c.dealer_code, c.id
"""
REGISTER_SQL = "INSERT INTO dms.contact_action (contact_id, kind, user_id) VALUES (%s, 'CONTACT', %s)"
UNSENT_SQL = "SELECT count(*) FROM gmcrm.trigger_outbox WHERE id > %s AND status <> 'SENT'"
EVENTS_SQL = "SELECT dealer_code || '-' || id, occurred_at FROM gmcrm.trigger_outbox WHERE id > %s ORDER BY id"
LAST_ID_SQL = "SELECT coalesce(max(id), 0) FROM gmcrm.trigger_outbox"
SENDABLE_SQL = "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status IN ('PENDING', 'RETRY')"


@dataclass
class Result:
    mode: str
    events: int
    seconds: float
    latencies: list[float]
    runs: dict[str, int]
    missing: int

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat)
        p95 = lat[max(0, round(0.95 * len(lat)) - 1)]
        runs = ", ".join(f"{k} {v}" for k, v in sorted(self.runs.items())) or "none"
        return (
            f"{self.mode:<14} {self.events:>6} events in {self.seconds:5.0f} s ({self.events / self.seconds:4.1f}/s)  "
            f"p50 {p50:5.1f} s  p95 {p95:5.1f} s  max {lat[-1]:5.1f} s  send runs: {runs}"
            + (f"  NOT RECEIVED {self.missing}" if self.missing else "")
        )


def stream_events(dms_url: str, candidates: list[tuple[int, int | None]], rate: float) -> float:
    """One DMS transaction per event, at a steady rate; the stream's length in seconds."""
    interval = 1.0 / rate
    started = time.monotonic()
    with psycopg.connect(dms_url, autocommit=True) as conn:
        for i, (contact_id, user_id) in enumerate(candidates):
            delay = started + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            conn.execute(REGISTER_SQL, (contact_id, user_id))
    return time.monotonic() - started


def wait_sent(dms_url: str, after_id: int, timeout: float) -> int:
    """Wait until every event after ``after_id`` is SENT; how many are not (0 when all are)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dms_url, autocommit=True) as conn:
        while True:
            left = int(conn.execute(UNSENT_SQL, (after_id,)).fetchone()[0])  # type: ignore[index]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(1)


def measure(args: argparse.Namespace, server: str, wakeup: bool) -> Result:
    mode = "watcher on" if wakeup else "cron only"
    codes = [f"BR{i:04d}" for i in range(1, args.dealers + 1)]
    per_dealer = -(-int(args.events * 1.6) // args.dealers)  # not every lead makes a CRE
    name = f"gmcrm_bench_latency_{'on' if wakeup else 'off'}"
    print(f"\n=== {mode}: {args.events} events at {args.rate}/s ===", flush=True)
    with SandboxProcess(dealer_codes=codes, leads_per_dealer=per_dealer, seed=2027) as sandbox:
        dms_url = fresh_db(server, name, codes)
        env = {
            "AIRFLOW_CONN_DMS_POSTGRES": postgres_conn_json(dms_url),
            "AIRFLOW_CONN_GM_CRM": salesforce_conn_json(
                sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle
            ),
            "GMCRM_SEND_WAKEUP": "on" if wakeup else "off",
        }
        home = Path(tempfile.mkdtemp(prefix=f"gmcrm-bench-latency-{'on' if wakeup else 'off'}-"))
        t0 = time.monotonic()
        with AirflowStack(home, server, env=env) as stack:
            print(f"Airflow up in {time.monotonic() - t0:.0f} s (logs: {home})", flush=True)
            # The scheduler's first import (and the send after it) before the measurement.
            settle(stack, utcnow() - timedelta(seconds=time.monotonic() - t0))
            if wakeup:
                wait_quiet(dms_url)
            with psycopg.connect(dms_url) as conn:
                candidates = [(int(r[0]), r[1]) for r in conn.execute(CANDIDATES_SQL).fetchall()]
                after_id = int(conn.execute(LAST_ID_SQL).fetchone()[0])  # type: ignore[index]
            print(f"imported; {len(candidates)} contacts to work", flush=True)
            started = utcnow()
            seconds = stream_events(dms_url, candidates[: args.events], args.rate)
            missing = wait_sent(dms_url, after_id, timeout=args.drain_timeout)
            runs = {
                run_type: len(stack.reader.runs_since(SEND_DAG_ID, started, run_type))
                for run_type in ("asset_triggered", "scheduled", "manual")
            }
            received = {
                str(e["DMS_Event_Id__c"]): _sf_time(str(e["first_received_at"])) for e in sandbox.admin.events()
            }
        with psycopg.connect(dms_url) as conn:
            events = [(str(r[0]), r[1]) for r in conn.execute(EVENTS_SQL, (after_id,)).fetchall()]
    db.drop_database(server, name)
    latencies = [(received[eid] - at).total_seconds() for eid, at in events if eid in received]
    if missing:
        print(f"{missing} events still unsent after {args.drain_timeout:.0f} s", flush=True)
    return Result(mode, len(events), seconds, latencies, runs, len(events) - len(latencies))


def wait_quiet(dms_url: str, timeout: float = 300.0) -> None:
    """The watcher's first send has emptied the outbox (the import's own events)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dms_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if not conn.execute(SENDABLE_SQL).fetchone()[0]:  # type: ignore[index]
                return
            time.sleep(1)


def _sf_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="DMS events per second")
    parser.add_argument("--dealers", type=int, default=12)
    parser.add_argument("--wakeup", choices=("on", "off", "both"), default="on")
    parser.add_argument("--drain-timeout", type=float, default=900.0, help="seconds to wait for the last sends")
    args = parser.parse_args()
    server, embedded = server_url()
    results: list[Result] = []
    try:
        for wakeup in {"on": (True,), "off": (False,), "both": (True, False)}[args.wakeup]:
            results.append(measure(args, server, wakeup))
            print(results[-1].line(), flush=True)
    finally:
        if embedded is not None:
            embedded.stop()
    print("\nLatency, DMS commit -> GM receipt (LocalExecutor, this machine):")
    for result in results:
        print("  " + result.line())
    if len(results) == 2:
        on, off = (statistics.median(r.latencies) for r in results)
        print(f"  p50 ratio cron only / watcher on: {off / on:.1f}x")
    return 0 if all(not r.missing for r in results) else 1


if __name__ == "__main__":
    threading.current_thread().name = "bench_latency"
    sys.exit(main())
