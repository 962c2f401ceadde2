"""The resilience suite's world of real parts: a PostgreSQL it can crash, the sandbox, Airflow's DAGs.

- :class:`CrashablePostgres`: a private PostgreSQL (pgserver, as ``gmcrm.db.EmbeddedPostgres``) that the
  suite stops with ``pg_ctl stop -m immediate`` (a crash: no checkpoint, unlogged tables emptied at the
  restart, open transactions gone) and starts again.
- :class:`Environment`: that server with a migrated, seeded template database (one fresh copy per fault
  class), the GM CRM sandbox in its own process over HTTPS, and the two DAGs run with ``dag.test()``
  against them (Airflow's metadata in SQLite, apart from the server that crashes). Task retries keep
  their number but not their delay (20 s, doubling): a retry runs at once, so a class takes seconds.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from gmcrm import db, migrate
from gmcrm.airflow_support import postgres_conn_json
from gmcrm.gm_client import GmClient
from gmcrm.paths import PROJECT_ROOT
from gmcrm_devtools.demo_seed import seed_demo_world
from gmcrm_sandbox.process import SandboxProcess

IMPORT_DAG = "gmcrm_import_leads"
SEND_DAG = "gmcrm_send_triggers"
# The GM client's timeout in the suite (the connection's ``timeout`` extra): short, so that the timeout
# class (latency beyond it) costs seconds, and long enough for every honest call of the sandbox.
CLIENT_TIMEOUT = 2.0


class CrashablePostgres:
    """A private PostgreSQL that can be crashed (``pg_ctl stop -m immediate``) and started again."""

    def __init__(self, pgdata: Path) -> None:
        self.embedded = db.EmbeddedPostgres(pgdata)
        self.crashes = 0

    def start(self) -> str:
        self.embedded.start()
        return self.embedded.server_url

    @property
    def server_url(self) -> str:
        return self.embedded.server_url

    def _server(self) -> Any:
        server = getattr(self.embedded, "_server", None)
        if server is None:
            raise RuntimeError("the suite's PostgreSQL is not started")
        return server

    def crash(self) -> None:
        """Stop the server as a crash does: every backend killed, nothing flushed or checkpointed."""
        from pgserver import _commands  # pgserver's own wrapper: its binaries, its system user

        server = self._server()
        pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009 - made at import time, one per binary
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
        self.crashes += 1

    def restart(self) -> None:
        """Start it again (crash recovery replays the WAL); pgserver's start waits until it is ready."""
        self._server().ensure_postgres_running()

    def crash_and_restart(self) -> None:
        self.crash()
        self.restart()

    def stop(self) -> None:
        self.embedded.stop()


@dataclass
class RunRecord:
    """One run of a DAG (or of its task bodies, for runs that overlap): what it reported."""

    dag_id: str
    run_id: str
    green: bool
    state: str


@dataclass
class Environment:
    state_dir: Path
    pg: CrashablePostgres
    sandbox: SandboxProcess
    template: str
    dags: dict[str, Any]
    dms_url: str = ""
    databases: list[str] = field(default_factory=list)
    #: Whether the suite configured Airflow itself (the script) or found it configured (the tests).
    owns_airflow: bool = True

    # ------------------------------------------------------------------------------ per fault class

    def fresh_database(self) -> str:
        """A new DMS database cloned from the migrated, seeded template; the DAGs' ``dms_postgres``."""
        name = f"resilience_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.pg.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.databases.append(name)
        self.dms_url = db.with_database(self.pg.server_url, name)
        os.environ["AIRFLOW_CONN_DMS_POSTGRES"] = postgres_conn_json(self.dms_url)
        return self.dms_url

    def drop_databases(self) -> None:
        for name in self.databases:
            db.drop_database(self.pg.server_url, name)
        self.databases.clear()

    def connect(self, autocommit: bool = True) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dms_url, autocommit=autocommit)

    def client(self, **kwargs: Any) -> GmClient:
        """The GM client the DAGs build (through the ``gm_crm`` connection)."""
        return GmClient.from_conn_id("gm_crm", **kwargs)

    def run_dag(self, dag_id: str, conf: dict[str, Any] | None = None) -> RunRecord:
        """One ``dag.test()`` run; its state as Airflow reports it."""
        run = self.dags[dag_id].test(run_conf=conf)
        state = str(getattr(run, "state", "?")).rsplit(".", 1)[-1].lower()
        return RunRecord(dag_id, str(run.run_id), state == "success", state)

    def stop(self) -> None:
        settings = sys.modules.get("airflow.settings")
        if settings is not None and self.owns_airflow:  # a test session's Airflow stays configured
            settings.dispose_orm()
        try:
            self.drop_databases()
        finally:
            self.sandbox.stop()
            self.pg.stop()


