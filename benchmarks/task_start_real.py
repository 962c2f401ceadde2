"""The real half of ``bench_task_start.py``: Airflow's API server, DAG processor and scheduler (LocalExecutor,
PostgreSQL metadata database) run a probe DAG whose mapped task reports, from inside each task process, the
CPU and wall time the process spent before the task's code ran (its rusage and age: a forked process starts
both at zero), whether pandas was already there, and what importing the load task's modules then cost.

The scheduler is started three times, one per version: ``before`` (the plugins folder of the old tree, so its
gmcrm and plugin files), ``after`` with ``GMCRM_TASK_PRELOAD=0``, and ``after`` with the preload (this
checkout's ``plugins/airflow_local_settings.py``). The API server and the DAG processor are shared.
"""

from __future__ import annotations

import ast
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from bench_import import server_url  # the benchmarks' one choice of PostgreSQL server

from gmcrm import db

DB_NAME = "gmcrm_bench_task_start"
DAG_ID = "probe_task_start"
PROBE_DAG = """
from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, max_active_tasks=1)
def probe_task_start():
    @task
    def start_cost(i: int) -> None:
        import resource, sys, time
        import psutil

        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime  # this process's, since its fork
        wall = time.time() - psutil.Process().create_time()
        had = "pandas" in sys.modules
        import gmcrm.airflow_support, gmcrm.gm_mapping, gmcrm.leads.pipeline  # noqa: F401 (the load task's)

        after = resource.getrusage(resource.RUSAGE_SELF)
        imports = after.ru_utime + after.ru_stime - cpu
        print("PROBE", {"cpu": cpu, "wall": wall, "pandas": had, "imports": imports})

    start_cost.expand(i=list(range(STARTS)))


probe_task_start()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Airflow:
    """The components, each in its own session so that stopping one stops its children too."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *command: str, **extra: str) -> None:
        out = (self.logs / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *command],
            env={**self.env, **extra},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def cli(self, *command: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *command], env=self.env, capture_output=True, text=True, timeout=300
        )
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@contextmanager
def airflow_up(plugins: Path, starts: int) -> Iterator[tuple[Airflow, Path]]:
    server, embedded = server_url()
    db.drop_database(server, DB_NAME)
    db.ensure_database(server, DB_NAME)
    tmp = Path(tempfile.mkdtemp(prefix="gmcrm-bench-real-"))
    (tmp / "dags").mkdir()
    (tmp / "dags" / f"{DAG_ID}.py").write_text(PROBE_DAG.replace("STARTS", str(starts)), encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONPATH"}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db.with_database(server, DB_NAME).replace(
                "postgresql://", "postgresql+psycopg://", 1
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }
    )
    airflow = Airflow(env, tmp)
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
        )
        if migrate.returncode != 0:
            raise SystemExit("airflow db migrate failed:\n" + migrate.stderr[-3000:])
        airflow.start("api-server", "api-server")
        airflow.start("dag-processor", "dag-processor")
        deadline = time.monotonic() + 180
        while not _answers(port):
            if time.monotonic() > deadline:
                raise SystemExit(f"Airflow's API server did not answer; see {tmp}/api-server.log")
            time.sleep(2)
        yield airflow, tmp
    finally:
        for name in list(airflow.procs):
            airflow.stop(name)
        db.drop_database(server, DB_NAME)
        if embedded is not None:
            embedded.stop()


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def probe(airflow: Airflow, tmp: Path, run_id: str, scheduler_env: dict[str, str]) -> list[dict[str, Any]]:
    """Start a scheduler with ``scheduler_env``, run the probe DAG once, stop the scheduler; the probes."""
    airflow.start("scheduler", "scheduler", **scheduler_env)
    try:
        deadline = time.monotonic() + 600
        while airflow.cli("dags", "trigger", DAG_ID, "-r", run_id) == "":  # DAG not parsed yet
            if time.monotonic() > deadline:
                raise SystemExit("the probe DAG was never parsed")
            time.sleep(5)
        state = ""
        while state not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise SystemExit(f"the probe run {run_id} did not finish; see {tmp}")
            time.sleep(5)
            state = airflow.cli("dags", "state", DAG_ID, run_id)
        if state != "success":
            raise SystemExit(f"the probe run {run_id} failed; see {tmp}/home/logs")
    finally:
        airflow.stop("scheduler")
    found: list[dict[str, Any]] = []
    for log in (tmp / "home" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}").rglob("*.log"):
        for line in log.read_text(encoding="utf-8").splitlines():
            if "PROBE {" in line:
                text = line[line.index("PROBE {") + 6 :]
                found.append(ast.literal_eval(text[: text.index("}") + 1]))
    return found


def median(probes: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(p[key]) for p in probes)
