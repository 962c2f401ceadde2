"""`make run`: the integration kept running under Airflow's local components, on the embedded defaults.

Refuses at once, in one line, a UI port (``GMCRM_UI_PORT``, default 8080) that is taken. Starts
the embedded PostgreSQL (data in ``$GMCRM_HOME/pgdata``, the place ``gmcrm`` commands use too)
and the GM CRM sandbox, unless real connections are configured; migrates and seeds the DMS,
migrates Airflow's metadata, then runs what ``airflow standalone`` runs (the API server and UI
first, then the scheduler, DAG processor and triggerer) with both DAGs unpaused on their 5-minute
schedule. After the first import,
dealership staff "work" some leads in the DMS (as in `make demo`), once per database. Ctrl-C
stops every process it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import psycopg
import requests

from gmcrm import migrate
from gmcrm.normalize import mask_text
from gmcrm.paths import STATE_DIR, embedded_pgdata
from gmcrm_devtools import environment
from gmcrm_devtools.demo_seed import seed_demo_world
from gmcrm_devtools.process_tree import ProcessTree

STOP_GRACE_SECONDS = 20.0
API_READY_SECONDS = 300.0
ACTIVITY_POLL_SECONDS = 5.0

# Staff activity goes in once the first import loaded every enabled dealership, and never twice
# (a database that already has contact actions, a restart of make run, is left alone).
_FIRST_IMPORT_DONE_SQL = """
SELECT NOT EXISTS (SELECT 1 FROM dms.contact_action) AS no_activity,
       (SELECT count(DISTINCT l.dealer_code) FROM gmcrm.import_log l
          JOIN gmcrm.dealership d ON d.dealer_code = l.dealer_code
         WHERE d.integration_enabled AND l.contacts_created > 0)
       >= (SELECT count(*) FROM gmcrm.dealership WHERE integration_enabled) AS imported
"""


def prepare(
    leads_per_dealer: int = 12,
    state_dir: Path = STATE_DIR / "run",
    pgdata: Path | None = None,
    *,
    airflow_db: bool = True,
) -> environment.DevEnvironment:
    """Start the environment, migrate and seed the DMS, migrate Airflow's metadata."""
    env = environment.start(leads_per_dealer=leads_per_dealer, state_dir=state_dir, pgdata=pgdata)
    try:
        migrate.upgrade(env.dms_url)
        with psycopg.connect(env.dms_url) as conn:
            seed_demo_world(conn)
        if airflow_db:
            environment.airflow_db_migrate()
    except BaseException:
        env.stop()  # Ctrl-C or a failure while preparing leaves no server behind
        raise
    return env


def prepare_run(home: Path = STATE_DIR, *, airflow_db: bool = True) -> environment.DevEnvironment:
    """`make run`'s environment under ``home``: its PostgreSQL data where ``gmcrm`` looks for it."""
    return prepare(state_dir=home / "run", pgdata=embedded_pgdata(home), airflow_db=airflow_db)


