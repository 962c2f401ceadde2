"""Airflow's real components as child processes, for benchmarks and tests: :class:`AirflowStack`.

``make run`` starts the same components for a person (see :mod:`gmcrm_devtools.run`); this starts them
for a program: on free ports, with a metadata database of its own (created on the PostgreSQL server
given, dropped on exit), a generated JWT secret, API secret key and Fernet key (never printed), and
either the LocalExecutor or the CeleryExecutor with its workers::

    with AirflowStack(home, "postgresql://postgres@127.0.0.1:5432/postgres", env=gmcrm_env) as stack:
        run_id = stack.trigger("gmcrm_import_leads")
        assert stack.wait("gmcrm_import_leads", run_id, timeout=300) == "success"
        facts = stack.run("gmcrm_import_leads", run_id)   # times of the run and of every task instance

Every process it started, and every process those started, is stopped on exit (:class:`ProcessTree`:
SIGTERM, grace, SIGKILL); :meth:`AirflowStack.leftovers` lists any that is still alive.
The API answers on 127.0.0.1 only and lets every caller in as admin
(``[core] simple_auth_manager_all_admins``): a private stack for one program's run, never a deployment.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import psutil
import psycopg
import requests
from cryptography.fernet import Fernet

from gmcrm import db
from gmcrm.dag_defaults import IMPORT_DAG_ID, SEND_DAG_ID
from gmcrm.paths import PROJECT_ROOT
from gmcrm_devtools.process_tree import TREE_MARK_ENV, ProcessTree
from gmcrm_devtools.stack_facts import FINISHED, MetadataReader, RunFacts

Executor = Literal["LocalExecutor", "CeleryExecutor"]

REDIS_URL = "redis://127.0.0.1:6379/11"  # a database number of its own; each stack has its own queue too
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
COMPONENTS = ("scheduler", "dag-processor", "triggerer")


class StackError(RuntimeError):
    """A component did not start or exited; the message names it and its log file."""


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def default_broker(server_url: str, database: str) -> str:
    """A Celery broker that answers on this machine: Redis, else RabbitMQ, else kombu's SQLAlchemy
    transport on ``database`` of the PostgreSQL server (a real broker, slower: it polls a table)."""
    try:
        import redis

        if redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping():
            return REDIS_URL
    except Exception:  # noqa: S110 - any failure means "no Redis here"; the next broker is tried
        pass
    from kombu import Connection

    try:
        with Connection(RABBITMQ_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
            return RABBITMQ_URL
    except Exception:  # noqa: S110 - no RabbitMQ either
        pass
    return "sqla+" + _sqlalchemy_url(db.with_database(server_url, database))


class AirflowStack:
    """Airflow's API server, scheduler, DAG processor and triggerer (and Celery workers), as children.

    ``home``: AIRFLOW_HOME (logs under ``home/logs``, each component's output in ``home/NAME.log``).
    ``server_url``: a PostgreSQL server; the metadata database ``db_name`` is created on it.
    ``env``: added to every component's environment (``GMCRM_*``, ``AIRFLOW_CONN_*``, ``AIRFLOW__...``
    overrides). ``broker_url`` (CeleryExecutor): default :func:`default_broker`.
    """

    def __init__(
        self,
        home: Path,
        server_url: str,
        *,
        executor: Executor = "LocalExecutor",
        broker_url: str | None = None,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
        db_name: str | None = None,
        keep_db: bool = False,
        dag_ids: Sequence[str] = (IMPORT_DAG_ID, SEND_DAG_ID),
        start_timeout: float = 420.0,
    ) -> None:
        self.home = Path(home)
        self.server_url = server_url
        self.executor: Executor = executor
        self.workers = workers if executor == "CeleryExecutor" else 0
        self.db_name = db_name or f"airflow_stack_{secrets.token_hex(4)}"
        self.keep_db = keep_db
        self.dag_ids = tuple(dag_ids)
        self.start_timeout = start_timeout
        self.metadata_url = db.with_database(server_url, self.db_name)
        self.reader = MetadataReader(self.metadata_url)
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.queue = f"gmcrm-{secrets.token_hex(4)}"
        self.broker_url = broker_url if executor == "CeleryExecutor" else None
        self._extra_env = dict(env or {})
        self._tree: ProcessTree | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # no proxy between us and 127.0.0.1

    # ------------------------------------------------------------------------------------ settings

    def _environment(self) -> dict[str, str]:
        """The components' environment: Airflow's settings as AIRFLOW__ variables, secrets made now."""
        base = f"http://localhost:{self.port}"
        paths = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT / "sandbox"), os.environ.get("PYTHONPATH", "")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
                "PYTHONPATH": os.pathsep.join(p for p in paths if p),
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy_url(self.metadata_url),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": base,
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
                # Log servers on ports of their own: another Airflow on this machine holds the defaults.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        if self.executor == "CeleryExecutor":
            broker = self.broker_url or default_broker(self.server_url, self.db_name)
            self.broker_url = broker
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": broker,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + _sqlalchemy_url(self.metadata_url),
                    # The stack's own queue: stacks (and other Airflows) sharing a broker never take
                    # each other's tasks.
                    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                }
            )
        env.update(self._extra_env)
        return env

    # ----------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> AirflowStack:
        """Create and migrate the metadata database, start every component, wait for the DAGs, unpause them."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = self._environment()
        db.drop_database(self.server_url, self.db_name)
        db.ensure_database(self.server_url, self.db_name)
        airflow = [sys.executable, "-m", "airflow"]
        with open(self.home / "db-migrate.log", "wb") as log:
            migrated = subprocess.run(
                [*airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        if migrated.returncode != 0:
            raise StackError(f"airflow db migrate failed; see {self.home / 'db-migrate.log'}")
        self._tree = ProcessTree(env, log_dir=self.home)
        try:
            deadline = time.monotonic() + self.start_timeout
            # The API server first: a task started before it answers fails with "connection refused".
            self._tree.start("api-server", [*airflow, "api-server"])
            self._until(deadline, self._api_answers, "the API server to answer")
            for component in COMPONENTS:
                self._tree.start(component, [*airflow, component])
            for i in range(1, self.workers + 1):
                self._tree.start(
                    f"worker-{i}",
                    [
                        *airflow,
                        "celery",
                        "worker",
                        "--celery-hostname",
                        f"w{i}-{self.queue}@%h",
                        "--queues",
                        self.queue,
                        "--pid",
                        str(self.home / f"worker-{i}.pid"),
                    ],
                    env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
                )
            self._until(deadline, lambda: set(self.dag_ids) <= self.reader.dag_ids(), "the DAGs to be parsed")
            for dag_id in self.dag_ids:
                self.set_paused(dag_id, False)
        except BaseException:
            self.stop()
            raise
        return self

    def _until(self, deadline: float, ready: Any, what: str) -> None:
        assert self._tree is not None
        while not ready():
            for name, proc in self._tree.procs.items():
                if proc.poll() is not None:
                    raise StackError(f"Airflow's {name} exited (status {proc.returncode}); see {self.home}/{name}.log")
            if time.monotonic() > deadline:
                raise StackError(f"timed out waiting for {what}; logs in {self.home}")
            time.sleep(1)

    def _api_answers(self) -> bool:
        try:
            return self._http.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, grace: float = 20.0) -> list[int]:
        """Stop every process of the stack (SIGTERM, ``grace`` s, SIGKILL) and drop its metadata database
        unless ``keep_db``. Returns the pids that had to be killed."""
        killed: list[int] = []
        tree, self._tree = self._tree, None
        if tree is not None:
            killed = tree.stop(grace=grace)
            self._mark = tree.mark
        self._http.close()
        if not self.keep_db:
            try:
                db.drop_database(self.server_url, self.db_name)
            except psycopg.Error:
                pass  # the server went away first: nothing to drop
        return killed

    def leftovers(self) -> list[psutil.Process]:
        """Live processes started by this stack (its components, their children, orphans): [] after stop."""
        mark = self._tree.mark if self._tree is not None else getattr(self, "_mark", None)
        if mark is None:
            return []
        found = []
        for process in psutil.process_iter():
            try:
                if process.status() != psutil.STATUS_ZOMBIE and process.environ().get(TREE_MARK_ENV) == mark:
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    # ---------------------------------------------------------------------------------------- runs

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"{self.api_url}/api/v2/{path}", timeout=60, **kwargs)
        if response.status_code >= 300:
            raise StackError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._api("PATCH", f"dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """A manual run now (as the UI's Trigger button does); its run id."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        return str(self._api("POST", f"dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float = 600.0, poll: float = 0.5) -> str:
        """Block until the run finishes (``success`` or ``failed``); its state. A component that exits
        meanwhile, or the timeout, raises :class:`StackError`."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.reader.state(dag_id, run_id)
            if state in FINISHED:
                return state
            if self._tree is not None:
                for name, proc in self._tree.procs.items():
                    if proc.poll() is not None and not name.startswith("worker-"):
                        raise StackError(f"Airflow's {name} exited (status {proc.returncode}) during {run_id}")
            if time.monotonic() > deadline:
                raise StackError(f"{dag_id} {run_id} still {state} after {timeout:.0f} s")
            time.sleep(poll)

    def run(self, dag_id: str, run_id: str) -> RunFacts:
        """The run and its task instances, as the metadata database has them now."""
        facts = self.reader.run(dag_id, run_id)
        if facts is None:
            raise StackError(f"no run {run_id} of {dag_id}")
        return facts

    # ----------------------------------------------------------------------------------- processes

    def processes(self) -> dict[str, psutil.Process]:
        """Each running component by name (``api-server``, ``scheduler``, ``dag-processor``,
        ``triggerer``, ``worker-1``...): the top process; its children are its workers and tasks."""
        found: dict[str, psutil.Process] = {}
        for name, proc in (self._tree.procs if self._tree is not None else {}).items():
            if proc.poll() is None:
                try:
                    found[name] = psutil.Process(proc.pid)
                except psutil.NoSuchProcess:
                    continue
        return found

    def kill_worker(self, i: int) -> list[int]:
        """SIGKILL Celery worker ``i`` (1-based) and every process under it, as a machine that dies
        would: no chance to ack, requeue or report. Returns the pids killed."""
        top = self.processes().get(f"worker-{i}")
        if top is None:
            raise StackError(f"no running worker-{i}")
        victims = [top, *top.children(recursive=True)]
        for process in victims:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(victims, timeout=10)
        return [p.pid for p in victims]


class RssSampler:
    """Peak memory of every component of a stack, sampled in a thread (MB).

    ``peak_process[name]``: the largest resident set (RSS) of a single process among the component and
    its children; ``peak_tree[name]``: the most the component and all its children (executor workers,
    task processes) held at once, as proportional set size (PSS: pages shared by forked children
    counted once, where a sum of RSS would count them in every child).
    """

    def __init__(self, stack: AirflowStack, interval: float = 1.0) -> None:
        self.stack = stack
        self.interval = interval
        self.peak_tree: dict[str, float] = {}
        self.peak_process: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self.peak_tree, self.peak_process = {}, {}

    def sample(self) -> None:
        for name, top in self.stack.processes().items():
            try:
                members = [top, *top.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            rss: list[float] = []
            pss: list[float] = []
            for process in members:
                try:
                    info = process.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                rss.append(info.rss / 2**20)
                pss.append(getattr(info, "pss", info.rss) / 2**20)
            if rss:
                self.peak_tree[name] = max(self.peak_tree.get(name, 0.0), sum(pss))
                self.peak_process[name] = max(self.peak_process.get(name, 0.0), max(rss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
