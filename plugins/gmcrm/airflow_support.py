"""Airflow glue: connections, run context, settings read at run time (never at parse time).

Imported by every task at its start, so it imports nothing heavy itself: the GM client (simple_salesforce,
zeep, httpx: ~0.2 s) only when a task asks for one (see ``benchmarks/bench_task_start.py``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import psycopg

from gmcrm import settings

if TYPE_CHECKING:
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
    from gmcrm.gm_client import GmClient

    return GmClient.from_conn_id(conn_id)


def dealers_per_task() -> int | None:
    """``GMCRM_DEALERS_PER_TASK`` when set: a fixed number of dealerships per mapped import task, instead
    of the automatic grouping (:func:`import_max_tasks`)."""
    return settings.dealers_per_task()


def import_max_tasks(dag: Any, load_task_id: str = "load_dealerships") -> int:
    """The most mapped load tasks an import run makes: ``GMCRM_IMPORT_MAX_TASKS`` (default 20), bounded by
    what Airflow runs at once: ``[core] parallelism``, the DAG's ``max_active_tasks`` (``[core]
    max_active_tasks_per_dag`` unless the DAG sets it) and the load task's pool. A task cannot read the
    metadata database in Airflow 3 (the Task SDK's API has no pools), so ``default_pool``'s slots are
    ``[core] default_pool_task_slot_count`` (what Airflow created it with); a pool resized since, or
    another pool, is for ``GMCRM_IMPORT_MAX_TASKS`` to follow."""
    from airflow.sdk.configuration import conf

    from gmcrm.leads.grouping import max_load_tasks

    pool_slots: int | None = None
    pool = getattr(dag.task_dict.get(load_task_id), "pool", None) if dag is not None else None
    if pool in (None, "default_pool"):
        pool_slots = conf.getint("core", "default_pool_task_slot_count", fallback=128)
    return max_load_tasks(
        settings.import_max_tasks(),
        parallelism=conf.getint("core", "parallelism", fallback=32),
        max_active_tasks=getattr(dag, "max_active_tasks", None)
        or conf.getint("core", "max_active_tasks_per_dag", fallback=16),
        pool_slots=pool_slots,
    )


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
