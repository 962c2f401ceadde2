"""Dealership settings (``gmcrm.dealership``). The demo's dealerships are seeded by ``gmcrm_devtools.demo_seed``.

Adding a dealership is one row here: the next scheduled import picks it up, no code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from gmcrm.paths import named_queries

_SQL = named_queries("onboarding")

LEAD_TYPES = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")
ROUTINGS = ("DIRECT", "DISTRIBUTION")
EDITABLE = {
    "name",
    "integration_enabled",
    "routing",
    "vehicles_user_id",
    "parts_user_id",
    "service_user_id",
    "after_sales_user_id",
    "traffic_origin",
    "gm_conn_id",
}


@dataclass(frozen=True)
class Dealership:
    dealer_code: str
    name: str
    integration_enabled: bool
    routing: str
    vehicles_user_id: int | None
    parts_user_id: int | None
    service_user_id: int | None
    after_sales_user_id: int | None
    traffic_origin: str | None
    last_integration_at: datetime | None
    gm_conn_id: str


def list_dealerships(
    conn: psycopg.Connection[Any], dealer_codes: list[str] | None = None, enabled_only: bool = False
) -> list[Dealership]:
    params = {"codes": list(dealer_codes) if dealer_codes else None, "enabled_only": enabled_only}
    with conn.cursor(row_factory=class_row(Dealership)) as cur:
        return cur.execute(_SQL["list_dealerships"], params).fetchall()


def upsert_dealership(conn: psycopg.Connection[Any], dealer_code: str, **fields: Any) -> None:
    unknown = set(fields) - EDITABLE
    if unknown:
        raise ValueError(f"unknown dealership setting(s): {', '.join(sorted(unknown))}")
    if "routing" in fields and fields["routing"] not in ROUTINGS:
        raise ValueError(f"routing must be one of {', '.join(ROUTINGS)}, not {fields['routing']!r}")
    cols = ["dealer_code", *fields]
    values = [dealer_code, *fields.values()]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in fields) or "dealer_code = EXCLUDED.dealer_code"
    placeholders = ", ".join(["%s"] * len(cols))
    if "name" not in fields:
        # A new row needs a name; an update keeps the one it has.
        cols.append("name")
        values.append(dealer_code)
        placeholders += ", %s"
    conn.execute(
        f"INSERT INTO gmcrm.dealership ({', '.join(cols)}) VALUES ({placeholders}) "
        f"ON CONFLICT (dealer_code) DO UPDATE SET {updates}",
        values,
    )


class UnknownConnection(ValueError):
    """A dealership named a GM connection Airflow does not know."""


def check_gm_connection(conn_id: str) -> None:
    """Refuse a ``gm_conn_id`` Airflow cannot find, before it is saved: a dealership with an unknown
    connection would only fail at its next import.

    Airflow's own look-up, in the order Airflow uses: ``AIRFLOW_CONN_<ID>``, the configured secrets
    backends, then the metadata database (``airflow.models.Connection``; the Task SDK's
    ``BaseHook.get_connection`` skips the metadata database outside a task)."""
    if not conn_id.strip():
        raise UnknownConnection("--gm-conn-id is empty; give the id of an Airflow connection of type salesforce")
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise UnknownConnection(
            f"Airflow does not know the connection {conn_id!r} (looked in AIRFLOW_CONN_{conn_id.upper()}, "
            "the secrets backends and the metadata database); create it first (type salesforce) or name an "
            "existing one"
        ) from None


def user_id(conn: psycopg.Connection[Any], dealer_code: str, login: str) -> int:
    row = conn.execute(_SQL["user_id"], (dealer_code, login)).fetchone()
    if row is None:
        raise ValueError(f"no user {login!r} at dealership {dealer_code}: {known_logins(conn, dealer_code)}")
    return int(row[0])


def known_logins(conn: psycopg.Connection[Any], dealer_code: str, shown: int = 12) -> str:
    """What a person can pick from, in words: the dealership's logins (users are DMS data, created by
    the dealership's staff in the DMS; gmcrm only points at them)."""
    logins = [r[0] for r in conn.execute(_SQL["known_logins"], (dealer_code,))]
    if not logins:
        return f"the DMS has no users for {dealer_code} yet (they are created in the DMS, not by gmcrm)"
    more = f" and {len(logins) - shown} more" if len(logins) > shown else ""
    return f"its users are {', '.join(logins[:shown])}{more} (gmcrm users list {dealer_code})"
