"""Run the sandbox as a child process, for tests, benchmarks and the demo.

``SandboxProcess`` starts ``python -m gmcrm_sandbox serve`` with the given options, waits (bounded) until
``sandbox.json`` names the child and ``/__admin__/health`` answers, and stops the child on exit::

    with SandboxProcess(dealers=3, leads_per_dealer=20) as sandbox:
        sandbox.admin.reset()
        token = sandbox.fetch_token()
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from .admin import AdminClient
from .info import SandboxInfo, info_path, read_info

# The directory holding the gmcrm_sandbox package: put on the child's PYTHONPATH, so that the child
# imports this very package even when it is not installed.
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class SandboxStartError(RuntimeError):
    """The sandbox did not come up; the message ends with the tail of its log."""


class SandboxProcess:
    """A sandbox server in a child process. Use as a context manager (or ``start``/``stop``)."""

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        dealers: int = 3,
        dealer_codes: Sequence[str] | None = None,
        leads_per_dealer: int = 20,
        seed: int = 42,
        daily_limit: int = 15000,
        client_id: str = "gmcrm",
        client_secret: str = "sandbox-secret",  # noqa: S107 - the sandbox's documented default
        log_level: str = "warning",
        startup_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> None:
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="gmcrm-sandbox-"))
        self.startup_timeout = startup_timeout
        self.log_path = self.state_dir / "sandbox.log"
        self.args: list[str] = [
            python,
            "-m",
            "gmcrm_sandbox",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--state-dir",
            str(self.state_dir),
            "--leads-per-dealer",
            str(leads_per_dealer),
            "--seed",
            str(seed),
            "--daily-limit",
            str(daily_limit),
            "--client-id",
            client_id,
            "--client-secret",
            client_secret,
            "--log-level",
            log_level,
        ]
        if dealer_codes is not None:
            self.args += ["--dealer-codes", ",".join(dealer_codes)]
        else:
            self.args += ["--dealers", str(dealers)]
        self._proc: subprocess.Popen[bytes] | None = None
        self._info: SandboxInfo | None = None
        self._admin: AdminClient | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> SandboxProcess:
        if self._proc is not None:
            raise RuntimeError("already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        info_path(self.state_dir).unlink(missing_ok=True)  # a stale file must not be mistaken for ours
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SandboxStartError(f"sandbox exited with status {self._proc.returncode}\n{self._log_tail()}")
            info = read_info(self.state_dir)
            if info is not None and info.pid == self._proc.pid:
                admin = AdminClient(info.instance_url, info.ca_bundle, timeout=5.0)
                try:
                    admin.health()
                except (requests.RequestException, RuntimeError):
                    admin.close()
                else:
                    admin.timeout = 30.0
                    self._info, self._admin = info, admin
                    return
            time.sleep(0.05)
        raise SandboxStartError(f"sandbox not ready after {self.startup_timeout:.0f}s\n{self._log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after ``timeout``); remove the state dir if we made it."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._info = None
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ----------------------------------------------------------------------------------- attributes

    @property
    def info(self) -> SandboxInfo:
        if self._info is None:
            raise RuntimeError("the sandbox is not running")
        return self._info

    @property
    def instance_url(self) -> str:
        return self.info.instance_url

    @property
    def ca_bundle(self) -> str:
        return self.info.ca_bundle

    @property
    def client_id(self) -> str:
        return self.info.client_id

    @property
    def client_secret(self) -> str:
        return self.info.client_secret

    @property
    def pid(self) -> int:
        return self.info.pid

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            raise RuntimeError("the sandbox is not running")
        return self._admin

    # ------------------------------------------------------------------------------------ helpers

    def session(self) -> requests.Session:
        """A requests session that verifies against the sandbox's CA (and ignores REQUESTS_CA_BUNDLE)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_bundle
        return session

    def fetch_token(self, session: requests.Session | None = None, timeout: float = 30.0) -> str:
        """An access token through the client-credentials grant, as the integration gets one."""
        own = session is None
        http = session or self.session()
        try:
            response = http.post(
                f"{self.instance_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
                timeout=timeout,
            )
            response.raise_for_status()
            token: str = response.json()["access_token"]
            return token
        finally:
            if own:
                http.close()

    def connection(self) -> dict[str, Any]:
        """An Airflow ``salesforce`` connection (JSON form) pointing at this sandbox."""
        return dict(self.info.connection())
