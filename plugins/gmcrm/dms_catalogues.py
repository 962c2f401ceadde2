"""DMS catalogues the triggers read: contact forms, reasons (with their GM reason), vehicle models.

The reason mapping people do under "Motivos" (:func:`map_reason`, what ``gmcrm reasons map`` is for) and
small look-ups by code. The demo's catalogues are seeded by ``gmcrm_devtools.demo_seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from gmcrm.catalogue.model import TriggerCatalogue
from gmcrm.catalogue.parse import load_catalogue
from gmcrm.paths import named_queries


@dataclass(frozen=True)
class UnmappedReason:
    dealer_code: str
    code: str
    description: str
    reason_type: str


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
    params = {"types": types, "gm_reasons": list(cat.gm_reasons), "dealer_codes": list(dealer_codes or []) or None}
    rows = conn.execute(named_queries("dms_lookups")["unmapped_reasons"], params).fetchall()
    return [UnmappedReason(*row) for row in rows]


def _id(conn: psycopg.Connection[Any], name: str, dealer_code: str, code: str | None, what: str) -> int:
    row = conn.execute(named_queries("dms_lookups")[name], {"dealer_code": dealer_code, "code": code}).fetchone()
    if row is None:
        raise ValueError(f"no {what} at dealership {dealer_code}")
    return int(row[0])


def contact_form_id(conn: psycopg.Connection[Any], dealer_code: str, form_type: str | None) -> int:
    """The dealership's (first active) contact form of a type; None: one with no type."""
    return _id(conn, "contact_form_id", dealer_code, form_type, f"contact form of type {form_type}")


def reason_id(conn: psycopg.Connection[Any], dealer_code: str, code: str) -> int:
    return _id(conn, "reason_id", dealer_code, code, f"reason {code}")


def vehicle_model_id(conn: psycopg.Connection[Any], dealer_code: str, code: str) -> int:
    return _id(conn, "vehicle_model_id", dealer_code, code, f"vehicle model {code}")
