"""Load: one dealership's staged leads into customers and contacts, in one transaction.

Set-based throughout: the transformed leads are COPYed into a temporary table, and customers are
matched, created and contacts upserted by a handful of statements (``include/sql/queries/
load_leads.sql``), however many leads there are. Loading the same leads again changes nothing;
a re-read lead changes only the GM columns. The watermark and ``last_integration_at`` move in
the same transaction, so they only move once the load has committed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg

from gmcrm.gm_mapping import GmMapping
from gmcrm.leads.transform import ContactSetting, DealerContext, TransformResult, UserRef, transform_leads
from gmcrm.logs import get_logger
from gmcrm.paths import named_queries

log = get_logger(__name__)

TMP_LEAD_COLUMNS: dict[str, str] = {
    "lead_id": "text",
    "dealer_code": "text",
    "lead_type": "text",
    "is_open": "boolean",
    "customer_name": "text",
    "person_type": "text",
    "document": "text",
    "email": "text",
    "email_key": "text",
    "phone": "text",
    "phone_key": "text",
    "mobile_phone": "text",
    "mobile_phone_key": "text",
    "contact_type": "text",
    "contact_subtype": "text",
    "department_id": "bigint",
    "traffic_origin": "text",
    "status": "text",
    "assigned_user_id": "bigint",
    "distribution_owner_user_id": "bigint",
    "description": "text",
    "interest_model": "text",
    "interest_model_year": "text",
    "interest_version": "text",
    "lead_source": "text",
    "lead_comments": "text",
    "gm_stage": "text",
    "gm_substage": "text",
    "gm_modstamp": "timestamptz",
    "gm_created_at": "timestamptz",
}
VEHICLE_TYPES = ("NEW_VEHICLE", "USED_VEHICLE")
USER_COLUMNS = {
    "vehicles_user_id": VEHICLE_TYPES,
    "parts_user_id": ("PARTS",),
    "service_user_id": ("SERVICE",),
    "after_sales_user_id": ("AFTER_SALES",),
}


class DealershipNotFound(LookupError):
    pass


@dataclass
class LoadResult:
    dealer_code: str
    leads_read: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
    customers_created: int = 0
    customers_matched: int = 0
    quarantined: int = 0
    deleted: int = 0
    skipped_closed: int = 0
    events_recorded: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """One line a person can read (no personal data: counts only)."""
        return (
            f"{self.dealer_code}: {self.leads_read} leads read, {self.contacts_created} contacts created, "
            f"{self.contacts_updated} updated, customers {self.customers_created} created / "
            f"{self.customers_matched} matched, {self.quarantined} quarantined, {self.deleted} deleted at GM, "
            f"{self.skipped_closed} closed before import, {self.events_recorded} events recorded, "
            f"{self.seconds:.2f}s"
        )


def read_context(conn: psycopg.Connection[Any], dealer_code: str) -> DealerContext:
    """The dealership's routing, receiving users and contact settings."""
    row = conn.execute(
        "SELECT d.routing, d.traffic_origin, d.vehicles_user_id, d.parts_user_id, d.service_user_id, "
        "d.after_sales_user_id FROM gmcrm.dealership d WHERE d.dealer_code = %s",
        (dealer_code,),
    ).fetchone()
    if row is None:
        raise DealershipNotFound(f"dealership {dealer_code} is not configured in gmcrm.dealership")
    routing, traffic_origin, *user_ids = row
    departments = dict(
        conn.execute(
            "SELECT id, department_id FROM dms.app_user WHERE id = ANY(%s)", ([u for u in user_ids if u],)
        ).fetchall()
    )
    users: dict[str, UserRef] = {}
    for user_id, lead_types in zip(user_ids, USER_COLUMNS.values(), strict=True):
        if user_id is not None:
            for lead_type in lead_types:
                users[lead_type] = UserRef(id=int(user_id), department_id=departments.get(user_id))
    settings = {
        lead_type: ContactSetting(contact_type=ctype, contact_subtype=subtype, department_id=dep)
        for lead_type, ctype, subtype, dep in conn.execute(
            "SELECT lead_type, contact_type, contact_subtype, department_id FROM gmcrm.contact_setting "
            "WHERE dealer_code = %s",
            (dealer_code,),
        ).fetchall()
    }
    return DealerContext(
        dealer_code=dealer_code,
        routing=routing,
        traffic_origin=traffic_origin,
        users=users,
        contact_settings=settings,
    )