def port_taken(port: int) -> bool:
    """Whether something already listens on ``port`` (where the API server will bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn does: a port in TIME_WAIT is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - the API server's own default host
        except OSError:
            return True
    return False


def banner(env: environment.DevEnvironment, port: int, password: str) -> str:
    if env.embedded is not None:
        database = f"embedded PostgreSQL, data in {env.embedded.pgdata}"
        gmcrm_hint = "gmcrm commands use this database (e.g. gmcrm dealership list), while it runs and after"
    else:
        database = "GMCRM_DMS_URL / AIRFLOW_CONN_DMS_POSTGRES"
        gmcrm_hint = "gmcrm commands use --dms-url or GMCRM_DMS_URL (set it to this DMS's URL)"
    gm = env.sandbox.instance_url + " (sandbox)" if env.sandbox else "AIRFLOW_CONN_GM_CRM"
    return "\n".join(
        [
            "",
            "gmcrm is starting under Airflow (API server and UI, scheduler, DAG processor, triggerer).",
            f"  UI:        http://localhost:{port}  (user: admin, password: {password})",
            f"  password:  kept in {env.airflow_home / 'passwords.json'}",
            f"  port:      {environment.UI_PORT_ENV}={port} moves the UI and the API the tasks call",
            "  DAGs:      gmcrm_import_leads and gmcrm_send_triggers, unpaused, every 5 minutes",
            f"  GM CRM:    {gm}",
            f"  DMS:       {database}",
            f"  gmcrm:     {gmcrm_hint}",
            "  Stop with Ctrl-C (stops every process make run started).",
            "",
        ]
    )


def record_activity_after_first_import(dms_url: str, stop: threading.Event) -> None:
    """Once the first import loaded every dealership, work some leads as `make demo` does."""
    from gmcrm_devtools.demo import work_some_leads  # late: demo imports this module

    try:
        while not stop.wait(ACTIVITY_POLL_SECONDS):
            with psycopg.connect(dms_url) as conn:
                row = conn.execute(_FIRST_IMPORT_DONE_SQL).fetchone()
                if row is None or not row[0]:
                    return  # activity already there: a database make run worked before
                if not row[1]:
                    continue
                done = work_some_leads(conn)
            print("[gmcrm] after the first import, dealership staff worked some leads in the DMS:", flush=True)
            for line in done:
                print(f"[gmcrm]   {line}", flush=True)
            return
    except psycopg.Error as exc:
        if not stop.is_set():
            text = mask_text(f"{type(exc).__name__}: {exc}").splitlines()[0]
            print(f"[gmcrm] DMS activity not recorded: {text}", flush=True)


def _run_airflow(tree: ProcessTree, port: int) -> int:
    """What ``airflow standalone`` runs, the API server first: a task started before it answers
    failed its first try with "connection refused" (standalone starts all four at once)."""
    airflow = [sys.executable, "-m", "airflow"]
    api = tree.start("api-server", [*airflow, "api-server"])
    deadline = time.monotonic() + API_READY_SECONDS
    while not _api_answers(port):
        if api.poll() is not None:
            print(f"make run: Airflow's API server exited (status {api.returncode}); see its lines above", flush=True)
            return 1
        if time.monotonic() > deadline:
            print(f"make run: Airflow's API server did not answer within {API_READY_SECONDS:.0f} s", flush=True)
            return 1
        time.sleep(1)
    for component in ("scheduler", "dag-processor", "triggerer"):
        tree.start(component, [*airflow, component])
    print(f"[gmcrm] Airflow is ready: http://localhost:{port}", flush=True)
    name, code = tree.wait_any()
    print(f"make run: Airflow's {name} exited (status {code}); stopping the rest", flush=True)
    return code or 1


def _api_answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    try:
        port = environment.ui_port()
    except environment.SettingError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    if port_taken(port):
        print(
            f"make run: port {port} is already in use (another make run or Airflow?); stop it, "
            f"or choose another port: {environment.UI_PORT_ENV}=8081 make run",
            file=sys.stderr,
        )
        return 1
    # SIGTERM and SIGHUP (a closed terminal) stop everything as Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    try:
        env = prepare_run()
    except KeyboardInterrupt:
        return 130
    stop = threading.Event()
    try:
        password = json.loads((env.airflow_home / "passwords.json").read_text(encoding="utf-8"))["admin"]
        print(banner(env, port, password), flush=True)
        if env.embedded is not None and env.sandbox is not None:
            # Only the embedded demo world gets invented staff activity, never a configured DMS.
            threading.Thread(target=record_activity_after_first_import, args=(env.dms_url, stop), daemon=True).start()
        # The components start `airflow ...` commands of their own: the venv's bin must be on PATH.
        bin_dir = str(Path(sys.executable).parent)
        env_vars = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        keep = [env.sandbox.pid] if env.sandbox is not None else []
        tree = ProcessTree(env_vars, keep=keep)
        try:
            code = _run_airflow(tree, port)
        except KeyboardInterrupt:
            code = 0
        finally:
            # A second Ctrl-C must not cut the stop short: it is bounded (grace, then SIGKILL).
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            print(f"\nStopping Airflow (at most {STOP_GRACE_SECONDS:.0f} s), the sandbox and PostgreSQL...", flush=True)
            killed = tree.stop(grace=STOP_GRACE_SECONDS)
            if killed:
                print(f"  {len(killed)} Airflow processes still running after SIGTERM were killed.", flush=True)
        return code
    finally:
        stop.set()
        env.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
