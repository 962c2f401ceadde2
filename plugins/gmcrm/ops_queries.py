"""What the operations page shows, read from the DMS: each dealership's state, its quarantine and its
events that wait for a person, and what fixes each.

Read-only queries over ``gmcrm.dealership``, ``gmcrm.import_log`` (a dealership's loads),
``gmcrm.import_failure`` (its failed imports, migration 0007), ``gmcrm.import_batch`` (what each
extract saw and the API calls it made), ``gmcrm.lead_quarantine``, ``gmcrm.trigger_outbox`` and
``gmcrm.send_log`` (statements in ``include/sql/queries/ops.sql``). Free text (reasons, errors) is returned
as stored: the page masks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gmcrm.gm_mapping import load_mapping
from gmcrm.ops_fixes import event_fix, quarantine_fix
from gmcrm.paths import named_queries

QUERIES = named_queries("ops")
EVENT_LIST_STATUSES = ("FAILED", "BLOCKED", "PENDING", "RETRY", "CANCELLED")
LIST_LIMIT = 500


@dataclass(frozen=True)
class LastImport:
    at: datetime
    outcome: str  # LOADED or FAILED
    run_id: str
    leads_read: int | None = None
    contacts_created: int | None = None
    contacts_updated: int | None = None
    quarantined: int | None = None
    stage: str | None = None  # FAILED: extract or load
    error: str | None = None


@dataclass(frozen=True)
class LastError:
    at: datetime
    source: str  # "import (load)", "event 12 VPE", ...
    text: str


@dataclass
class DealershipStatus:
    dealer_code: str
    name: str
    enabled: bool
    routing: str
    gm_conn_id: str
    last_import: LastImport | None
    quarantine: dict[str, int] = field(default_factory=dict)  # reason code -> open leads
    pending: int = 0
    blocked: int = 0
    failed: int = 0
    cancelled: int = 0
    last_error: LastError | None = None

    @property
    def quarantined(self) -> int:
        return sum(self.quarantine.values())


@dataclass(frozen=True)
class ApiUsage:
    """One GM connection's Salesforce API calls today (the daily limit is per org, per connection)."""

    gm_conn_id: str
    import_calls: int  # sum of each import run's extract calls (gmcrm.import_batch.api_calls)
    import_runs: int
    send_calls: int  # collection calls GM answered (gmcrm.send_log: one COPY per call, one timestamp)
    remaining: int | None  # GM's own figure, the last an import recorded (gmcrm.import_batch.api_remaining)
    remaining_at: datetime | None
    limit: int | None = None  # GM's daily limit as the same answer gave it (gmcrm.import_batch.api_limit)

    @property
    def org_used(self) -> int | None:
        """The org's calls today by GM's count (every client of the org, gmcrm included)."""
        return self.limit - self.remaining if self.limit is not None and self.remaining is not None else None

    @property
    def used(self) -> int:
        return self.import_calls + self.send_calls


def dealerships(conn: psycopg.Connection[Any], dealer_code: str | None = None) -> list[DealershipStatus]:
    """One row per dealership (or the one asked for), with its last import, quarantine and events."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUERIES["dealerships"], {"dealer_code": dealer_code}).fetchall()
        counts = cur.execute(QUERIES["quarantine_counts"]).fetchall()
    by_dealer: dict[str, dict[str, int]] = {}
    for r in counts:
        by_dealer.setdefault(str(r["dealer_code"]), {})[str(r["reason_code"])] = int(r["count"])
    return [_status(r, by_dealer.get(r["dealer_code"], {})) for r in rows]


def _status(r: dict[str, Any], quarantine: dict[str, int]) -> DealershipStatus:
    loaded = None
    if r["finished_at"] is not None:
        counts = (r["leads_read"], r["contacts_created"], r["contacts_updated"], r["quarantined"])
        loaded = LastImport(r["finished_at"], "LOADED", r["load_run"], *counts)
    failed = (
        LastImport(r["failed_at"], "FAILED", r["failed_run"], stage=r["stage"], error=r["error"])
        if r["failed_at"] is not None
        else None
    )
    # A failure the same run loaded after (a retry that worked) is older than its load: the load wins.
    last = max((i for i in (loaded, failed) if i is not None), key=lambda i: i.at, default=None)
    errors = []
    if failed is not None:
        errors.append(LastError(failed.at, f"import ({failed.stage})", str(failed.error)))
    if r["error_at"] is not None:
        code = f" {r['last_error_code']}" if r["last_error_code"] else ""
        errors.append(
            LastError(r["error_at"], f"event {r['error_event']} {r['error_trigger']}{code}", str(r["last_error"] or ""))
        )
    return DealershipStatus(
        dealer_code=r["dealer_code"],
        name=r["name"],
        enabled=bool(r["integration_enabled"]),
        routing=r["routing"],
        gm_conn_id=r["gm_conn_id"],
        last_import=last,
        quarantine=quarantine,
        pending=int(r["pending"]),
        blocked=int(r["blocked"]),
        failed=int(r["failed"]),
        cancelled=int(r["cancelled"]),
        last_error=max(errors, key=lambda e: e.at, default=None),
    )


def api_usage(conn: psycopg.Connection[Any]) -> list[ApiUsage]:
    with conn.cursor() as cur:
        return [ApiUsage(*row) for row in cur.execute(QUERIES["api_usage"]).fetchall()]


# ---------------------------------------------------------------------------------------------
# The lists, each row with what fixes it (gmcrm.ops_fixes).


def quarantine(
    conn: psycopg.Connection[Any], dealer_code: str | None = None, reason: str | None = None, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """Leads in quarantine now, each with ``fix``."""
    mapping = load_mapping()
    params = {
        "dealer_code": dealer_code,
        "reason": reason,
        "limit": limit,
        "lead_type_field": mapping.lead_fields["lead_type"],
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUERIES["quarantine"], params).fetchall()
    for r in rows:
        # GM's picklist value as the DMS's lead type (the mapping's lead_types), else as GM wrote it.
        r["lead_type"] = mapping.lead_types.get(str(r.get("gm_lead_type")), r.get("gm_lead_type"))
        r["fix"] = quarantine_fix(r["reason_code"], r["dealer_code"] or "", r["lead_type"])
    return rows


def events(
    conn: psycopg.Connection[Any],
    dealer_code: str | None = None,
    statuses: tuple[str, ...] = ("FAILED",),
    limit: int = LIST_LIMIT,
) -> list[dict[str, Any]]:
    """Outbox events in ``statuses``, each with ``fix``."""
    params = {"dealer_code": dealer_code, "statuses": list(statuses), "limit": limit}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUERIES["events"], params).fetchall()
    for r in rows:
        r["fix"] = event_fix(r)
    return rows


# ---------------------------------------------------------------------------------------------
# The lead log's search: a dealership's imports (and failures) and its quarantined leads.


def search_imports(
    conn: psycopg.Connection[Any],
    *,
    dealer_code: str | None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    params = {"dealer_code": dealer_code, "date_from": date_from, "date_to": date_to, "limit": limit}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERIES["imports"], params).fetchall()


def search_quarantined(
    conn: psycopg.Connection[Any],
    *,
    dealer_code: str | None,
    lead_id: str | None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    params = {"dealer_code": dealer_code, "lead_id": lead_id, "date_from": date_from, "date_to": date_to}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERIES["quarantined"], {**params, "limit": limit}).fetchall()
