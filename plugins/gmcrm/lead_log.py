"""The lead log (manual: "Consulta de Logs"): what happened to one lead, in order.

Besides the import, the events and their send attempts, it shows why an event was never sent: an
event ``CANCELLED`` (the lead deleted at GM) or ``SKIPPED`` with its reason, and DMS activity that
recorded no event at all (``NOT_SENT``: "after the close, not sent", or the lead deleted at GM).

Used by ``gmcrm lead-log`` and the lead log page in the Airflow UI. The statements are in
``include/sql/queries/lead_log.sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gmcrm.paths import named_queries

QUERIES = named_queries("lead_log")


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # IMPORTED, QUARANTINED, EVENT_CREATED, SEND_ATTEMPT, NOT_SENT
    trigger_code: str | None
    summary: str
    detail: dict[str, Any]
    send_log_id: int | None = None  # SEND_ATTEMPT: its row of gmcrm.send_log


def timeline(conn: psycopg.Connection[Any], lead_id: str) -> list[TimelineEntry]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUERIES["timeline"], {"lead_id": lead_id}).fetchall()
    return [
        TimelineEntry(r["at"], r["kind"], r["trigger_code"], r["summary"], r["detail"], r["send_log_id"]) for r in rows
    ]


def attempt_codes(conn: psycopg.Connection[Any], lead_id: str) -> dict[int, dict[str, Any]]:
    """Stage, substage, communication and error code of each send attempt of a lead, by send log id."""
    with conn.cursor(row_factory=dict_row) as cur:
        return {int(r["id"]): r for r in cur.execute(QUERIES["attempt_codes"], {"lead_id": lead_id})}


def search(
    conn: psycopg.Connection[Any],
    *,
    dealer_code: str | None = None,
    lead_id: str | None = None,
    trigger_code: str | None = None,
    outcome: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    params = {
        "dealer_code": dealer_code or None,
        "lead_id": lead_id or None,
        "trigger_code": (trigger_code or "").upper() or None,
        "outcome": (outcome or "").upper() or None,
        "date_from": date_from,
        "date_to": date_to,
        "limit": limit,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERIES["search"], params).fetchall()


def dealership_choices(conn: psycopg.Connection[Any]) -> list[tuple[Any, Any]]:
    """(dealer code, name) of every dealership, for the search form."""
    return [(code, name) for code, name in conn.execute(QUERIES["dealerships"]).fetchall()]


def trigger_choices(conn: psycopg.Connection[Any]) -> list[tuple[Any, Any]]:
    """(code, name) of every trigger of the catalogue, for the search form."""
    return [(code, name) for code, name in conn.execute(QUERIES["triggers"]).fetchall()]


def lead_hashes(conn: psycopg.Connection[Any], lead_ids: Sequence[str]) -> dict[str, int]:
    """``gmcrm.lead_hash`` of each lead: its send lane is this modulo the run's lanes."""
    rows = conn.execute(QUERIES["lead_hashes"], {"lead_ids": list(lead_ids)}).fetchall()
    return {str(lead_id): int(value) for lead_id, value in rows}