def read_staging(conn: psycopg.Connection[Any], run_id: str, dealer_code: str, mapping: GmMapping) -> pd.DataFrame:
    """The staged raw records as a frame with the mapping's logical column names."""
    records = [
        r[0]
        for r in conn.execute(
            "SELECT record FROM gmcrm.lead_staging WHERE run_id = %s AND dealer_code = %s ORDER BY gm_modstamp",
            (run_id, dealer_code),
        )
    ]
    return records_to_frame(records, mapping)


def records_to_frame(records: list[dict[str, Any]], mapping: GmMapping) -> pd.DataFrame:
    """Raw API records -> the transform's input frame (logical names, parsed types)."""
    logical = mapping.lead_fields
    frame = pd.DataFrame.from_records(records, columns=list(logical.values()))
    frame.columns = list(logical.keys())
    for col in ("created_at", "modstamp"):
        frame[col] = pd.to_datetime(frame[col], format="%Y-%m-%dT%H:%M:%S.%f%z", utc=True)
    frame["is_deleted"] = frame["is_deleted"].fillna(False).astype(bool)
    for col in frame.columns:
        if col not in ("created_at", "modstamp", "is_deleted"):
            frame[col] = frame[col].astype("string")
    frame["raw_record"] = records
    return frame


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    sub = frame[columns].astype(object)
    sub = sub.where(sub.notna(), None)
    return list(sub.itertuples(index=False, name=None))


