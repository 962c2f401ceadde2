"""Starting the sandbox: sandbox.json, TLS, the command line, a failed start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gmcrm_sandbox import records
from gmcrm_sandbox.generate import generate_leads
from gmcrm_sandbox.info import read_info
from gmcrm_sandbox.process import SandboxProcess, SandboxStartError
from gmcrm_sandbox.schema import OPPORTUNITY
from gmcrm_sandbox.timefmt import parse_sf

SANDBOX_DIR = Path(__file__).resolve().parents[2] / "sandbox"


def test_sandbox_json_describes_the_running_server(sandbox: SandboxProcess) -> None:
    info = read_info(sandbox.state_dir)
    assert info is not None
    assert info.instance_url == sandbox.instance_url and info.instance_url.startswith("https://127.0.0.1:")
    assert info.ca_bundle == str(sandbox.state_dir.resolve() / "ca.pem")
    assert (info.client_id, info.client_secret) == ("gmcrm", "sandbox-secret")
    assert info.pid == sandbox.pid != os.getpid()
    assert Path(info.ca_bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert sandbox.connection()["extra"] == {"instance_url": info.instance_url, "ca_bundle": info.ca_bundle}


def test_tls_is_verified_against_the_sandbox_ca(sandbox: SandboxProcess) -> None:
    # The environment's bundle (REQUESTS_CA_BUNDLE on these machines) does not know the sandbox's CA.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sandbox.instance_url}/__admin__/health", verify=True, timeout=10)
    plain = sandbox.instance_url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{plain}/__admin__/health", timeout=10)
    assert sandbox.session().get(f"{sandbox.instance_url}/__admin__/health", timeout=10).status_code == 200


def test_cli_generate_prints_the_same_leads() -> None:
    env = {**os.environ, "PYTHONPATH": str(SANDBOX_DIR)}
    out = subprocess.run(
        [sys.executable, "-m", "gmcrm_sandbox", "generate", "--dealer-codes", "BR0001", "--leads-per-dealer", "4",
         "--seed", "3", "--now", "2026-11-27T10:00:00Z"],
        capture_output=True, check=True, env=env, timeout=60,
    )  # fmt: skip
    printed = json.loads(out.stdout)
    expected = generate_leads(3, ["BR0001"], 4, parse_sf("2026-11-27T10:00:00Z"))
    assert printed == [records.plain(OPPORTUNITY, lead) for lead in expected]
    assert b"4 leads generated" in out.stderr


def test_a_failed_start_raises_with_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SandboxStartError) as err:
            SandboxProcess(tmp_path, port=port, startup_timeout=30).start()
    assert "Address already in use" in str(err.value)
    assert read_info(tmp_path) is None
