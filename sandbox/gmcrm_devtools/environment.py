"""The local environment of `make demo` and `make run`: DMS database, GM CRM sandbox, Airflow home.

Defaults need nothing but Python: an embedded PostgreSQL (pgserver) for the DMS and for Airflow's
metadata, and the GM CRM sandbox over HTTPS. With real connections configured
(``AIRFLOW_CONN_GM_CRM``, ``AIRFLOW_CONN_DMS_POSTGRES`` / ``GMCRM_DMS_URL``) neither starts.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gmcrm import db, settings
from gmcrm.airflow_support import postgres_conn_json, salesforce_conn_json
from gmcrm.paths import PROJECT_ROOT, STATE_DIR
from gmcrm_devtools import demo_seed
from gmcrm_sandbox.generate import dealer_codes_for
from gmcrm_sandbox.process import SandboxProcess

AIRFLOW_DB_NAME = "airflow"
UI_PORT_ENV = settings.UI_PORT
DEFAULT_UI_PORT = 8080


class SettingError(ValueError):
    """A local setting (an environment variable) that cannot be used; the message says which."""


def ui_port() -> int:
    """The port of Airflow's UI and API (``GMCRM_UI_PORT``, default 8080)."""
    raw = settings.ui_port_text() or str(DEFAULT_UI_PORT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SettingError(f"{UI_PORT_ENV}={raw!r} is not a port number (1-65535)")
    return int(raw)


def api_settings(port: int) -> dict[str, str]:
    """Airflow settings that put the UI, the API *and* the address tasks call on ``port``.

    Airflow 3's tasks report to the execution API at ``[core] execution_api_server_url``, which
    defaults to ``http://localhost:8080/execution/`` whatever port the API server listens on:
    moving only ``[api] port`` leaves every task with "connection refused".
    """
    base_url = f"http://localhost:{port}"
    return {
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
    }


@dataclass
class DevEnvironment:
    dms_url: str
    airflow_home: Path
    airflow_db_url: str
    sandbox: SandboxProcess | None = None
    embedded: db.EmbeddedPostgres | None = None
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        settings = sys.modules.get("airflow.settings")
        if settings is not None:
            # Airflow's pooled connections go first, or its exit hook meets a stopped server.
            settings.dispose_orm()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.embedded is not None:
            self.embedded.stop()


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def start(
    *,
    dealers: int = 3,
    leads_per_dealer: int = 12,
    seed: int = 42,
    sandbox_port: int = 0,
    state_dir: Path = STATE_DIR,
    pgdata: Path | None = None,
) -> DevEnvironment:
    """Start what is not configured, and put the Airflow settings in ``os.environ``.

    The embedded PostgreSQL keeps its data in ``pgdata`` (default: under ``state_dir``).
    """
    embedded: db.EmbeddedPostgres | None = None
    dms_url = settings.dms_url()
    if dms_url:
        server_url = dms_url
    elif os.environ.get("AIRFLOW_CONN_DMS_POSTGRES"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        dms_url = server_url = PostgresHook(postgres_conn_id="dms_postgres").get_uri()
    else:
        embedded = db.EmbeddedPostgres(pgdata or state_dir / "pgdata")
        dms_url = embedded.start()
        server_url = embedded.server_url

    airflow_home = state_dir / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    # Airflow's own metadata lives beside the DMS on the same server (its own database).
    db.ensure_database(server_url, AIRFLOW_DB_NAME)
    airflow_db_url = db.with_database(server_url, AIRFLOW_DB_NAME)

    sandbox: SandboxProcess | None = None
    env: dict[str, str] = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy_url(airflow_db_url),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        **api_settings(ui_port()),
        settings.PROJECT_ROOT: str(PROJECT_ROOT),
    }
    if not os.environ.get("AIRFLOW_CONN_DMS_POSTGRES"):
        env["AIRFLOW_CONN_DMS_POSTGRES"] = postgres_conn_json(dms_url)
    if not os.environ.get("AIRFLOW_CONN_GM_CRM"):
        sandbox = SandboxProcess(
            state_dir / "sandbox",
            port=sandbox_port,
            # BR0042 too: in the DMS, not in gmcrm until the README's onboarding example adds it; its
            # leads wait at GM and the first run after it is enabled imports them.
            dealer_codes=[*dealer_codes_for(dealers), *demo_seed.dms_only_codes()],
            leads_per_dealer=leads_per_dealer,
            seed=seed,
        ).start()
        env["AIRFLOW_CONN_GM_CRM"] = salesforce_conn_json(
            sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle
        )
    passwords = airflow_home / "passwords.json"
    if not passwords.exists():
        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}), encoding="utf-8")
        passwords.chmod(0o600)
    os.environ.update(env)
    return DevEnvironment(dms_url, airflow_home, airflow_db_url, sandbox, embedded, env)


def airflow_db_migrate() -> None:
    """Create or upgrade Airflow's metadata database (quiet unless it fails)."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit("airflow db migrate failed")
