"""Shared fixtures: a real PostgreSQL for every test that needs one.

The server is ``GMCRM_TEST_PG_URL`` when set, else the local one on 127.0.0.1:5432 when it answers,
else an embedded PostgreSQL (pgserver) started for the session. Each test gets its own database,
cloned from a migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "plugins", ROOT / "sandbox"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# Airflow reads its home at import: keep tests away from ~/airflow and from examples.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".gmcrm" / "airflow-test"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))

from gmcrm import db, migrate  # noqa: E402
from gmcrm.airflow_support import postgres_conn_json, salesforce_conn_json  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _with_db(server_url: str, name: str) -> str:
    return db.with_database(server_url, name)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("GMCRM_TEST_PG_URL")
    if url:
        yield url
        return
    if _answers(LOCAL_SERVER):
        yield LOCAL_SERVER
        return
    # pgserver logs from an exit hook, after pytest has closed its capture streams.
    logging.getLogger("pgserver").propagate = False
    embedded = db.EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    embedded.start()
    yield embedded.server_url
    embedded.stop()


@pytest.fixture(scope="session")
def dms_template(pg_server_url: str) -> Iterator[str]:
    """A migrated database that every test's database is cloned from."""
    name = f"gmcrm_tpl_{uuid.uuid4().hex[:10]}"
    db.ensure_database(pg_server_url, name)
    migrate.upgrade(_with_db(pg_server_url, name))
    yield name
    db.drop_database(pg_server_url, name)


@pytest.fixture
def dms_url(pg_server_url: str, dms_template: str) -> Iterator[str]:
    """A fresh, fully migrated DMS database for one test."""
    name = f"gmcrm_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{dms_template}"')
    yield _with_db(pg_server_url, name)
    db.drop_database(pg_server_url, name)


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = f"gmcrm_e_{uuid.uuid4().hex[:12]}"
    db.ensure_database(pg_server_url, name)
    yield _with_db(pg_server_url, name)
    db.drop_database(pg_server_url, name)


# ---------------------------------------------------------------------------------------------
# The GM CRM sandbox over real HTTPS, and Airflow connections pointing at it and at the DMS.


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with SandboxProcess(tmp_path_factory.mktemp("gm-sandbox"), dealers=3, leads_per_dealer=0, seed=42) as sandbox:
        yield sandbox


@pytest.fixture
def gm_sandbox(sandbox_process: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxProcess]:
    """The sandbox with no leads, no faults and zeroed counters; ``gm_crm`` points at it."""
    sandbox_process.admin.reset(empty=True)
    sandbox_process.admin.set_clock()
    monkeypatch.setenv(
        "AIRFLOW_CONN_GM_CRM",
        salesforce_conn_json(
            sandbox_process.instance_url,
            sandbox_process.client_id,
            sandbox_process.client_secret,
            sandbox_process.ca_bundle,
        ),
    )
    yield sandbox_process
    sandbox_process.admin.clear_faults()


@pytest.fixture
def dms_conn_env(dms_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``dms_postgres`` points at this test's database."""
    monkeypatch.setenv("AIRFLOW_CONN_DMS_POSTGRES", postgres_conn_json(dms_url))
    return dms_url
