"""The client knows which GM user it signs in as, the way a Salesforce client learns it, at no query cost.

Against the sandbox over real HTTPS: the client-credentials answer's ``id`` (the identity URL
``https://host/id/<orgId>/<userId>``) names the user for free; the provider's JWT and password flows keep
only the session (simple-salesforce drops the ``id``), so such a client asks ``/services/oauth2/userinfo``
once and keeps the answer; a connection's ``integration_user_id`` extra spares even that, and its
``echo_user_ids`` name other users whose changes are the integration's own.
"""

from __future__ import annotations

import json

import pytest
from simple_salesforce import Salesforce

from gmcrm.gm_client import GmClient, direct_session
from gmcrm_sandbox.access import GM_USER_ID, USER_ID
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import fast_client

pytestmark = pytest.mark.integration


def test_the_direct_sign_in_names_the_user_without_a_call(gm_sandbox: SandboxProcess) -> None:
    for client in (
        fast_client(),
        GmClient.direct(
            gm_sandbox.instance_url, gm_sandbox.client_id, gm_sandbox.client_secret, ca_bundle=gm_sandbox.ca_bundle
        ),
    ):
        before = gm_sandbox.admin.calls()
        assert client.own_user_ids() == (USER_ID,)
        after = gm_sandbox.admin.calls()
        assert client.stats.calls == 0 and client.stats.sign_ins == 1
        assert after["total"] - before["total"] == 1 and after["token"] - before["token"] == 1


def test_a_sign_in_that_drops_the_identity_asks_userinfo_once(gm_sandbox: SandboxProcess) -> None:
    def connect() -> Salesforce:
        # As SalesforceHook.get_conn() gives it after a JWT or password sign-in: a session, no identity.
        session = direct_session(gm_sandbox.ca_bundle)
        return Salesforce(
            instance_url=gm_sandbox.instance_url, session_id=gm_sandbox.fetch_token(session), session=session
        )

    client = GmClient(connect, backoff_initial=0.01, backoff_max=0.05)
    assert client.own_user_ids() == (USER_ID,)
    assert client.own_user_ids() == (USER_ID,)
    assert dict(client.stats.by_kind) == {"identity": 1}
    assert gm_sandbox.admin.calls()["api_usage"]["used"] == 0  # not a REST API request


def test_connection_extras_name_the_user_and_other_echo_users(
    gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    automation = "005SB0000000002AAA"
    monkeypatch.setenv(
        "AIRFLOW_CONN_GM_CRM",
        json.dumps(
            {
                "conn_type": "salesforce",
                "login": gm_sandbox.client_id,
                "password": gm_sandbox.client_secret,
                "extra": {
                    "instance_url": gm_sandbox.instance_url,
                    "ca_bundle": gm_sandbox.ca_bundle,
                    "integration_user_id": GM_USER_ID,  # what a person configured wins over the sign-in
                    "echo_user_ids": f"{automation}, {GM_USER_ID}",
                },
            }
        ),
    )
    client = fast_client()
    assert client.own_user_ids() == (GM_USER_ID, automation)
    assert client.stats.sign_ins == 0  # known without signing in
