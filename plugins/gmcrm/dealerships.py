"""Dealership settings (``gmcrm.dealership``) and the demo seed.

Adding a dealership is one row here: the next scheduled import picks it up, no code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg.rows import class_row

from gmcrm.paths import PACKAGE_DIR, named_queries

_SQL = named_queries("onboarding")

DEMO_FILE = PACKAGE_DIR / "config" / "demo_dealerships.yaml"
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


def seed_demo(conn: psycopg.Connection[Any], path: Path = DEMO_FILE, enabled: bool = True) -> list[str]:
    """Departments, users, dealerships and contact settings of the demo file, and the DMS side
    (departments and users only) of its ``dms_only`` dealerships. Idempotent; a ``dms_only``
    dealership someone has since added to gmcrm keeps its settings. Returns the integrated ones."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    codes: list[str] = []
    for code in dms_only_codes(path):
        _seed_dms(conn, code, spec)
    for dealer in spec["dealerships"]:
        code = dealer["dealer_code"]
        codes.append(code)
        _seed_dms(conn, code, spec)
        users = dealer["users"]
        upsert_dealership(
            conn,
            code,
            name=dealer["name"],
            routing=dealer["routing"],
            traffic_origin=dealer["traffic_origin"],
            integration_enabled=enabled,
            vehicles_user_id=user_id(conn, code, users["vehicles"]),
            parts_user_id=user_id(conn, code, users["parts"]),
            service_user_id=user_id(conn, code, users["service"]),
            after_sales_user_id=user_id(conn, code, users["after_sales"]),
        )
        for lead_type, setting in spec["contact_settings"].items():
            dep_code = setting.get("department")
            conn.execute(
                "INSERT INTO gmcrm.contact_setting (dealer_code, lead_type, contact_type, contact_subtype, "
                "department_id) VALUES (%s, %s, %s, %s, "
                "(SELECT id FROM dms.department WHERE dealer_code = %s AND code = %s)) "
                "ON CONFLICT (dealer_code, lead_type) DO UPDATE SET contact_type = EXCLUDED.contact_type, "
                "contact_subtype = EXCLUDED.contact_subtype, department_id = EXCLUDED.department_id",
                (code, lead_type, setting["contact_type"], setting["contact_subtype"], code, dep_code),
            )
    return codes


def dms_only_codes(path: Path = DEMO_FILE) -> list[str]:
    """The demo's dealerships that exist in the DMS but not (yet) in gmcrm: BR0042, the README's
    onboarding example."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [d["dealer_code"] for d in spec.get("dms_only", [])]


def _seed_dms(conn: psycopg.Connection[Any], code: str, spec: dict[str, Any]) -> None:
    """One dealership's DMS departments and users (what its staff create in the DMS)."""
    for dep in spec["departments"]:
        conn.execute(
            "INSERT INTO dms.department (dealer_code, code, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (dealer_code, code) DO UPDATE SET name = EXCLUDED.name",
            (code, dep["code"], dep["name"]),
        )
    for user in spec["users"]:
        conn.execute(
            "INSERT INTO dms.app_user (dealer_code, login, name, email, department_id, sales_team, "
            "seller_origin) SELECT %s, %s, %s, %s, d.id, %s, %s FROM dms.department d "
            "WHERE d.dealer_code = %s AND d.code = %s "
            "ON CONFLICT (dealer_code, login) DO UPDATE SET name = EXCLUDED.name, "
            "department_id = EXCLUDED.department_id, sales_team = EXCLUDED.sales_team, "
            "seller_origin = EXCLUDED.seller_origin",
            (
                code,
                user["login"],
                user["name"],
                f"{user['login']}@{code.lower()}.example.com.br",
                user.get("sales_team"),
                user.get("seller_origin"),
                code,
                user["department"],
            ),
        )
