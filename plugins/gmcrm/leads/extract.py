"""Extract: new and changed GM leads of many dealerships, streamed into ``gmcrm.lead_staging``.

One paginated queryAll serves every dealership of a GM connection (chunked only to keep the URL
under Salesforce's limit), so the number of API calls follows the number of leads, not of
dealerships. Dealerships seen for the first time (or re-synced) read all their open leads;
the others read from their ``SystemModstamp`` watermark minus a lookback, so same-second and
late-committed leads are never missed. Deleted leads come back through queryAll.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from simple_salesforce import format_soql

from gmcrm.dealerships import Dealership
from gmcrm.gm_client import GmClient
from gmcrm.gm_mapping import GmMapping
from gmcrm.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class ReadPlan:
    """Which dealerships read incrementally (and from when) and which read all open leads."""

    incremental: dict[str, datetime]
    full: list[str]


@dataclass
class ExtractResult:
    records: int = 0
    per_dealer: dict[str, int] = field(default_factory=dict)
    watermark_candidates: dict[str, datetime] = field(default_factory=dict)


def parse_sf_datetime(value: str | None) -> datetime | None:
    """``2026-11-27T10:00:00.000+0000`` -> an aware UTC datetime."""
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def read_watermarks(conn: psycopg.Connection[Any], dealer_codes: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        "SELECT dealer_code, gm_modstamp FROM gmcrm.import_watermark WHERE dealer_code = ANY(%s)",
        (list(dealer_codes),),
    ).fetchall()
    return {code: stamp for code, stamp in rows}


def plan_reads(
    dealer_codes: Iterable[str],
    watermarks: dict[str, datetime],
    lookback: timedelta,
    full_resync: bool = False,
    since: datetime | None = None,
) -> ReadPlan:
    """Pure: decide how each dealership is read this cycle."""
    incremental: dict[str, datetime] = {}
    full: list[str] = []
    for code in dealer_codes:
        if since is not None:
            incremental[code] = since
        elif full_resync or code not in watermarks:
            full.append(code)
        else:
            incremental[code] = watermarks[code] - lookback
    return ReadPlan(incremental=incremental, full=sorted(full))


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def build_queries(plan: ReadPlan, mapping: GmMapping) -> list[tuple[str, list[str]]]:
    """Pure: (SOQL, dealer codes it covers) for a plan. Values are escaped by format_soql."""
    f = mapping.lead_fields
    select = f"SELECT {', '.join(f.values())} FROM {mapping.lead_object} WHERE "
    order = f" ORDER BY {f['modstamp']} ASC, {f['lead_id']} ASC"
    size = mapping.max_dealers_per_query
    queries: list[tuple[str, list[str]]] = []
    inc_codes = sorted(plan.incremental)
    # One query per chunk of dealerships; the incremental ones read from the earliest start among
    # them (loading a lead twice changes nothing), the full ones read every open lead.
    inc_chunks, full_chunks = _chunks(inc_codes, size), _chunks(plan.full, size)
    for i in range(max(len(inc_chunks), len(full_chunks))):
        clauses: list[str] = []
        covered: list[str] = []
        if i < len(inc_chunks):
            covered += inc_chunks[i]
            start = min(plan.incremental[c] for c in inc_chunks[i]).astimezone(UTC).replace(microsecond=0)
            clauses.append(
                format_soql(
                    f"({f['dealer_code']} IN {{codes}} AND {f['modstamp']} >= {{start}})",
                    codes=inc_chunks[i],
                    start=start,
                )
            )
        if i < len(full_chunks):
            covered += full_chunks[i]
            clauses.append(
                format_soql(
                    f"({f['dealer_code']} IN {{codes}} AND {f['stage']} NOT IN {{closed}} "
                    f"AND {f['is_deleted']} = false)",
                    codes=full_chunks[i],
                    closed=list(mapping.closed_stages),
                )
            )
        queries.append((select + " OR ".join(clauses) + order, covered))
    return queries


def extract_to_staging(
    conn: psycopg.Connection[Any],
    client: GmClient,
    dealers: Sequence[Dealership],
    run_id: str,
    *,
    full_resync: bool = False,
    since: datetime | None = None,
) -> ExtractResult:
    """Read the leads of ``dealers`` (one GM connection) and COPY them into staging.

    Commits as it goes: staged rows are harmless until a load consumes them, and the watermark
    only moves when a dealership's load commits.
    """
    mapping = client.mapping
    codes = [d.dealer_code for d in dealers]
    plan = plan_reads(
        codes,
        read_watermarks(conn, codes),
        timedelta(seconds=mapping.lookback_seconds),
        full_resync=full_resync,
        since=since,
    )
    f = mapping.lead_fields
    # SOQL's IN compares without case: a record written 'br0001 ' at GM is BR0001's. It is staged
    # under the dealership's own code (the transform compares the same way), never dropped.
    wanted = {code.strip().casefold(): code for code in codes}
    result = ExtractResult(per_dealer=dict.fromkeys(codes, 0))
    for soql, covered in build_queries(plan, mapping):
        chunk_max: datetime | None = None
        for page in client.query_pages(soql, include_deleted=True):
            rows: list[tuple[str, str, str, datetime | None, str]] = []
            for record in page:
                record.pop("attributes", None)
                dealer = record.get(f["dealer_code"])
                stamp = parse_sf_datetime(record.get(f["modstamp"]))
                if stamp is not None and (chunk_max is None or stamp > chunk_max):
                    chunk_max = stamp
                code = wanted.get(dealer.strip().casefold()) if isinstance(dealer, str) else None
                if code is None:
                    continue
                rows.append((run_id, code, record[f["lead_id"]], stamp, json.dumps(record, ensure_ascii=False)))
                result.per_dealer[code] += 1
            _copy_page(conn, rows)
            result.records += len(rows)
        # Every dealership of this query has been read up to the newest stamp the query saw,
        # so a quiet dealership's watermark moves too and never drags later reads back.
        if chunk_max is not None:
            for code in covered:
                result.watermark_candidates[code] = chunk_max
    _record_batches(conn, run_id, result, client)
    return result


def _copy_page(conn: psycopg.Connection[Any], rows: list[tuple[str, str, str, datetime | None, str]]) -> None:
    if not rows:
        return
    with conn.cursor() as cur:
        with cur.copy("COPY gmcrm.lead_staging (run_id, dealer_code, lead_id, gm_modstamp, record) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    conn.commit()


def _record_batches(conn: psycopg.Connection[Any], run_id: str, result: ExtractResult, client: GmClient) -> None:
    rows = [
        (run_id, code, count, result.watermark_candidates.get(code), client.stats.calls, client.stats.api_remaining)
        for code, count in result.per_dealer.items()
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO gmcrm.import_batch (run_id, dealer_code, records, watermark_candidate, api_calls, "
            "api_remaining) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, dealer_code) DO UPDATE SET "
            "records = EXCLUDED.records, watermark_candidate = EXCLUDED.watermark_candidate, "
            "api_calls = EXCLUDED.api_calls, api_remaining = EXCLUDED.api_remaining, extracted_at = now()",
            rows,
        )
    conn.commit()


def clear_run(conn: psycopg.Connection[Any], run_id: str) -> None:
    """Forget what an earlier try of this run staged, so a retried extract starts clean."""
    conn.execute("DELETE FROM gmcrm.lead_staging WHERE run_id = %s", (run_id,))
    conn.execute("DELETE FROM gmcrm.import_batch WHERE run_id = %s", (run_id,))
    conn.commit()


def purge_old_staging(conn: psycopg.Connection[Any], older_than: timedelta = timedelta(days=2)) -> int:
    """Staging left by runs whose loads never finished (their leads are re-read anyway)."""
    cur = conn.execute("DELETE FROM gmcrm.lead_staging WHERE staged_at < now() - %s", (older_than,))
    conn.execute("DELETE FROM gmcrm.import_batch WHERE extracted_at < now() - %s", (older_than,))
    conn.commit()
    return cur.rowcount


def group_by_connection(dealers: Iterable[Dealership]) -> dict[str, list[Dealership]]:
    groups: dict[str, list[Dealership]] = defaultdict(list)
    for d in dealers:
        groups[d.gm_conn_id].append(d)
    return dict(groups)
