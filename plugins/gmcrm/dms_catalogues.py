"""DMS catalogues the triggers read: contact forms, reasons (with their GM reason), vehicle models.

The demo seed (``config/demo_catalogues.yaml``), the reason mapping people do under "Motivos"
(:func:`map_reason`, what ``gmcrm reasons map`` is for) and small look-ups by code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from gmcrm import dealerships
from gmcrm.catalogue.model import TriggerCatalogue
from gmcrm.catalogue.parse import load_catalogue
from gmcrm.catalogue.sync import sync_catalogue
from gmcrm.paths import PACKAGE_DIR, named_queries

DEMO_FILE = PACKAGE_DIR / "config" / "demo_catalogues.yaml"


@dataclass(frozen=True)
class SeedSummary:
    dealer_codes: tuple[str, ...]
    contact_forms: int
    reasons: int
    vehicle_models: int


@dataclass(frozen=True)
class UnmappedReason:
    dealer_code: str
    code: str
    description: str
    reason_type: str


def seed_demo_catalogues(
    conn: psycopg.Connection[Any], dealer_codes: list[str] | None = None, path: Path = DEMO_FILE
) -> SeedSummary:
    """Contact forms, reasons and vehicle models of the demo file for each dealership. Idempotent.

    ``dealer_codes`` None: every dealership in ``gmcrm.dealership``. Loads the trigger catalogue
    first, because reasons point at GM's reason list. A reason someone mapped since the last seed
    keeps its mapping (the demo's deliberately unmapped one included).
    """
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    sync_catalogue(conn)
    if dealer_codes is None:
        dealer_codes = [r[0] for r in conn.execute("SELECT dealer_code FROM gmcrm.dealership ORDER BY 1")]
    with conn.cursor() as cur:
        for code in dealer_codes:
            for form in spec["contact_forms"]:
                cur.execute(
                    "INSERT INTO dms.contact_form (dealer_code, name, type, presence_indicator) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (dealer_code, name) DO UPDATE SET "
                    "type = EXCLUDED.type, presence_indicator = EXCLUDED.presence_indicator",
                    (code, form["name"], form.get("type"), form.get("presence_indicator")),
                )
            for reason in spec["reasons"]:
                cur.execute(
                    "INSERT INTO dms.reason AS r (dealer_code, code, description, reason_type, gm_reason) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dealer_code, code) DO UPDATE SET "
                    "description = EXCLUDED.description, reason_type = EXCLUDED.reason_type, "
                    "gm_reason = coalesce(r.gm_reason, EXCLUDED.gm_reason)",
                    (code, reason["code"], reason["description"], reason["reason_type"], reason.get("gm_reason")),
                )
            for model in spec["vehicle_models"]:
                cur.execute(
                    "INSERT INTO dms.vehicle_model (dealer_code, code, description, version, model_year) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dealer_code, code) DO UPDATE SET "
                    "description = EXCLUDED.description, version = EXCLUDED.version, "
                    "model_year = EXCLUDED.model_year",
                    (code, model["code"], model["description"], model.get("version"), str(model["model_year"])),
                )
            _seed_contact_catalogues(cur, code, spec)
    return SeedSummary(
        dealer_codes=tuple(dealer_codes),
        contact_forms=len(spec["contact_forms"]),
        reasons=len(spec["reasons"]),
        vehicle_models=len(spec["vehicle_models"]),
    )


def _seed_contact_catalogues(cur: psycopg.Cursor[Any], code: str, spec: dict[str, Any]) -> None:
    """Contact types with their subtypes, and traffic origins (what contact settings are chosen from)."""
    for ctype in spec.get("contact_types", []):
        cur.execute(
            "INSERT INTO dms.contact_type (dealer_code, code, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (dealer_code, code) DO UPDATE SET name = EXCLUDED.name",
            (code, ctype["code"], ctype["name"]),
        )
        for sub in ctype.get("subtypes", []):
            cur.execute(
                "INSERT INTO dms.contact_subtype (dealer_code, contact_type, code, name) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (dealer_code, contact_type, code) DO UPDATE SET name = EXCLUDED.name",
                (code, ctype["code"], sub["code"], sub["name"]),
            )
    for origin in spec.get("traffic_origins", []):
        cur.execute(
            "INSERT INTO dms.traffic_origin (dealer_code, code, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (dealer_code, code) DO UPDATE SET name = EXCLUDED.name",
            (code, origin["code"], origin["name"]),
        )


def map_reason(
    conn: psycopg.Connection[Any],
    dealer_code: str,
    reason_code: str,
    gm_reason: str,
    catalogue: TriggerCatalogue | None = None,
) -> None:
    """Set a DMS reason's "Motivo no CRM". Lost sales waiting on it go out on the next retry."""
    cat = catalogue or load_catalogue()
    if gm_reason not in cat.gm_reasons:
        raise ValueError(f"{gm_reason!r} is not one of GM's reasons: {', '.join(cat.gm_reasons)}")
    updated = conn.execute(
        named_queries("reasons")["map"], {"gm_reason": gm_reason, "dealer_code": dealer_code, "code": reason_code}
    ).rowcount
    if updated == 0:
        raise ValueError(f"no reason {reason_code!r} at dealership {dealer_code}")


def list_reasons(
    conn: psycopg.Connection[Any], dealer_code: str, *, unmapped: bool = False
) -> list[tuple[str, str, str, str]]:
    """The dealership's reasons as (code, type, GM reason or '-', description); only unmapped ones if asked."""
    rows = conn.execute(named_queries("reasons")["list"], {"dealer_code": dealer_code, "unmapped": unmapped})
    return [(code, rtype, gm, desc) for code, rtype, gm, desc in rows.fetchall()]


def unmapped_reasons(
    conn: psycopg.Connection[Any], dealer_codes: list[str] | None = None, catalogue: TriggerCatalogue | None = None
) -> list[UnmappedReason]:
    """Active reasons of the types that need a GM reason and have none (or one GM withdrew)."""
    cat = catalogue or load_catalogue()
    types = [t.code for t in cat.reason_types.values() if t.needs_gm_reason]
    query = (
        "SELECT dealer_code, code, description, reason_type FROM dms.reason "
        "WHERE active AND reason_type = ANY (%s) AND (gm_reason IS NULL OR NOT (gm_reason = ANY (%s)))"
    )
    params: list[Any] = [types, list(cat.gm_reasons)]
    if dealer_codes:
        query += " AND dealer_code = ANY (%s)"
        params.append(list(dealer_codes))
    rows = conn.execute(query + " ORDER BY dealer_code, code", params).fetchall()
    return [UnmappedReason(*row) for row in rows]


def _id(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...], what: str) -> int:
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise ValueError(f"no {what}")
    return int(row[0])


