"""Whole 5-minute cycles under Airflow's real scheduler: import + send, 1,000 dealerships by default.

    .venv/bin/python benchmarks/bench_cycle.py [--dealers 1000] [--leads 100] [--events 100] [--cycles 3]
        [--executor local|celery|both] [--dealers-per-task N] [--fire trigger|cron] [--workers 2]

Starts the GM CRM sandbox (HTTPS, its own process), a DMS database (``GMCRM_BENCH_PG_URL``, else the
PostgreSQL at 127.0.0.1:5432 when it answers, else an embedded one) and Airflow's API server, scheduler,
DAG processor and triggerer (and Celery workers) with a PostgreSQL metadata database
(:class:`gmcrm_devtools.stack.AirflowStack`). Both DAGs are unpaused as in production.

Cycle 0 is the first import of every open lead, as the scheduler starts it on its own (the latest
5-minute boundary runs at once), and the send of the events it recorded. Before each steady cycle,
GM gets ``--leads`` new leads per dealership and the DMS ``--events`` staff actions per dealership
(a contact registered: one CRE event each, written by the DMS's own triggers). Then, with
``--fire trigger`` (default), the benchmark triggers both DAGs as the cron does at a boundary, and the
import's Asset event triggers the send again, as in production; a real cron boundary that would fall
inside a cycle is waited for first (its runs are reported). With ``--fire cron`` the real schedule
fires each cycle (up to 5 minutes of waiting per cycle). Every DAG run of a cycle is waited for.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "sandbox"), str(ROOT / "benchmarks")]

import psycopg  # noqa: E402
from bench_import import fresh_db, server_url  # noqa: E402

from gmcrm import db  # noqa: E402
from gmcrm.airflow_support import postgres_conn_json, salesforce_conn_json  # noqa: E402
from gmcrm.dag_defaults import IMPORT_DAG_ID, SEND_DAG_ID  # noqa: E402
from gmcrm_devtools.cycle import (  # noqa: E402
    dms_results,
    gm_results,
    next_boundary,
    record_staff_actions,
    settle,
    utcnow,
)
from gmcrm_devtools.stack import AirflowStack, Executor, RssSampler  # noqa: E402
from gmcrm_devtools.stack_facts import RunFacts  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402

DAGS = (IMPORT_DAG_ID, SEND_DAG_ID)
LEADS_READ_SQL = "SELECT coalesce(sum(leads_read), 0) FROM gmcrm.import_log WHERE run_id = ANY(%s)"
PENDING_SQL = "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status IN ('PENDING', 'RETRY')"

DEFINITIONS = """\
Definitions:
  wall         a DAG run's start to its end (Airflow's dag_run times); cycle = trigger (or boundary)
               to the end of the cycle's last run
  task sum     the sum of the run's task-instance durations
  critical     the task work on the run's longest chain: each task in order, a mapped task counting
               its longest instance
  overhead     wall - critical: what the scheduler, the executor and task start-up added
  queue        a task instance's queued -> started delay (median / max over the run)
  API calls    calls the sandbox counted in the cycle, sign-ins excluded: query pages (query, queryAll,
               queryMore) and collection upserts (+ any other)
  L            leads changed at GM since the previous cycle started (new leads + leads changed by
               events sent, the "echo"); cycle 0: every lead
  E            event records GM received in the cycle (collection records, resends included)
  bound        1 + ceil(L/2000) + ceil(E/200)
  memory       per Airflow component: largest single process RSS / whole tree PSS (children included)
