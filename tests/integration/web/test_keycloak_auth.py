"""The gmcrm pages under the production auth manager (Keycloak, as docker-compose.yaml configures it).

Airflow's own API server app with the plugin, in a subprocess configured as the compose file configures
the containers: KeycloakAuthManager and a JWT secret of its own. A token forged with another secret (the
old compose file's default ``change-me``) reads nothing: not the lead log, not Airflow's API. A token
signed with the right secret goes on to the auth manager, which asks Keycloak; no Keycloak runs here (no
image registry reachable: docs/deployment.md), so that request fails closed and shows nothing either.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.send import import_leads, seed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
KEYCLOAK = "airflow.providers.keycloak.auth_manager.keycloak_auth_manager.KeycloakAuthManager"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path, jwt_secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__AUTH_MANAGER": KEYCLOAK,
            # Nothing listens there: the test needs no Keycloak to show what a forged token gets.
            "AIRFLOW__KEYCLOAK_AUTH_MANAGER__SERVER_URL": f"http://127.0.0.1:{_closed_port()}",
            "AIRFLOW__KEYCLOAK_AUTH_MANAGER__REALM": "gmcrm",
            "AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_ID": "airflow",
            "AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__KEYCLOAK_AUTH_MANAGER__REQUESTS_RETRIES": "0",
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        }
    )
    return env


def test_a_token_forged_with_another_secret_reads_nothing(
    dms_conn_env: str, gm_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    with psycopg.connect(dms_conn_env, autocommit=True) as conn:
        seed(conn)
        [lead_id] = import_leads(dms_conn_env, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
        dms.register_contact(conn, dms.contact_of_lead(conn, lead_id), "PHONE")
    jwt_secret = secrets.token_urlsafe(48)
    env = _env(tmp_path, jwt_secret)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    script = f"""
        import json
        from fastapi.testclient import TestClient
        from airflow.api_fastapi.app import create_app, get_auth_manager
        from airflow.api_fastapi.auth.tokens import JWTGenerator

        client = TestClient(create_app("core"), raise_server_exceptions=False)
        manager = get_auth_manager()
        claims = {{"sub": "admin", "user_id": "admin", "name": "admin", "access_token": "x"}}

        def token(secret):
            signer = JWTGenerator(secret_key=secret, valid_for=600, audience=manager._get_jwt_audience())
            return signer.generate(extras=claims)

        page = "/gmcrm/lead-log/lead/{lead_id}"
        results = {{"manager": type(manager).__name__}}
        anonymous = client.get(page, follow_redirects=False)
        results["anonymous"] = [anonymous.status_code, anonymous.headers.get("location", "")]
        for name, secret in (("change-me", "change-me"), ("another", "x" * 64), ("right", {jwt_secret!r})):
            bearer = {{"Authorization": "Bearer " + token(secret)}}
            lead_log = client.get(page, headers=bearer)
            ops = client.get("/gmcrm/ops", headers=bearer)
            api = client.get("/api/v2/dags", headers=bearer)
            client.cookies.set("_token", token(secret))  # what the UI's session cookie carries
            cookie = client.get(page, follow_redirects=False)
            client.cookies.clear()
            bodies = lead_log.text + ops.text + api.text + cookie.text
            results[name] = {{
                "statuses": [lead_log.status_code, ops.status_code, api.status_code, cookie.status_code],
                "leaked": "{lead_id}" in bodies or "BR0001" in bodies or "gmcrm_send_triggers" in bodies,
            }}
        print(json.dumps(results))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["manager"] == "KeycloakAuthManager"
    status, location = found["anonymous"]
    assert status == 303 and location.startswith("/auth/login")  # Keycloak's sign-in route
    for forged in ("change-me", "another"):
        # lead log, operations, Airflow's API, the lead log by cookie: all refused by the token check.
        assert found[forged] == {"statuses": [403, 403, 403, 403], "leaked": False}, forged
    # The right secret gets past the token check to the auth manager, which cannot reach Keycloak: no access.
    # (with Keycloak up, its answer decides: docs/deployment.md; here the error is the answer, 500 and no data).
    assert found["right"] == {"statuses": [500, 500, 500, 500], "leaked": False}
