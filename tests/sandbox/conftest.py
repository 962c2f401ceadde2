"""Fixtures for the GM CRM sandbox tests: one sandbox server for the session, reset before each test.

The Salesforce client is UNMODIFIED simple-salesforce, built the way the integration builds it against a
server that is not on salesforce.com: a requests session that verifies against the sandbox's CA (with
``trust_env = False``, or ``REQUESTS_CA_BUNDLE`` would win), a token from the client-credentials grant, then
a direct session.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "sandbox") not in sys.path:
    sys.path.insert(0, str(ROOT / "sandbox"))

from gmcrm_sandbox.admin import AdminClient  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402

DEALERS = ("BR0001", "BR0002", "BR0003")
LEADS_PER_DEALER = 20


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with SandboxProcess(
        tmp_path_factory.mktemp("gmcrm-sandbox"),
        port=0,
        dealer_codes=DEALERS,
        leads_per_dealer=LEADS_PER_DEALER,
        seed=42,
    ) as process:
        yield process


@pytest.fixture
def admin(sandbox: SandboxProcess) -> AdminClient:
    """The admin client, on a sandbox just reset to its generated state."""
    sandbox.admin.reset()
    return sandbox.admin


@pytest.fixture
def http(sandbox: SandboxProcess) -> Iterator[requests.Session]:
    session = sandbox.session()
    yield session
    session.close()


@pytest.fixture
def new_token(sandbox: SandboxProcess, http: requests.Session) -> Callable[[], str]:
    """Get another access token (client credentials), as after a 401."""
    return lambda: sandbox.fetch_token(http)


@pytest.fixture
def sf(sandbox: SandboxProcess, admin: AdminClient, http: requests.Session) -> Salesforce:
    """simple-salesforce on a direct session, as against any Salesforce-compatible server."""
    return Salesforce(instance_url=sandbox.instance_url, session_id=sandbox.fetch_token(http), session=http)
