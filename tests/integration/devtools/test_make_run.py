"""`make run` that a newcomer cannot break: a taken port, another port, Ctrl-C, gmcrm on its database.

Each test starts make run's own code in a child process with ``GMCRM_HOME`` in a temporary
directory (its embedded PostgreSQL, sandbox and Airflow home live there) and no configured
connection, as a newcomer's shell has none.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
UI_BOUND_S = 240.0  # Airflow standalone on a loaded 2-core machine
IMPORT_BOUND_S = 300.0  # then the DAG processor, the scheduler and the first import run
STOP_BOUND_S = 60.0  # SIGTERM, 20 s of grace, SIGKILL, the sandbox and PostgreSQL stopped


def _env(home: Path, port: int) -> dict[str, str]:
    """A newcomer's shell: no connection, no Airflow setting, GMCRM_HOME and the port only."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "GMCRM_", "PYTEST")) and k not in ("XDG_RUNTIME_DIR", "PYTHONPATH")
    }
    env.update(
        GMCRM_HOME=str(home),
        GMCRM_UI_PORT=str(port),
        PYTHONPATH=os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "sandbox")]),
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        PYTHONUNBUFFERED="1",
    )
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _gmcrm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gmcrm.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _processes_of(home: Path) -> list[psutil.Process]:
    """Every live process that belongs to this make run: its GMCRM_HOME in its command or environment."""
    mark = str(home)
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if process.pid == os.getpid() or process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if mark in " ".join(process.info["cmdline"] or []) or mark in str(process.environ().get("GMCRM_HOME")):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _kill_all(home: Path) -> None:
    for process in _processes_of(home):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _dms(home: Path) -> psycopg.Connection[Any]:
    # pgserver listens on a Unix socket in its data directory (postmaster.pid's fifth line).
    lines = (home / "pgdata" / "postmaster.pid").read_text().splitlines()
    return psycopg.connect(host=lines[4], port=int(lines[3]), user="postgres", dbname="gmcrm_dms", autocommit=True)


@pytest.fixture
def home() -> Iterator[Path]:
    # Not pytest's tmp_path: another pytest session on the machine may prune it while make run is
    # up, and a short path keeps PostgreSQL's socket inside its data directory.
    path = Path(tempfile.mkdtemp(prefix="gmcrm-run-"))
    yield path
    _kill_all(path)  # whatever a failed test left behind
    shutil.rmtree(path, ignore_errors=True)


def test_a_taken_ui_port_is_one_line_and_a_non_zero_exit(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gmcrm_devtools.run"],
            env=_env(home, port),
            capture_output=True,
            text=True,
            timeout=60,  # it must refuse before starting anything
        )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"port {port} is already in use" in lines[0] and "GMCRM_UI_PORT=" in lines[0]
    assert result.stdout == ""  # no UI address printed for a UI that will not come up
    assert not (home / "pgdata").exists() and not (home / "run").exists()


def test_a_port_that_is_not_a_number_is_one_line(home: Path) -> None:
    env = _env(home, 8080) | {"GMCRM_UI_PORT": "80a"}
    result = subprocess.run(
        [sys.executable, "-m", "gmcrm_devtools.run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "make run: GMCRM_UI_PORT='80a' is not a port number (1-65535)"


def test_gmcrm_commands_use_the_database_of_make_run(home: Path) -> None:
    env = _env(home, _free_port())
    # make run's environment, without Airflow: embedded PostgreSQL and sandbox, migrated and seeded.
    script = (
        "from gmcrm_devtools.run import prepare_run\n"
        "env = prepare_run(airflow_db=False)\n"
        "print('ready', flush=True)\n"
        "input()\n"
        "env.stop()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "ready"
        listed = _gmcrm(env, "dealership", "list")
        assert listed.returncode == 0, listed.stderr
        assert all(code in listed.stdout for code in ("BR0001", "BR0002", "BR0003"))
        # The command joined make run's server and left it running when it exited.
        with _dms(home) as conn:
            assert conn.execute("SELECT count(*) FROM gmcrm.dealership").fetchone() == (3,)
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=60)
    assert _processes_of(home) == []  # make run's PostgreSQL and sandbox stopped with it


def _wait_for_ui(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + UI_BOUND_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "make run exited before its UI answered"
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(2)
    pytest.fail(f"the UI did not answer on port {port} within {UI_BOUND_S:.0f} s")


def _wait_for_first_import_and_activity(proc: subprocess.Popen[bytes], home: Path) -> tuple[int, int]:
    deadline = time.monotonic() + IMPORT_BOUND_S
    counts = (0, 0)
    while time.monotonic() < deadline:
        assert proc.poll() is None, "make run exited"
        with _dms(home) as conn:
            row = conn.execute(
                "SELECT (SELECT count(DISTINCT dealer_code) FROM gmcrm.import_log WHERE contacts_created > 0), "
                "(SELECT count(*) FROM dms.contact_action)"
            ).fetchone()
        assert row is not None
        counts = (int(row[0]), int(row[1]))
        if counts[0] == 3 and counts[1] > 0:
            return counts
        time.sleep(3)
    pytest.fail(f"no first import and DMS activity within {IMPORT_BOUND_S:.0f} s (dealers imported, actions): {counts}")


def test_make_run_on_another_port_imports_and_ctrl_c_stops_every_process(home: Path) -> None:
    port = _free_port()  # never 8080: the port setting must move the tasks' API address too
    env = _env(home, port)
    with open(home / "make-run.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gmcrm_devtools.run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_ui(proc, port)
        # Tasks reached Airflow's execution API on this port: the import loaded every dealership,
        # then make run recorded the staff's DMS activity.
        _wait_for_first_import_and_activity(proc, home)
        listed = _gmcrm(env, "events", "list")
        assert listed.returncode == 0, listed.stderr
        # Airflow's processes rename themselves over their environment (setproctitle): found as
        # make run's descendants (orphans stay its children: it is their subreaper).
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        started = list({p.pid: p for p in [*tree, *_processes_of(home)]}.values())
        names = " ".join(" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]) if p in started)
        for part in ("api_server", "scheduler", "dag-processor", "triggerer", "gmcrm_sandbox", "postgres"):
            assert part in names, names

        asked = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=STOP_BOUND_S) == 0
        print(f"make run: {len(started)} processes, stopped {time.monotonic() - asked:.1f} s after Ctrl-C")
        _, alive = psutil.wait_procs(started, timeout=5)
        alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [(p.pid, p.cmdline()) for p in alive]
        assert _processes_of(home) == []
    finally:
        if proc.poll() is None:  # the test failed: leave nothing running
            for process in [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]:
                process.kill()
        output = (home / "make-run.log").read_text(errors="replace")
        print(output[-5000:])
    assert f"http://localhost:{port}" in output and "gmcrm commands use this database" in output
    assert "connection refused" not in output.lower()
