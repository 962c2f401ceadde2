"""Airflow glue: connections, run context, settings read at run time (never at parse time)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from gmcrm import settings
from gmcrm.gm_client import GmClient

DMS_CONN_ID = "dms_postgres"
GM_CONN_ID = "gm_crm"


def dms_connection() -> psycopg.Connection[Any]:
    """A psycopg 3 connection to the DMS through the provider's hook (``dms_postgres``)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=DMS_CONN_ID).get_conn()
    if not isinstance(conn, psycopg.Connection):  # pragma: no cover - psycopg2 is not what we ship
        raise RuntimeError("gmcrm needs psycopg 3 behind the dms_postgres connection")
    return conn


def gm_client(conn_id: str = GM_CONN_ID) -> GmClient:
    return GmClient.from_conn_id(conn_id)


def dealers_per_task() -> int:
    """Dealerships per mapped import task (``GMCRM_DEALERS_PER_TASK``): 1 unless there are hundreds."""
    return settings.dealers_per_task()


def postgres_conn_json(url: str) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON) for a PostgreSQL URL, Unix-socket hosts included."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    extra = {k: v for k, v in info.items() if k not in ("host", "port", "user", "password", "dbname")}
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": info.get("host"),
            "port": int(str(info["port"])) if info.get("port") else None,
            "login": info.get("user"),
            "password": info.get("password"),
            "schema": info.get("dbname"),
            "extra": extra,
        }
    )


def salesforce_conn_json(instance_url: str, client_id: str, client_secret: str, ca_bundle: str | None) -> str:
    """An ``AIRFLOW_CONN_GM_CRM`` value for a Salesforce-compatible server such as the sandbox."""
    extra: dict[str, Any] = {"instance_url": instance_url}
    if ca_bundle:
        extra["ca_bundle"] = ca_bundle
    return json.dumps({"conn_type": "salesforce", "login": client_id, "password": client_secret, "extra": extra})
