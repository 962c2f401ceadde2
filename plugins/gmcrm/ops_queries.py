"""What the operations page shows, read from the DMS: each dealership's state, its quarantine and its
events that wait for a person, and what fixes each.

Read-only queries over ``gmcrm.dealership``, ``gmcrm.import_log`` (a dealership's loads),
``gmcrm.import_failure`` (its failed imports, migration 0007), ``gmcrm.import_batch`` (what each
extract saw and the API calls it made), ``gmcrm.lead_quarantine``, ``gmcrm.trigger_outbox`` and
``gmcrm.send_log``. Free text (reasons, errors) is returned as stored: the page masks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

SEND_DAG_ID = "gmcrm_send_triggers"
# Outbox statuses that wait: PENDING and RETRY go on their own; BLOCKED waits behind a FAILED event of
# its lead; FAILED waits for a person. CANCELLED (lead deleted at GM) and SKIPPED are final.
WAITING = ("PENDING", "RETRY")
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
    remaining: int | None  # GM's own figure, the last an import recorded (gmcrm.import_log.api_remaining)
    remaining_at: datetime | None

    @property
    def used(self) -> int:
        return self.import_calls + self.send_calls


# Per dealership, each look-up is one index probe (LATERAL ... LIMIT 1 on (dealer_code, time DESC)):
# the page costs the same after a year of runs as after a day.
DEALERSHIPS_SQL = """
SELECT d.dealer_code, d.name, d.integration_enabled, d.routing, d.gm_conn_id,
       l.load_run, l.finished_at, l.leads_read, l.contacts_created, l.contacts_updated, l.quarantined,
       f.failed_run, f.stage, f.error, f.failed_at,
       e.pending, e.blocked, e.failed, e.cancelled,
       x.error_event, x.error_trigger, x.last_error, x.last_error_code, x.error_at
FROM gmcrm.dealership d
LEFT JOIN LATERAL (
    SELECT run_id AS load_run, finished_at, leads_read, contacts_created, contacts_updated, quarantined
    FROM gmcrm.import_log i WHERE i.dealer_code = d.dealer_code ORDER BY finished_at DESC LIMIT 1
) l ON true
LEFT JOIN LATERAL (
    SELECT run_id AS failed_run, stage, error, failed_at
    FROM gmcrm.import_failure f WHERE f.dealer_code = d.dealer_code ORDER BY failed_at DESC LIMIT 1
) f ON true
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status IN ('PENDING', 'RETRY')) AS pending,
           count(*) FILTER (WHERE status = 'BLOCKED') AS blocked,
           count(*) FILTER (WHERE status = 'FAILED') AS failed,
           count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
    FROM gmcrm.trigger_outbox o
    WHERE o.dealer_code = d.dealer_code AND o.status IN ('PENDING', 'RETRY', 'BLOCKED', 'FAILED', 'CANCELLED')
) e
LEFT JOIN LATERAL (
    SELECT id AS error_event, trigger_code AS error_trigger, last_error, last_error_code, updated_at AS error_at
    FROM gmcrm.trigger_outbox o WHERE o.dealer_code = d.dealer_code AND o.status = 'FAILED'
    ORDER BY updated_at DESC LIMIT 1
) x ON true
WHERE (%(dealer_code)s::text IS NULL OR d.dealer_code = %(dealer_code)s::text)
ORDER BY d.dealer_code
"""

QUARANTINE_COUNTS_SQL = """
SELECT dealer_code, reason_code, count(*) FROM gmcrm.lead_quarantine
WHERE resolved_at IS NULL GROUP BY dealer_code, reason_code ORDER BY dealer_code, reason_code
"""

# The day is the DMS session's (its TimeZone), as the rest of the page shows times.
API_USAGE_SQL = """
WITH imports AS (
    SELECT d.gm_conn_id, b.run_id, max(b.api_calls) AS calls
    FROM gmcrm.import_batch b JOIN gmcrm.dealership d USING (dealer_code)
    WHERE b.extracted_at >= date_trunc('day', now()) GROUP BY d.gm_conn_id, b.run_id
), sends AS (
    SELECT d.gm_conn_id, count(DISTINCT (l.run_id, l.attempted_at)) AS calls
    FROM gmcrm.send_log l JOIN gmcrm.dealership d USING (dealer_code)
    WHERE l.attempted_at >= date_trunc('day', now()) AND l.status_code IS NOT NULL
      AND l.outcome <> 'DRY_RUN'
    GROUP BY d.gm_conn_id
), remaining AS (
    SELECT DISTINCT ON (d.gm_conn_id) d.gm_conn_id, i.api_remaining, i.finished_at
    FROM gmcrm.import_log i JOIN gmcrm.dealership d USING (dealer_code)
    WHERE i.api_remaining IS NOT NULL AND i.finished_at >= date_trunc('day', now())
    ORDER BY d.gm_conn_id, i.finished_at DESC
), conns AS (SELECT DISTINCT gm_conn_id FROM gmcrm.dealership)
SELECT c.gm_conn_id,
       coalesce((SELECT sum(calls) FROM imports i WHERE i.gm_conn_id = c.gm_conn_id), 0)::int AS import_calls,
       (SELECT count(*) FROM imports i WHERE i.gm_conn_id = c.gm_conn_id)::int AS import_runs,
       coalesce((SELECT calls FROM sends s WHERE s.gm_conn_id = c.gm_conn_id), 0)::int AS send_calls,
       r.api_remaining, r.finished_at