"""


@dataclass
class Cycle:
    number: int
    started: datetime
    wall: float = 0.0
    runs: list[RunFacts] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    leads_read: int = 0
    changed: int = 0
    new_leads: int = 0
    events_recorded: int = 0
    received: int = 0
    pending_after: int = 0
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)
    cron_before: list[RunFacts] = field(default_factory=list)
    prep_seconds: float = 0.0

    @property
    def api_calls(self) -> int:
        return sum(v for k, v in self.calls.items() if k not in ("token", "total", "api_usage"))

    @property
    def query_pages(self) -> int:
        return sum(self.calls.get(k, 0) for k in ("query", "query_more", "query_all"))

    @property
    def bound(self) -> int:
        return 1 + math.ceil(self.changed / 2000) + math.ceil(self.received / 200)


@dataclass
class Outcome:
    executor: str
    cycles: list[Cycle]
    results: dict[str, Any]
    start_seconds: float


def calls_delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) - int(before.get(k, 0)) for k, v in after.items() if isinstance(v, int)}


def run_executor(args: argparse.Namespace, executor: Executor, server: str) -> Outcome:
    codes = [f"BR{i:04d}" for i in range(1, args.dealers + 1)]
    label = "celery" if executor == "CeleryExecutor" else "local"
    print(f"\n=== {executor}{f' ({args.workers} workers)' if label == 'celery' else ''} ===", flush=True)
    with SandboxProcess(dealer_codes=codes, leads_per_dealer=args.leads, seed=2026) as sandbox:
        dms_url = fresh_db(server, f"gmcrm_bench_cycle_{label}", codes)
        env = {
            "AIRFLOW_CONN_DMS_POSTGRES": postgres_conn_json(dms_url),
            "AIRFLOW_CONN_GM_CRM": salesforce_conn_json(
                sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle
            ),
        }
        if args.dealers_per_task:
            env["GMCRM_DEALERS_PER_TASK"] = str(args.dealers_per_task)
        home = Path(tempfile.mkdtemp(prefix=f"gmcrm-bench-cycle-{label}-"))
        t0 = time.monotonic()
        cycles: list[Cycle] = []
        stack = AirflowStack(home, server, executor=executor, workers=args.workers, env=env)
        with stack, RssSampler(stack) as rss:
            start_seconds = time.monotonic() - t0
            print(f"Airflow up in {start_seconds:.0f}s (logs: {home}); broker: {stack.broker_url or '-'}", flush=True)
            admin = sandbox.admin
            # Cycle 0: the scheduler's own first run (the latest boundary, at once on unpausing).
            # A fresh sandbox: every call and event so far belongs to cycle 0.
            cycle = Cycle(0, utcnow() - timedelta(seconds=start_seconds))
            cycle.changed = int(admin.health()["leads"])
            cycle.runs = settle(stack, cycle.started)
            cycle.started = min(r.queued_at or r.started_at or cycle.started for r in cycle.runs)
            finish_cycle(cycle, admin, dms_url, rss, {}, 0)
            cycles.append(cycle)
            report_cycle(cycle)
            for number in range(1, args.cycles + 1):
                cycles.append(steady_cycle(args, number, stack, admin, dms_url, rss, codes, cycles[-1]))
                report_cycle(cycles[-1])
            results = {**dms_results(dms_url), **gm_results(admin)}
        leftovers = stack.leftovers()
        print(f"stopped; processes left: {len(leftovers)}", flush=True)
    db.drop_database(server, f"gmcrm_bench_cycle_{label}")
    return Outcome(label, cycles, results, start_seconds)


def steady_cycle(
    args: argparse.Namespace,
    number: int,
    stack: AirflowStack,
    admin: Any,
    dms_url: str,
    rss: RssSampler,
    codes: list[str],
    previous: Cycle,
) -> Cycle:
    cron_before: list[RunFacts] = []
    if args.fire == "trigger":
        # Keep the real cron out of the measured cycle: if the next boundary comes before this cycle
        # could end (the last cycle's time, with a margin), let the boundary's runs go first.
        boundary = next_boundary(utcnow())
        needed = (previous.prep_seconds + previous.wall) * 1.3 + 20
        if (boundary - utcnow()).total_seconds() < needed:
            time.sleep(max(0.0, (boundary - utcnow()).total_seconds()) + 2)
            cron_before = settle(stack, boundary - timedelta(seconds=1))
    prep = time.monotonic()
    generated = admin.generate(args.leads, dealer_codes=codes, seed=1000 + number, arrived_now=True)["created"]
    recorded = record_staff_actions(dms_url, args.events)
    prep_seconds = time.monotonic() - prep
    changed = admin.changed_leads(since=previous.started.isoformat())
    calls0 = admin.calls()
    received0 = admin.health()["receipts"]
    if args.fire == "trigger":
        started = utcnow()
        for dag in DAGS:  # as the cron does at a boundary: both DAGs at once
            stack.trigger(dag)
    else:
        started = next_boundary(utcnow())
        time.sleep(max(0.0, (started - utcnow()).total_seconds()))
    cycle = Cycle(number, started, changed=changed, new_leads=generated, events_recorded=recorded)
    cycle.prep_seconds, cycle.cron_before = prep_seconds, cron_before
    rss.reset()
    cycle.runs = settle(stack, started - timedelta(seconds=1))
    finish_cycle(cycle, admin, dms_url, rss, calls0, received0)
    return cycle


def finish_cycle(
    cycle: Cycle, admin: Any, dms_url: str, rss: RssSampler, calls0: dict[str, Any], received0: int
) -> None:
    ends = [r.ended_at for r in cycle.runs if r.ended_at]
    cycle.wall = (max(ends) - cycle.started).total_seconds() if ends else 0.0
    cycle.calls = calls_delta(admin.calls(), calls0)
    cycle.received = int(admin.health()["receipts"]) - received0
    imports = [r.run_id for r in cycle.runs if r.dag_id == IMPORT_DAG_ID]
    with psycopg.connect(dms_url) as conn:
        cycle.leads_read = int(conn.execute(LEADS_READ_SQL, (imports,)).fetchone()[0])  # type: ignore[index]
        cycle.pending_after = int(conn.execute(PENDING_SQL).fetchone()[0])  # type: ignore[index]
    rss.sample()
    cycle.memory = {name: (rss.peak_process[name], rss.peak_tree[name]) for name in sorted(rss.peak_tree)}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report_cycle(cycle: Cycle) -> None:
    print(f"\ncycle {cycle.number}: {cycle.wall:.1f}s wall", end="")
    if cycle.number:
        print(
            f" (prepared in {cycle.prep_seconds:.1f}s: {cycle.new_leads:,} new leads at GM, "
            f"{cycle.events_recorded:,} DMS actions)",
            end="",
        )
    print()
    for run in cycle.cron_before:
        print(f"  before it, a cron boundary: {run.dag_id} {run.run_type} {run.state} {run.wall or 0:.1f}s")
    for run in cycle.runs:
        delays = run.queue_delays()
        print(
            f"  {run.dag_id:<20} {run.run_type:<15} {run.state:<7} wall {run.wall or 0:6.1f}s  "
            f"task sum {run.task_seconds:6.1f}s  critical {run.critical_path():6.1f}s  "
            f"overhead {run.overhead or 0:6.1f}s  TIs {len(run.tasks):4d}  "
            f"queue {_median(delays):.1f}/{max(delays, default=0):.1f}s"
        )
    held = "held" if cycle.api_calls <= cycle.bound else "NOT held"
    print(
        f"  GM API calls {cycle.api_calls} (query pages {cycle.query_pages}, collection "
        f"{cycle.calls.get('collection_upsert', 0)}, sign-ins {cycle.calls.get('token', 0)}); "
        f"bound 1 + ceil(L/2000) + ceil(E/200) = {cycle.bound}: {held}"
    )
    print(
        f"  leads read {cycle.leads_read:,} vs L = {cycle.changed:,} changed at GM; E = {cycle.received:,} events "
        f"received by GM; {cycle.pending_after:,} events still pending after the cycle"
    )
    memory = ", ".join(f"{name} {single:.0f}/{tree:.0f}" for name, (single, tree) in cycle.memory.items())
    print(f"  peak memory MB (process/tree): {memory}", flush=True)


def compare(outcomes: list[Outcome]) -> None:
    print("\n=== side by side ===")
    names = [o.executor for o in outcomes]
    print(f"{'':<34}" + "".join(f"{n:>14}" for n in names))
    print(f"{'Airflow start (s)':<34}" + "".join(f"{o.start_seconds:>14.0f}" for o in outcomes))
    for i in range(min(len(o.cycles) for o in outcomes)):
        rows = {
            f"cycle {i} wall (s)": [f"{o.cycles[i].wall:.1f}" for o in outcomes],
            f"cycle {i} task sum (s)": [f"{sum(r.task_seconds for r in o.cycles[i].runs):.1f}" for o in outcomes],
            f"cycle {i} overhead (s)": [f"{sum(r.overhead or 0 for r in o.cycles[i].runs):.1f}" for o in outcomes],
            f"cycle {i} TIs": [str(sum(len(r.tasks) for r in o.cycles[i].runs)) for o in outcomes],
            f"cycle {i} API calls / bound": [f"{o.cycles[i].api_calls}/{o.cycles[i].bound}" for o in outcomes],
            f"cycle {i} leads read / L": [f"{o.cycles[i].leads_read}/{o.cycles[i].changed}" for o in outcomes],
        }
        for name, values in rows.items():
            print(f"{name:<34}" + "".join(f"{v:>14}" for v in values))
    keys = list(outcomes[0].results)
    for key in keys:
        values = [str(o.results.get(key)) for o in outcomes]
        same = "" if len(set(values)) == 1 else "   <- differs"
        print(f"{key:<34}" + "".join(f"{v:>14}" for v in values) + same)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dealers", type=int, default=1000)
    parser.add_argument("--leads", type=int, default=100, help="leads per dealership: at the start and new each cycle")
    parser.add_argument("--events", type=int, default=100, help="DMS staff actions per dealership each cycle")
    parser.add_argument("--cycles", type=int, default=3, help="steady cycles after cycle 0")
    parser.add_argument("--executor", choices=("local", "celery", "both"), default="local")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers")
    parser.add_argument("--dealers-per-task", type=int, default=0, help="GMCRM_DEALERS_PER_TASK (0: the default)")
    parser.add_argument("--fire", choices=("trigger", "cron"), default="trigger")
    args = parser.parse_args()
    server, embedded = server_url()
    per_task = args.dealers_per_task or os.environ.get("GMCRM_DEALERS_PER_TASK") or "default"
    print(
        f"gmcrm cycle benchmark: {args.dealers} dealerships x {args.leads} leads; steady cycles: {args.cycles} "
        f"(+{args.leads} new leads and {args.events} DMS actions per dealership each); dealerships per task: "
        f"{per_task}; cycles fired by: {args.fire}\nPostgreSQL: {db.redact_url(server)}; "
        f"{os.cpu_count()} cores\n{DEFINITIONS}",
        flush=True,
    )
    executors: list[Executor] = {
        "local": ["LocalExecutor"],
        "celery": ["CeleryExecutor"],
        "both": ["LocalExecutor", "CeleryExecutor"],
    }[args.executor]  # type: ignore[assignment]
    try:
        outcomes = [run_executor(args, executor, server) for executor in executors]
        if len(outcomes) > 1:
            compare(outcomes)
        steady = [c for o in outcomes for c in o.cycles if c.number > 0]
        if steady:
            print(
                f"\nsteady cycles: wall max {max(c.wall for c in steady):.1f}s (target <= 60 s); API bound held in "
                f"{sum(c.api_calls <= c.bound for c in steady)} of {len(steady)}"
            )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
