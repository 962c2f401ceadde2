"""One fault class's run: a fresh world, the baseline cycle, the fault, cycles until quiet, the counts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from gmcrm import settings
from gmcrm.normalize import mask_text

from .env import IMPORT_DAG, SEND_DAG, Environment, RunRecord
from .measure import Counts, final_counts, leads_lost, run_failed_in_truth
from .world import World, dms_activity, second_wave, start_world

MAX_QUIET_CYCLES = 6


@dataclass
class Case:
    """The state of one fault class while it runs; fault classes drive it."""

    env: Environment
    world: World = field(default_factory=World)
    runs: list[RunRecord] = field(default_factory=list)
    green_while_failed: int = 0
    stranded: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    _conn: psycopg.Connection[Any] | None = None
    _conn_crashes: int = 0

    @property
    def sandbox(self) -> Any:
        return self.env.sandbox

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """An autocommit connection to this class's DMS, opened again after a crash."""
        crashes = self.env.pg.crashes
        if self._conn is None or self._conn.closed or self._conn.broken or self._conn_crashes != crashes:
            if self._conn is not None:
                self._conn.close()
            self._conn = self.env.connect()
            self._conn_crashes = crashes
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # ----------------------------------------------------------------------------------------- runs

    def judge(self, run: RunRecord) -> RunRecord:
        """Keep the run and whether it reported green although something failed and stayed failed."""
        failed, self.stranded = run_failed_in_truth(self.conn, self.sandbox, run, self.stranded)
        if run.green and failed:
            self.green_while_failed += 1
            self.notes.append(f"{run.dag_id} {run.run_id} green while failed")
        self.runs.append(run)
        return run

    def run(self, dag_id: str, conf: dict[str, Any] | None = None) -> RunRecord:
        started = time.perf_counter()
        run = self.env.run_dag(dag_id, conf)
        if settings.resilience_debug():
            print(f"        {dag_id}: {run.state} in {time.perf_counter() - started:.1f}s", flush=True)
        return self.judge(run)

    def cycle(self) -> None:
        """One scheduled cycle: the import DAG, then the send DAG (as its Asset wakes it)."""
        self.run(IMPORT_DAG)
        self.run(SEND_DAG)

    def time_passes(self) -> None:
        """Five minutes or more go by: claims' leases and retry backoffs run out."""
        self.conn.execute(
            "UPDATE gmcrm.trigger_outbox SET claimed_until = now() - interval '1 second' WHERE claimed_until > now()"
        )
        self.conn.execute("UPDATE gmcrm.trigger_outbox SET next_attempt_at = now() WHERE next_attempt_at > now()")

    def snapshot(self) -> tuple[Any, ...]:
        statuses = Counter(dict(self.conn.execute("SELECT status, count(*) FROM gmcrm.trigger_outbox GROUP BY 1")))
        contacts = self.conn.execute("SELECT count(*) FROM dms.contact").fetchone()
        quarantined = self.conn.execute("SELECT count(*) FROM gmcrm.lead_quarantine").fetchone()
        return (tuple(sorted(statuses.items())), contacts, quarantined, self.sandbox.admin.health().get("events"))

    def pending(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status IN ('PENDING', 'RETRY')"
        ).fetchone()
        return int(row[0]) if row else 0

    def until_quiet(self) -> int:
        """Cycles (time passing between them) until nothing is pending and nothing changes; how many."""
        before = self.snapshot()
        for n in range(1, MAX_QUIET_CYCLES + 1):
            self.time_passes()
            self.cycle()
            after = self.snapshot()
            if not self.pending() and (after == before or not leads_lost(self.sandbox, self.conn)):
                return n
            before = after
        self.notes.append(f"not quiet after {MAX_QUIET_CYCLES} cycles")
        return MAX_QUIET_CYCLES


@contextmanager
def patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    """``owner.name`` replaced for the duration (the DAGs' tasks run in this process under dag.test)."""
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@dataclass
class Outcome:
    name: str
    injected: int
    counts: Counts | None
    seconds: float
    notes: list[str]
    error: str | None = None


FaultFn = Callable[[Case], int]


def run_case(env: Environment, name: str, inject: FaultFn, seed: int) -> Outcome:
    """A fresh database and GM, the baseline cycle, the fault (``inject`` returns how many it injected),
    cycles until quiet, then the counts from ground truth."""
    started = time.perf_counter()
    env.fresh_database()
    case = Case(env)
    try:
        case.world = start_world(env.sandbox, case.conn, seed)
        case.cycle()  # the baseline: no fault yet
        second_wave(env.sandbox, case.conn, case.world)
        dms_activity(case.conn, case.world)
        injected = inject(case)
        case.until_quiet()
        injected -= sum(int(f.get("remaining", 0)) for f in env.sandbox.admin.faults())  # never hit
        env.sandbox.admin.clear_faults()
        counts = final_counts(env.sandbox, case.conn, case.world, case.green_while_failed)
        return Outcome(name, injected, counts, time.perf_counter() - started, case.notes)
    except Exception as exc:  # a harness or integration crash is reported on its row, not hidden
        env.sandbox.admin.clear_faults()
        error = " ".join(mask_text(f"{type(exc).__name__}: {exc}").split())[:300]
        return Outcome(name, 0, None, time.perf_counter() - started, case.notes, error)
    finally:
        case.close()
        env.drop_databases()