FROM conns c LEFT JOIN remaining r USING (gm_conn_id)
ORDER BY c.gm_conn_id
"""


def dealerships(conn: psycopg.Connection[Any], dealer_code: str | None = None) -> list[DealershipStatus]:
    """One row per dealership (or the one asked for), with its last import, quarantine and events."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(DEALERSHIPS_SQL, {"dealer_code": dealer_code}).fetchall()
        counts = cur.execute(QUARANTINE_COUNTS_SQL).fetchall()
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
        return [ApiUsage(*row) for row in cur.execute(API_USAGE_SQL).fetchall()]


# ---------------------------------------------------------------------------------------------
# The lists, and what fixes each row.


@dataclass(frozen=True)
class Fix:
    """What a person does: commands to run (in order), or params of a trigger-form run."""

    commands: tuple[str, ...] = ()
    dag_id: str | None = None
    params: dict[str, Any] | None = None
    note: str = ""
    first: str = ""  # what to do before the commands (at GM, for instance)

    @property
    def params_json(self) -> str:
        return json.dumps(self.params, ensure_ascii=False) if self.params is not None else ""

    @property
    def airflow_cli(self) -> str:
        return f"airflow dags trigger {self.dag_id} --conf '{self.params_json}'" if self.dag_id else ""


# Quarantine reasons that lie in the DMS settings: fixed there, then the lead is tried again.
SETTINGS_FIXES: dict[str, tuple[str, ...]] = {
    "NO_USER": ("gmcrm dealership set {code} --{option}-user LOGIN",),
    "NO_CONTACT_SETTING": (
        "gmcrm contact-settings set {code} --lead-type {lead_type} --contact-type ... --contact-subtype ...",
    ),
}
# Reasons that lie in GM's record: corrected at GM, the lead loads when the import reads it again.
GM_FIXES = {
    "DEALER_MISMATCH": "the lead's dealer code at GM",
    "BAD_LEAD_ID": "the Lead ID at GM",
    "UNKNOWN_LEAD_TYPE": "the lead type at GM",
    "NO_NAME_NO_CONTACT": "the customer's name, e-mail or phone at GM",
    "FIELD_TOO_LONG": "the field at GM (shorten it)",
    "UNSTAGEABLE": "the record at GM",
    "UNREADABLE_DATE": "the date at GM",
}
USER_OPTIONS = {
    "NEW_VEHICLE": "vehicles",
    "USED_VEHICLE": "vehicles",
    "PARTS": "parts",
    "SERVICE": "service",
    "AFTER_SALES": "after-sales",
}


def quarantine_fix(reason_code: str, dealer_code: str, lead_type: str | None) -> Fix:
    code = dealer_code or "CODE"
    retry = f"gmcrm quarantine retry {code} --reason {reason_code}"
    if reason_code in SETTINGS_FIXES:
        option = USER_OPTIONS.get(lead_type or "", "vehicles")
        first = tuple(
            c.format(code=code, option=option, lead_type=lead_type or "LEAD_TYPE") for c in SETTINGS_FIXES[reason_code]
        )
        return Fix(
            (*first, f"gmcrm dealership check {code}", retry),
            note="The lead is tried again from its stored GM record once the settings change.",
        )
    what = GM_FIXES.get(reason_code, "the lead at GM")
    return Fix(
        (retry,),
        first=f"Correct {what}: the lead loads when the import reads it again. To try it at once:",
    )


def event_fix(row: dict[str, Any]) -> Fix:
    """A failed (or blocked) event: the command or the send DAG params that re-drive it."""
    code = str(row["dealer_code"])
    params: dict[str, Any] = {"retry_failed": True, "dealer_codes": [code]}
    if row.get("status") == "BLOCKED":
        return Fix(note=f"Waits behind event {row.get('blocked_by') or 'a failed event'} of its lead: fix that one.")
    if row.get("status") == "CANCELLED":
        return Fix(note="Final: the lead was deleted at GM. Nothing to do.")
    if row.get("status") in WAITING:
        return Fix(note="Goes on the next send run.")
    commands: tuple[str, ...] = ()
    if row.get("last_error_code") == "UNMAPPED_REASON":
        reason = row.get("reason_code") or "REASON"
        commands = (f"gmcrm reasons list {code} --unmapped", f"gmcrm reasons map {code} {reason} <GM reason>")
    return Fix(
        (*commands, f"gmcrm events retry {row['id']}"),
        dag_id=SEND_DAG_ID,
        params=params,
        note=f'Or skip it for good: gmcrm events skip {row["id"]} --why "..."',
    )