def contact_form_id(conn: psycopg.Connection[Any], dealer_code: str, form_type: str | None) -> int:
    """The dealership's (first active) contact form of a type; None: one with no type."""
    return _id(
        conn,
        "SELECT id FROM dms.contact_form WHERE dealer_code = %s AND active AND type IS NOT DISTINCT FROM %s "
        "ORDER BY id LIMIT 1",
        (dealer_code, form_type),
        f"contact form of type {form_type} at dealership {dealer_code}",
    )


def reason_id(conn: psycopg.Connection[Any], dealer_code: str, code: str) -> int:
    return _id(
        conn,
        "SELECT id FROM dms.reason WHERE dealer_code = %s AND code = %s",
        (dealer_code, code),
        f"reason {code} at dealership {dealer_code}",
    )


def vehicle_model_id(conn: psycopg.Connection[Any], dealer_code: str, code: str) -> int:
    return _id(
        conn,
        "SELECT id FROM dms.vehicle_model WHERE dealer_code = %s AND code = %s",
        (dealer_code, code),
        f"vehicle model {code} at dealership {dealer_code}",
    )


def seed_demo_world(conn: psycopg.Connection[Any]) -> list[str]:
    """Everything of the demo, idempotently: dealerships, departments, users and contact settings
    (:func:`gmcrm.dealerships.seed_demo`), then their contact forms, reasons, vehicle models, contact
    types and traffic origins; and the DMS side of BR0042, a dealership not integrated yet."""
    codes = dealerships.seed_demo(conn)
    # The DMS-only dealership (BR0042, the README's onboarding example) has its catalogues too.
    seed_demo_catalogues(conn, codes + dealerships.dms_only_codes())
    return codes
