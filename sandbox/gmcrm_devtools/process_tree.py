"""A command and every process it starts, stopped together (for `make run`'s Airflow standalone).

``airflow standalone`` stops its components with one SIGTERM each and does not wait for their
children: the scheduler's and triggerer's workers, and every task's supervisor (Airflow puts each
task in its own process group), were left running. Here the command runs in its own session, this
process becomes their "subreaper" (orphans are re-parented to it, not to init, so they stay
findable), and stopping sends SIGTERM to every process of the tree, waits, then SIGKILLs the rest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence

import psutil

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper() -> bool:
    """Have orphaned descendants re-parented to this process (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class ProcessTree:
    """``command`` in a new session; :meth:`stop` ends it and all its descendants."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], keep: Iterable[int] = ()) -> None:
        # Processes of ours that are not part of the tree (the sandbox): never signalled here.
        self._keep = {os.getpid(), *keep}
        become_subreaper()
        self.proc = subprocess.Popen(list(command), env=dict(env), start_new_session=True)
        self._seen: dict[int, psutil.Process] = {}

    def _members(self) -> list[psutil.Process]:
        """Every live process of the tree: the command, its descendants, and orphans re-parented to us."""
        found: list[psutil.Process] = []
        try:
            children = psutil.Process().children()
        except psutil.NoSuchProcess:  # pragma: no cover - this very process
            children = []
        for child in children:
            if child.pid in self._keep:
                continue
            found.append(child)
            try:
                found += child.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for process in found:
            self._seen.setdefault(process.pid, process)
        return [p for p in self._seen.values() if _alive(p)]

    def wait(self) -> int:
        return self.proc.wait()

    def stop(self, grace: float = 20.0) -> list[int]:
        """SIGTERM to the whole tree, ``grace`` seconds, then SIGKILL; returns the pids killed."""
        members = self._members()
        _signal_group(self.proc.pid, signal.SIGTERM)
        for process in members:
            _send(process, signal.SIGTERM)
        _, alive = psutil.wait_procs(members, timeout=grace)
        # Processes started while stopping (a worker respawned) are caught by a second look.
        alive = self._members()
        for process in alive:
            _send(process, signal.SIGKILL)
        _signal_group(self.proc.pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
        self._reap()
        return [p.pid for p in alive]

    def _reap(self) -> None:
        # Orphans re-parented to us are our children: collect them so none is left a zombie.
        self.proc.poll()
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


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


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