def _copy(conn: psycopg.Connection[Any], table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _scalar(conn: psycopg.Connection[Any], query: str, params: dict[str, Any] | None = None) -> int:
    row = conn.execute(query, params or {}).fetchone()
    return int(row[0]) if row else 0


def load_frame(conn: psycopg.Connection[Any], dealer_code: str, result: TransformResult, load: LoadResult) -> None:
    """The set-based statements, inside the caller's transaction."""
    q = named_queries("load_leads")
    params = {"dealer_code": dealer_code}
    cols = list(TMP_LEAD_COLUMNS)
    conn.execute(
        "CREATE TEMP TABLE tmp_lead ("
        + ", ".join(f"{c} {t}" for c, t in TMP_LEAD_COLUMNS.items())
        + ", is_new boolean, customer_id bigint, matched_by text, contact_id bigint) ON COMMIT DROP"
    )
    conn.execute("CREATE TEMP TABLE tmp_deleted (lead_id text, gm_modstamp timestamptz) ON COMMIT DROP")
    _copy(conn, "tmp_lead", cols, _rows(result.leads, cols))
    _copy(conn, "tmp_deleted", ["lead_id", "gm_modstamp"], _rows(result.deleted, ["lead_id", "gm_modstamp"]))
    conn.execute("ANALYZE tmp_lead")

    load.contacts_updated = _scalar(conn, q["update_known"])
    conn.execute(q["mark_new"])
    for step in ("match_by_document", "match_by_email", "match_by_phone", "create_customers"):
        conn.execute(q[step], params)
    conn.execute(q["insert_contacts"])
    counts = conn.execute(
        "SELECT count(*) FILTER (WHERE contact_id IS NOT NULL), "
        "count(*) FILTER (WHERE contact_id IS NOT NULL AND matched_by = 'created'), "
        "count(*) FILTER (WHERE contact_id IS NOT NULL AND matched_by <> 'created'), "
        "count(*) FILTER (WHERE is_new AND NOT is_open) FROM tmp_lead"
    ).fetchone()
    assert counts is not None
    load.contacts_created, _, load.customers_matched, load.skipped_closed = (int(c) for c in counts)
    load.customers_created = _scalar(
        conn,
        "SELECT count(DISTINCT customer_id) FROM tmp_lead WHERE contact_id IS NOT NULL AND matched_by = 'created'",
    )
    lim = conn.execute(q["record_lim"]).rowcount
    lat = conn.execute(q["record_lat"]).rowcount
    load.events_recorded = max(lim, 0) + max(lat, 0)
    conn.execute(q["open_parts_counter_services"])
    load.deleted = _scalar(conn, q["mark_deleted"])
    conn.execute(q["resolve_quarantine"])
    load.quarantined = upsert_quarantine(conn, result.quarantine)


def upsert_quarantine(conn: psycopg.Connection[Any], quarantine: pd.DataFrame) -> int:
    if quarantine.empty:
        return 0
    rows = [
        (
            r["lead_id"],
            r["dealer_code"],
            r["reason_code"],
            r["reason"],
            json.dumps(r["raw_record"], ensure_ascii=False, default=str),
            None if pd.isna(r["gm_modstamp"]) else r["gm_modstamp"],
        )
        for r in quarantine.to_dict("records")
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO gmcrm.lead_quarantine (lead_id, dealer_code, reason_code, reason, raw_record, gm_modstamp) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (lead_id) DO UPDATE SET "
            "dealer_code = EXCLUDED.dealer_code, reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason, "
            "raw_record = EXCLUDED.raw_record, gm_modstamp = EXCLUDED.gm_modstamp, last_seen_at = now(), "
            "times_seen = gmcrm.lead_quarantine.times_seen + 1, resolved_at = NULL "
            "WHERE gmcrm.lead_quarantine.gm_modstamp IS DISTINCT FROM EXCLUDED.gm_modstamp "
            "OR gmcrm.lead_quarantine.resolved_at IS NOT NULL",
            rows,
        )
    return len(rows)


def load_dealer(
    conn: psycopg.Connection[Any],
    dealer_code: str,
    run_id: str,
    mapping: GmMapping,
    *,
    started_at: datetime | None = None,
    api_calls: int | None = None,
    api_remaining: int | None = None,
) -> LoadResult:
    """Transform and load one dealership's staged leads; commit; return the counts."""
    started = time.perf_counter()
    load = LoadResult(dealer_code=dealer_code)
    q = named_queries("load_leads")
    params = {"dealer_code": dealer_code, "run_id": run_id}
    with conn.transaction():
        ctx = read_context(conn, dealer_code)
        raw = read_staging(conn, run_id, dealer_code, mapping)
        load.leads_read = len(raw)
        result = transform_leads(raw, ctx, mapping)
        load_frame(conn, dealer_code, result, load)
        conn.execute(q["advance_watermark"], params)
        conn.execute(q["touch_dealership"], params)
        conn.execute(q["clear_staging"], params)
        load.seconds = time.perf_counter() - started
        counts = {k: v for k, v in asdict(load).items() if k not in ("dealer_code", "seconds")}
        conn.execute(
            "INSERT INTO gmcrm.import_log (run_id, dealer_code, started_at, "
            + ", ".join(counts)
            + ", api_calls, api_remaining) VALUES (%(run_id)s, %(dealer_code)s, coalesce(%(started_at)s, now()), "
            + ", ".join(f"%({k})s" for k in counts)
            + ", %(api_calls)s, %(api_remaining)s) ON CONFLICT (run_id, dealer_code) DO UPDATE SET "
            + ", ".join(f"{k} = EXCLUDED.{k}" for k in counts)
            + ", finished_at = now()",
            {**params, **counts, "started_at": started_at, "api_calls": api_calls, "api_remaining": api_remaining},
        )
    return load
