"""A GM connection whose certificate authority is wrong is a configuration error, said at once.

Against the sandbox over real HTTPS: its certificate is signed by the CA in its state directory; a CA
made here with trustme did not sign it. Retrying cannot help, so the client does not retry (no
backoff, no "transient" error) and the message names the connection's ``ca_bundle`` extra. A
``ca_bundle`` that names no file is said before any call is made.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from gmcrm.airflow_support import salesforce_conn_json
from gmcrm.gm_client import GmClient, GmConfigError, GmTransientError
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import fast_client

pytestmark = pytest.mark.integration


@pytest.fixture
def wrong_ca(tmp_path: Path) -> str:
    path = tmp_path / "someone-elses-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _connection(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxProcess, ca_bundle: str | None) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GM_CRM",
        salesforce_conn_json(sandbox.instance_url, sandbox.client_id, sandbox.client_secret, ca_bundle),
    )


def test_a_certificate_that_fails_verification_is_a_configuration_error(
    gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, wrong_ca: str
) -> None:
    _connection(monkeypatch, gm_sandbox, wrong_ca)
    client = fast_client()
    with pytest.raises(GmConfigError) as raised:
        client.limits()
    assert not isinstance(raised.value, GmTransientError)
    message = str(raised.value)
    assert "certificate failed verification" in message and "ca_bundle" in message and wrong_ca in message
    assert "gm_crm" in message
    assert client.stats.retries == 0  # not retried with backoff: the same CA fails the same way

    # The same without Airflow (CLI, benchmarks).
    direct = GmClient.direct(
        gm_sandbox.instance_url, gm_sandbox.client_id, gm_sandbox.client_secret, ca_bundle=wrong_ca
    )
    with pytest.raises(GmConfigError, match="ca_bundle"):
        direct.limits()
    assert direct.stats.retries == 0

    # The right CA works (the test is about the CA, nothing else).
    _connection(monkeypatch, gm_sandbox, gm_sandbox.ca_bundle)
    assert "DailyApiRequests" in fast_client().limits()


def test_a_ca_bundle_that_does_not_exist_is_said_before_any_call(
    gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    _connection(monkeypatch, gm_sandbox, missing)
    calls_before = gm_sandbox.admin.calls()
    with pytest.raises(GmConfigError) as raised:
        fast_client()
    assert "ca_bundle" in str(raised.value) and missing in str(raised.value) and "does not exist" in str(raised.value)
    with pytest.raises(GmConfigError, match="does not exist"):
        GmClient.direct(gm_sandbox.instance_url, gm_sandbox.client_id, gm_sandbox.client_secret, ca_bundle=missing)
    assert gm_sandbox.admin.calls() == calls_before  # nothing was sent