QUARANTINE_SQL = """
SELECT q.lead_id, q.dealer_code, q.reason_code, q.reason, q.first_seen_at, q.last_seen_at, q.times_seen,
       q.raw_record ->> 'Lead_Type__c' AS gm_lead_type
FROM gmcrm.lead_quarantine q
WHERE q.resolved_at IS NULL
  AND (%(dealer_code)s::text IS NULL OR q.dealer_code = %(dealer_code)s::text)
  AND (%(reason)s::text IS NULL OR q.reason_code = %(reason)s::text)
ORDER BY q.dealer_code, q.reason_code, q.last_seen_at DESC
LIMIT %(limit)s
"""

EVENTS_SQL = """
SELECT o.id, o.dealer_code, o.lead_id, o.trigger_code, o.status, o.attempts, o.occurred_at, o.updated_at,
       o.last_error, o.last_error_code, r.code AS reason_code,
       (SELECT min(f.id) FROM gmcrm.trigger_outbox f
        WHERE o.status = 'BLOCKED' AND f.lead_id = o.lead_id AND f.id < o.id AND f.status = 'FAILED') AS blocked_by
FROM gmcrm.trigger_outbox o
LEFT JOIN dms.reason r ON r.id = o.reason_id
WHERE o.status = ANY(%(statuses)s)
  AND (%(dealer_code)s::text IS NULL OR o.dealer_code = %(dealer_code)s::text)
ORDER BY o.dealer_code, o.status, o.id
LIMIT %(limit)s
"""

LEAD_TYPE_OF_GM = {
    "New Vehicle": "NEW_VEHICLE",
    "Used Vehicle": "USED_VEHICLE",
    "Service": "SERVICE",
    "Parts": "PARTS",
    "After Sales": "AFTER_SALES",
}


def quarantine(
    conn: psycopg.Connection[Any], dealer_code: str | None = None, reason: str | None = None, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """Leads in quarantine now, each with ``fix``."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(QUARANTINE_SQL, {"dealer_code": dealer_code, "reason": reason, "limit": limit}).fetchall()
    for r in rows:
        r["lead_type"] = LEAD_TYPE_OF_GM.get(str(r.get("gm_lead_type")), r.get("gm_lead_type"))
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
        rows = cur.execute(EVENTS_SQL, params).fetchall()
    for r in rows:
        r["fix"] = event_fix(r)
    return rows


# ---------------------------------------------------------------------------------------------
# The lead log's search: a dealership's imports (and failures) and its quarantined leads.

IMPORTS_SQL = """
SELECT * FROM (
    SELECT finished_at AS at, dealer_code, run_id, 'LOADED' AS outcome, leads_read, contacts_created,
           contacts_updated, quarantined, NULL::text AS stage, NULL::text AS error
    FROM gmcrm.import_log
    WHERE (%(dealer_code)s::text IS NULL OR dealer_code = %(dealer_code)s::text)
      AND (%(date_from)s::timestamptz IS NULL OR finished_at >= %(date_from)s::timestamptz)
      AND (%(date_to)s::timestamptz IS NULL OR finished_at < %(date_to)s::timestamptz)
    UNION ALL
    SELECT failed_at, dealer_code, run_id, 'FAILED', NULL, NULL, NULL, NULL, stage, error
    FROM gmcrm.import_failure
    WHERE (%(dealer_code)s::text IS NULL OR dealer_code = %(dealer_code)s::text)
      AND (%(date_from)s::timestamptz IS NULL OR failed_at >= %(date_from)s::timestamptz)
      AND (%(date_to)s::timestamptz IS NULL OR failed_at < %(date_to)s::timestamptz)
) i ORDER BY at DESC LIMIT %(limit)s
"""

QUARANTINED_SQL = """
SELECT lead_id, dealer_code, reason_code, reason, first_seen_at, last_seen_at, resolved_at
FROM gmcrm.lead_quarantine
WHERE (%(dealer_code)s::text IS NULL OR dealer_code = %(dealer_code)s::text)
  AND (%(lead_id)s::text IS NULL OR lead_id = %(lead_id)s::text)
  AND (%(date_from)s::timestamptz IS NULL OR last_seen_at >= %(date_from)s::timestamptz)
  AND (%(date_to)s::timestamptz IS NULL OR first_seen_at < %(date_to)s::timestamptz)
ORDER BY last_seen_at DESC LIMIT %(limit)s
"""


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
        return cur.execute(IMPORTS_SQL, params).fetchall()


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
        return cur.execute(QUARANTINED_SQL, {**params, "limit": limit}).fetchall()
