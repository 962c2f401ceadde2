"""Import, once, in the processes task instances are forked from, what every import task imports at start.

On Linux, Airflow 3 starts a task instance by forking, not by a new interpreter: the LocalExecutor's
workers are forked from the scheduler (``airflow/executors/local_executor.py``, multiprocessing with
``fork``) and each task process is forked from its worker by the Task SDK's supervisor
(``airflow/sdk/execution_time/supervisor.py``: ``os.fork()``; a new interpreter only on macOS or with
``[core] execute_tasks_new_python_interpreter``). A Celery worker forks its pool the same way. So what the
scheduler or the worker imported before forking, every task process has for free, where importing it in
the task costs each of them again (pandas, numpy and the import's modules: ~0.4 CPU-s per load task on
this 2-core machine, ``benchmarks/bench_task_start.py``).

:func:`preload` is called by ``plugins/airflow_local_settings.py``, which Airflow imports in each of its
processes at start (``airflow.settings.import_local_settings``); it imports only in the processes that fork
task instances (:func:`starts_tasks`), never in the API server, the DAG processor or the triggerer, which
would only carry the memory. ``GMCRM_TASK_PRELOAD=0`` turns it off.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Sequence
from typing import Final

from gmcrm import settings

#: What the import's tasks import at start (the load task: the transform's pandas and numpy, psycopg, the
#: DMS and mapping modules). Not the GM client: only the extract task uses it, once per run.
MODULES: Final = (
    "pandas",
    "numpy",
    "psycopg",
    "gmcrm.airflow_support",
    "gmcrm.gm_mapping",
    "gmcrm.leads.pipeline",
    "gmcrm.run_summary",
)


def starts_tasks(argv: Sequence[str], executor: str) -> bool:
    """Whether this process forks task instances: ``airflow scheduler`` with the LocalExecutor, or
    ``airflow celery worker``. ``argv`` is the command line, ``executor`` ``[core] executor``."""
    words = [os.path.basename(a) for a in argv[1:4]]
    if words[:1] == ["scheduler"]:
        return "LocalExecutor" in executor
    return words[:2] == ["celery", "worker"]


def preload(modules: Sequence[str] = MODULES) -> tuple[list[str], float]:
    """Import ``modules``; returns those that failed (a failure never stops the process: the task imports
    them itself, as without the preload) and the seconds it took."""
    started = time.perf_counter()
    failed: list[str] = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # whatever breaks here, the task still imports it itself
            failed.append(name)
    return failed, time.perf_counter() - started


def preload_if_starting_tasks() -> None:
    """What ``airflow_local_settings`` calls: :func:`preload` in a process that forks task instances."""
    if not settings.task_preload():
        return
    from airflow.configuration import conf

    executor = conf.get("core", "executor", fallback="")
    if conf.getboolean("core", "execute_tasks_new_python_interpreter", fallback=False):
        return  # every task is a new interpreter: nothing to inherit
    if not starts_tasks(sys.argv, executor):
        return
    failed, seconds = preload()
    # Airflow's logging is not configured yet at this point of its start: one line on stderr.
    note = f"; not imported: {', '.join(failed)}" if failed else ""
    print(
        f"gmcrm: modules of the import's tasks imported for their task processes in {seconds:.2f}s{note}",
        file=sys.stderr,
    )
