"""Commands and every process they start, stopped together (for `make run`'s Airflow components).

``airflow standalone`` stopped its components with one SIGTERM each and did not wait for their
children: the scheduler's and triggerer's workers, and every task's supervisor (Airflow puts each
task in its own process group), were left running. Here the commands run in their own session,
this process becomes their "subreaper" (orphans are re-parented to it, not to init, so they stay
findable), and stopping sends SIGTERM to every process of the tree, waits, then SIGKILLs the rest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

# Set in every command's environment (and so inherited by all its descendants): an orphan
# re-parented to us is one of the tree's only when it carries the tree's mark, never another child
# of this process (a sandbox or a database a benchmark started after the tree).
TREE_MARK_ENV = "GMCRM_PROCESS_TREE"

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper() -> bool:
    """Have orphaned descendants re-parented to this process (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class ProcessTree:
    """Named commands, each in a new session; :meth:`stop` ends them and all their descendants.

    Each command's output is printed line by line behind its name, as ``airflow standalone`` does,
    or, with ``log_dir``, written to ``log_dir/NAME.log``.
    """

    def __init__(self, env: Mapping[str, str], keep: Iterable[int] = (), log_dir: Path | None = None) -> None:
        # Processes of ours that are not part of the tree (the sandbox): never signalled here.
        self._keep = {os.getpid(), *keep}
        self._mark = secrets.token_hex(8)
        self._env = {**env, TREE_MARK_ENV: self._mark}
        self._log_dir = log_dir
        self._logs: list[IO[bytes]] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        become_subreaper()

    def start(self, name: str, command: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``command`` in a session of its own (a terminal's Ctrl-C reaches us, not it); ``env``
        adds to or overrides the tree's environment for this command only."""
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self._log_dir / f"{name}.log", "ab")
            self._logs.append(log)
            output: int | IO[bytes] = log
        else:
            output = subprocess.PIPE
        proc = subprocess.Popen(
            list(command),
            env={**self._env, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        if self._log_dir is None:
            threading.Thread(target=_relay, args=(name, proc), daemon=True).start()
        return proc

    @property
    def mark(self) -> str:
        """The value of ``GMCRM_PROCESS_TREE`` in the environment of every process of this tree."""
        return self._mark

    def _is_orphan_of_tree(self, process: psutil.Process) -> bool:
        if process.pid in self._keep or process.pid in {proc.pid for proc in self.procs.values()}:
            return False
        try:
            return process.environ().get(TREE_MARK_ENV) == self._mark
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            # A zombie (its environment is gone) is only reaped, never signalled: reaping is harmless.
            return False

    def wait_any(self, poll: float = 0.5) -> tuple[str, int]:
        """Block until one command exits; its name and exit status."""
        while True:
            for name, proc in self.procs.items():
                code = proc.poll()
                if code is not None:
                    return name, code
            self._reap_orphans()
            time.sleep(poll)

    def _reap_orphans(self) -> None:
        """Collect exited orphans re-parented to us (a subreaper must, or they stay zombies)."""
        ours = {proc.pid for proc in self.procs.values()} | self._keep
        try:
            children = psutil.Process().children()
        except psutil.NoSuchProcess:  # pragma: no cover - this very process
            return
        for child in children:
            if child.pid in ours:
                continue
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)
            except (psutil.NoSuchProcess, ChildProcessError):
                pass

    def _members(self, names: Iterable[str]) -> list[psutil.Process]:
        """The live processes of the named commands, their descendants, and orphans re-parented to us."""
        found: list[psutil.Process] = []
        for name in names:
            try:
                top = psutil.Process(self.procs[name].pid)
                found += [top, *top.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        try:
            orphans = [child for child in psutil.Process().children() if self._is_orphan_of_tree(child)]
        except psutil.NoSuchProcess:  # pragma: no cover - this very process
            orphans = []
        for orphan in orphans:
            try:
                found += [orphan, *orphan.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return [p for p in found if _alive(p)]

    def stop(self, grace: float = 20.0) -> list[int]:
        """SIGTERM, up to ``grace`` seconds for the commands to exit, then SIGKILL to what is left.

        The first command (the API server) stops last: the others report to it while they stop.
        Returns the pids that had to be killed.
        """
        names = list(self.procs)
        killed: list[int] = []
        for batch in (names[1:], names[:1]):
            if batch:
                killed += self._stop(batch, grace)
        self._reap()
        for log in self._logs:
            log.close()
        return killed

    def _stop(self, names: list[str], grace: float) -> list[int]:
        members = self._members(names)
        leaders = [p for p in members if p.pid in {self.procs[n].pid for n in names}]
        # SIGTERM to the components only: each stops its own workers and tasks in order (a worker
        # signalled directly dies mid-way, and the scheduler then waits on it).
        for process in leaders:
            _send(process, signal.SIGTERM)
        psutil.wait_procs(leaders, timeout=grace)
        psutil.wait_procs(members, timeout=3)
        alive = [p for p in {p.pid: p for p in [*members, *self._members(names)]}.values() if _alive(p)]
        for process in alive:
            _send(process, signal.SIGTERM)
        psutil.wait_procs(alive, timeout=2)
        alive = [p for p in alive if _alive(p)]
        for name in names:
            _signal_group(self.procs[name].pid, signal.SIGKILL)
        for process in alive:
            _send(process, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
        return [p.pid for p in alive]

    def _reap(self) -> None:
        # Orphans re-parented to us are our children: collect them so none is left a zombie.
        for proc in self.procs.values():
            proc.poll()
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _send(process: psutil.Process, sig: signal.Signals) -> None:
    try:
        process.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


def _relay(name: str, proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        sys.stdout.write(f"{name:<13}| {raw.decode(errors='replace')}")
        sys.stdout.flush()