def _airflow_settings(state_dir: Path) -> dict[str, str]:
    """Airflow's home and metadata (SQLite) for the suite, unless Airflow is already configured (tests)."""
    if "airflow" in sys.modules or os.environ.get("AIRFLOW_HOME"):
        return {}
    home = state_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return dict(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL"),
        }
    )


@contextmanager
def _environ(updates: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with the suite's settings, as it was afterwards (the suite may run inside pytest)."""
    keys = [*updates, "AIRFLOW_CONN_GM_CRM", "AIRFLOW_CONN_DMS_POSTGRES", "XDG_RUNTIME_DIR"]
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _airflow_db_migrate() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError("airflow db migrate failed: " + (result.stdout[-2000:] + result.stderr[-2000:]))


def _load_dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    for dag in bag.dags.values():
        for task in dag.tasks:
            # Same number of tries, no waiting between them: the suite measures outcomes, not patience.
            task.retry_delay = timedelta(0)
            task.retry_exponential_backoff = 0
    return {dag_id: bag.dags[dag_id] for dag_id in (IMPORT_DAG, SEND_DAG)}


def salesforce_conn(sandbox: SandboxProcess, timeout: float = CLIENT_TIMEOUT) -> str:
    extra = {"instance_url": sandbox.instance_url, "ca_bundle": sandbox.ca_bundle, "timeout": timeout}
    return json.dumps(
        {"conn_type": "salesforce", "login": sandbox.client_id, "password": sandbox.client_secret, "extra": extra}
    )


@contextmanager
def environment(state_dir: Path | None = None) -> Iterator[Environment]:
    """Start everything (a few seconds), yield it, stop everything."""
    saved = dict(os.environ)  # the connections and paths set below are the suite's alone
    try:
        with tempfile.TemporaryDirectory(prefix="gmcrm-resilience-") as tmp:
            root = state_dir or Path(tmp)
            root.mkdir(parents=True, exist_ok=True)
            settings = _airflow_settings(root)
            with _environ(settings):
                yield from _started(root, owns_airflow=bool(settings))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _started(root: Path, owns_airflow: bool = True) -> Iterator[Environment]:
    """Everything started in ``root``; stopped when the caller is done."""
    # pgserver keeps its lock and sockets under XDG_RUNTIME_DIR; keep them in the suite's directory. It also
    # logs from an exit hook, after pytest has closed its streams: its records stay with it.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(root))
    logging.getLogger("pgserver").propagate = False
    pg = CrashablePostgres(root / "pg")
    server_url = pg.start()
    sandbox: SandboxProcess | None = None
    try:
        template = f"resilience_tpl_{uuid.uuid4().hex[:8]}"
        db.ensure_database(server_url, template)
        template_url = db.with_database(server_url, template)
        migrate.upgrade(template_url)
        with psycopg.connect(template_url) as conn:
            seed_demo_world(conn)
        sandbox = SandboxProcess(root / "sandbox", port=0, dealers=1, leads_per_dealer=0, seed=1).start()
        os.environ["AIRFLOW_CONN_GM_CRM"] = salesforce_conn(sandbox)
        _airflow_db_migrate()
        env = Environment(root, pg, sandbox, template, _load_dags(), owns_airflow=owns_airflow)
    except BaseException:
        if sandbox is not None:
            sandbox.stop()
        pg.stop()
        raise
    try:
        yield env
    finally:
        env.stop()
