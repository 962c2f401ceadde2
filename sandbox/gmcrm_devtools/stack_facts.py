"""What Airflow's metadata database says about DAG runs and their task instances (for the stack harness).

Read straight from the ``dag_run`` and ``task_instance`` tables: the REST API would add its own
load to the API server being measured, and pages of task instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

FINISHED = frozenset({"success", "failed"})

_RUN_SQL = """
SELECT dag_id, run_id, state, run_type, queued_at, start_date, end_date
FROM dag_run WHERE dag_id = %s AND run_id = %s
"""

_TASKS_SQL = """
SELECT task_id, map_index, state, try_number, hostname, queued_dttm, start_date, end_date, duration
FROM task_instance WHERE dag_id = %s AND run_id = %s
ORDER BY start_date NULLS LAST, task_id, map_index
"""

_RUNS_SINCE_SQL = """
SELECT run_id FROM dag_run
WHERE dag_id = %s AND (queued_at >= %s OR start_date >= %s) AND (%s::text IS NULL OR run_type = %s)
ORDER BY coalesce(queued_at, start_date), id
"""


@dataclass(frozen=True)
class TaskFacts:
    """One task instance (its last try): times as Airflow recorded them."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    hostname: str | None
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None

    @property
    def queue_delay(self) -> float | None:
        """Seconds from queued to started: the executor's and the worker's share of the overhead."""
        if self.queued_at is None or self.started_at is None:
            return None
        return (self.started_at - self.queued_at).total_seconds()


@dataclass(frozen=True)
class RunFacts:
    """One DAG run and its task instances."""

    dag_id: str
    run_id: str
    state: str | None
    run_type: str
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    tasks: tuple[TaskFacts, ...]

    @property
    def wall(self) -> float | None:
        """Seconds from the run's start to its end (None while it runs)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def task_seconds(self) -> float:
        """The sum of the task instances' durations."""
        return sum(t.duration or 0.0 for t in self.tasks)

    def critical_path(self) -> float:
        """Seconds of task work on the longest chain: the DAG's tasks in order, a mapped task counting
        its longest instance (the instances run side by side).

        Both gmcrm DAGs are a chain of (possibly mapped) tasks, so the chain is the order in which the
        tasks started."""
        longest: dict[str, float] = {}
        for task in self.tasks:
            longest[task.task_id] = max(longest.get(task.task_id, 0.0), task.duration or 0.0)
        return sum(longest.values())

    @property
    def overhead(self) -> float | None:
        """Wall time minus the critical path: what the scheduler, executor and task start-up added."""
        wall = self.wall
        return None if wall is None else max(0.0, wall - self.critical_path())

    def queue_delays(self) -> list[float]:
        return [d for d in (t.queue_delay for t in self.tasks) if d is not None]


class MetadataReader:
    """Reads runs and task instances from the metadata database (a psycopg URL)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def run(self, dag_id: str, run_id: str) -> RunFacts | None:
        found = self._rows(_RUN_SQL, (dag_id, run_id))
        if not found:
            return None
        dag, run, state, run_type, queued, started, ended = found[0]
        tasks = tuple(TaskFacts(*row) for row in self._rows(_TASKS_SQL, (dag_id, run_id)))
        return RunFacts(dag, run, state, run_type, queued, started, ended, tasks)

    def state(self, dag_id: str, run_id: str) -> str | None:
        found = self._rows("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        return str(found[0][0]) if found and found[0][0] is not None else None

    def runs_since(self, dag_id: str, since: datetime, run_type: str | None = None) -> list[str]:
        """Run ids of ``dag_id`` queued or started at or after ``since`` (of one run type if given:
        ``manual``, ``scheduled``, ``asset_triggered``), oldest first."""
        return [str(r[0]) for r in self._rows(_RUNS_SINCE_SQL, (dag_id, since, since, run_type, run_type))]

    def dag_ids(self) -> set[str]:
        """DAGs the DAG processor has parsed and stored."""
        try:
            return {str(r[0]) for r in self._rows("SELECT dag_id FROM dag WHERE NOT is_stale", ())}
        except psycopg.errors.UndefinedTable:
            return set()
