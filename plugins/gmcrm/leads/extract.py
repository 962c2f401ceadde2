"""Extract: new and changed GM leads of many dealerships, streamed into ``gmcrm.lead_staging``.

One paginated queryAll serves every dealership of a GM connection, so the number of API calls follows
the number of leads, not of dealerships. What each dealership reads (all its open leads, or what
changed since its watermark minus a lookback, without the echoes of the integration's own events) is
planned in :mod:`gmcrm.leads.reads`. Deleted leads come back through queryAll.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from gmcrm.dealerships import Dealership
from gmcrm.gm_client import GmClient, GmRequestError
from gmcrm.leads import heal, stageable
from gmcrm.leads.dealer_codes import dealer_key
from gmcrm.leads.failures import error_text
from gmcrm.leads.reads import (  # noqa: F401 - re-exported: the read plan was part of this module
    MAX_QUERY_CHARS,
    ReadPlan,
    build_queries,
    plan_reads,
    query_chars,
)
from gmcrm.logs import get_logger
from gmcrm.normalize import mask_text
from gmcrm.paths import named_queries

_SQL = named_queries("import")

log = get_logger(__name__)


Row = tuple[str, str, str, datetime | None, str]


@dataclass
class ExtractResult:
    #: Records staged (what the load must find), per dealership in ``per_dealer``.
    records: int = 0
    per_dealer: dict[str, int] = field(default_factory=dict)
    watermark_candidates: dict[str, datetime] = field(default_factory=dict)
    #: Records quarantined instead of staged, and records staged with characters removed, per dealership.
    quarantined: Counter[str] = field(default_factory=Counter)
    cleaned: Counter[str] = field(default_factory=Counter)
    #: Records GM returned whose dealer code is none of the dealerships read (by code as GM wrote it).
    unmatched: Counter[str] = field(default_factory=Counter)
    #: Quarantined leads staged again from their stored record (counted in ``records`` too).
    retried: Counter[str] = field(default_factory=Counter)
    #: Dealerships whose read took the integration's own changes, up to this GM time (see ``ReadPlan``).
    own_checked_to: dict[str, datetime] = field(default_factory=dict)


def parse_sf_datetime(value: str | None) -> datetime | None:
    """``2026-11-27T10:00:00.000+0000`` -> an aware UTC datetime (None when absent or unreadable)."""
    return stageable.parse_stamp(value)


def read_watermarks(conn: psycopg.Connection[Any], dealer_codes: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        _SQL["watermarks"],
        (list(dealer_codes),),
    ).fetchall()
    return {code: stamp for code, stamp in rows}


def read_own_checks(conn: psycopg.Connection[Any], dealer_codes: Sequence[str]) -> dict[str, datetime | None]:
    """When each dealership's read last took the integration's own changes (None: never)."""
    rows = conn.execute(_SQL["own_changes_checked"], (list(dealer_codes),)).fetchall()
    return {code: stamp for code, stamp in rows}


def _own_users(client: GmClient) -> tuple[str, ...]:
    """The users whose changes the incremental read skips; none (read everything, as before) when GM does
    not say who the integration is: reading echoes costs calls, skipping unknown changes would lose them."""
    try:
        return client.own_user_ids()
    except GmRequestError as exc:  # GM refused to say (signing in and stops are the query's failures)
        log.warning(
            "GM connection %s: the integration's own GM user is unknown (%s); reading its own changes too "
            "this cycle (set the connection's integration_user_id extra)",
            client.name,
            mask_text(str(exc)),
        )
        return ()


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

    Commits page by page, durably (see :func:`durable_commits`): staged rows are harmless until a
    load consumes them, the watermark only moves when a dealership's load commits, and the load
    refuses a dealership whose staged records are fewer than ``gmcrm.import_batch.records``.
    A record PostgreSQL would refuse is cleaned or quarantined, never allowed to fail the page.
    """
    mapping = client.mapping
    codes = [d.dealer_code for d in dealers]
    now = datetime.now(UTC)
    plan = plan_reads(
        codes,
        read_watermarks(conn, codes),
        timedelta(seconds=mapping.lookback_seconds),
        full_resync=full_resync,
        since=since,
        own_users=_own_users(client) if since is None else (),
        own_checked=read_own_checks(conn, codes),
        check_every=timedelta(hours=mapping.own_changes_check_hours),
        now=now,
    )
    f = mapping.lead_fields
    # SOQL's IN compares without case, and the odd-code condition returns codes with Unicode spaces
    # around them: a record written 'br0001' or 'BR0001\u00a0' at GM is BR0001's. It is staged under
    # the dealership's own code (the transform compares the same way), never dropped.
    wanted = {dealer_key(code): code for code in codes}
    result = ExtractResult(per_dealer=dict.fromkeys(codes, 0))
    for soql, covered in build_queries(plan, mapping):
        chunk_max: datetime | None = None
        for page in client.query_pages(soql, include_deleted=True):
            rows: list[Row] = []
            held: list[stageable.Quarantined] = []
            for record in page:
                record.pop("attributes", None)
                dealer = record.get(f["dealer_code"])
                code = wanted.get(dealer_key(dealer)) if isinstance(dealer, str) else None
                if code is None:
                    result.unmatched[str(dealer)] += 1
                    continue
                stamp = stageable.parse_stamp(record.get(f["modstamp"]))
                staged = _stage_record(record, code, run_id, stamp, f, result)
                if isinstance(staged, stageable.Quarantined):
                    held.append(staged)
                    continue
                if stamp is not None and (chunk_max is None or stamp > chunk_max):
                    chunk_max = stamp
                rows.append(staged)
            _store_page(conn, rows, held, result)
        # Every dealership of this query has been read up to the newest stamp the query saw,
        # so a quiet dealership's watermark moves too and never drags later reads back.
        if chunk_max is not None:
            for code in covered:
                result.watermark_candidates[code] = chunk_max
    # A read that took the integration's own changes took them up to the newest stamp it saw: GM's clock,
    # as the watermark (the next check starts there minus the lookback). One that saw nothing claims
    # nothing: the check stays due and the next cycle makes it again.
    result.own_checked_to = {
        code: stamp for code, stamp in result.watermark_candidates.items() if plan.checks_own_changes(code)
    }
    _stage_retries(conn, run_id, codes, f, result)
    _record_batches(conn, run_id, result, client)
    _log_unmatched(conn, client.name, result)
    return result


def _stage_retries(
    conn: psycopg.Connection[Any], run_id: str, codes: list[str], f: dict[str, str], result: ExtractResult
) -> None:
    """Stage again, from their stored GM record, the quarantined leads that may load now (see
    :mod:`gmcrm.leads.heal`), after GM's own records: they count in the batch's records like any
    other, never in its watermark candidate."""
    found = heal.candidates(conn, run_id, codes)
    if not found:
        return
    rows: list[Row] = []
    staged_ids: list[str] = []
    kept: list[str] = []
    superseded: list[str] = []
    for lead in found:
        if lead.superseded:
            superseded.append(lead.lead_id)
            continue
        record = lead.record()
        staged = None
        if record is not None:
            stamp = stageable.parse_stamp(record.get(f["modstamp"]))
            staged = _stage_record(record, lead.dealer_code, run_id, stamp, f, result)
        if isinstance(staged, tuple):
            rows.append(staged)
            staged_ids.append(lead.lead_id)
        else:
            kept.append(lead.lead_id)
            log.warning(
                "%s: lead %s (%s) cannot be tried again from its stored record; it loads when GM changes it",
                lead.dealer_code,
                lead.lead_id,
                lead.reason_code,
            )
    _copy_rows(conn, rows)
    heal.mark_staged(conn, run_id, staged_ids)
    heal.mark_done(conn, kept, superseded)
    conn.commit()
    for row in rows:
        result.per_dealer[row[1]] += 1
        result.retried[row[1]] += 1
    result.records += len(rows)
    if superseded:
        log.info(
            "%d quarantined leads left quarantine: their contact is as new as their stored record", len(superseded)
        )


def _stage_record(
    record: dict[str, Any], code: str, run_id: str, stamp: datetime | None, f: dict[str, str], result: ExtractResult
) -> Row | stageable.Quarantined:
    """The staging row of a record, or its quarantine row when the load could not read it."""
    text, cleaned = stageable.storable_json(record)
    lead_id = record.get(f["lead_id"])
    if not isinstance(lead_id, str) or not lead_id.strip():
        # Salesforce always sends an Id; a record without one cannot be loaded: it is quarantined under
        # a key that says so (and shows what came instead), so a person sees it.
        lead_id = f"(no Id: {stageable.clean_text(str(lead_id))[:40]})"
        return stageable.Quarantined(
            lead_id, code, stageable.UNSTAGEABLE, "GM sent the record without an Id: report it to GM", text, stamp
        )
    lead_id = stageable.clean_text(lead_id)
    problem = stageable.date_problem(record, f)
    if problem is not None:
        return stageable.Quarantined(lead_id, code, stageable.UNREADABLE_DATE, problem, text, stamp)
    if cleaned:
        result.cleaned[code] += 1
    return (run_id, code, lead_id, stamp, text)


#: What PostgreSQL (or the encoding on the way to it) answers for a record it will not store: class 22
#: (data exceptions: untranslatable characters, bad values), limits exceeded, and text not encodable.
UNSTAGEABLE_ERRORS = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded, UnicodeError)


def _store_page(
    conn: psycopg.Connection[Any], rows: list[Row], held: list[stageable.Quarantined], result: ExtractResult
) -> None:
    """COPY a page into staging and quarantine what could not be staged, in one transaction. Should
    PostgreSQL still refuse the page, it is staged again row by row and a refused row is quarantined
    with the database's own words: one record never fails the batch."""
    try:
        _copy_rows(conn, rows)
        _quarantine(conn, held)
        conn.commit()
    except UNSTAGEABLE_ERRORS as exc:
        conn.rollback()
        log.warning("a page could not be staged whole (%s); staging it record by record", error_text(exc))
        rows, held = _stage_one_by_one(conn, rows, held)
        _quarantine(conn, held)
        conn.commit()
    for row in rows:
        result.per_dealer[row[1]] += 1
    result.records += len(rows)
    for q in held:
        result.quarantined[q.dealer_code] += 1


def _stage_one_by_one(
    conn: psycopg.Connection[Any], rows: list[Row], held: list[stageable.Quarantined]
) -> tuple[list[Row], list[stageable.Quarantined]]:
    staged: list[Row] = []
    held = list(held)
    for row in rows:
        try:
            with conn.transaction():
                _copy_rows(conn, [row])
            staged.append(row)
        except UNSTAGEABLE_ERRORS as exc:
            _run_id, code, lead_id, stamp, text = row
            held.append(
                stageable.Quarantined(
                    lead_id,
                    code,
                    stageable.UNSTAGEABLE,
                    f"the DMS database refused the record ({error_text(exc)}); correct the lead at GM (it loads "
                    "on its next change)",
                    stageable.as_text_record(text),
                    stamp,
                )
            )
    return staged, held


def _copy_rows(conn: psycopg.Connection[Any], rows: list[Row]) -> None:
    if not rows:
        return
    with conn.cursor() as cur:
        with cur.copy(_SQL["copy_staging"]) as copy:
            for row in rows:
                copy.write_row(row)


def _quarantine(conn: psycopg.Connection[Any], held: list[stageable.Quarantined]) -> None:
    for q in held:
        params = (q.lead_id, q.dealer_code, q.reason_code, q.reason, q.raw_record, q.gm_modstamp)
        try:
            with conn.transaction():
                conn.execute(_SQL["quarantine_at_extract"], params)
        except psycopg.DataError:
            with conn.transaction():
                conn.execute(
                    _SQL["quarantine_at_extract"], (*params[:4], stageable.as_text_record(q.raw_record), q.gm_modstamp)
                )
        log.warning(
            "%s: lead %s quarantined at extract (%s): %s", q.dealer_code, q.lead_id, q.reason_code, mask_text(q.reason)
        )


def _log_unmatched(conn: psycopg.Connection[Any], conn_id: str, result: ExtractResult) -> None:
    """Records GM returned for no dealership of this read: those of a dealership configured elsewhere
    (disabled, another GM connection) are expected; the others are named, masked, for a person."""
    if not result.unmatched:
        return
    known = {dealer_key(c) for (c,) in conn.execute(_SQL["dealer_codes"])}
    strays = {code: n for code, n in result.unmatched.items() if dealer_key(code) not in known}
    if strays:
        shown = ", ".join(mask_text(repr(code)) for code in sorted(strays)[:10])
        log.warning(
            "GM connection %s: %d records with a dealer code that no dealership has (%s%s): not imported; "
            "add the dealership (gmcrm dealership set) or correct the dealer code at GM",
            conn_id,
            sum(strays.values()),
            shown,
            f" and {len(strays) - 10} more" if len(strays) > 10 else "",
        )


def _record_batches(conn: psycopg.Connection[Any], run_id: str, result: ExtractResult, client: GmClient) -> None:
    rows = [
        (
            run_id,
            code,
            count,
            result.watermark_candidates.get(code),
            client.stats.calls,
            client.stats.api_remaining,
            client.stats.api_max,
            result.own_checked_to.get(code),
        )
        for code, count in result.per_dealer.items()
    ]
    with conn.cursor() as cur:
        cur.executemany(
            _SQL["record_batch"],
            rows,
        )
    conn.commit()


def durable_commits(conn: psycopg.Connection[Any]) -> None:
    """Make this session's commits wait for their WAL flush, whatever the server's default: a staged
    page and its ``gmcrm.import_batch`` row must survive a crash once committed (a load that finds
    fewer records than the batch says refuses, and the next run reads them again, but only durable
    staging makes the retried load succeed). One flush per page of 2,000 records costs little."""
    setting = conn.execute(_SQL["show_synchronous_commit"]).fetchone()
    if setting is not None and setting[0] == "off":
        conn.execute(_SQL["durable_commits"])
    conn.commit()


def clear_run(conn: psycopg.Connection[Any], run_id: str) -> None:
    """Forget what an earlier try of this run staged, so a retried extract starts clean."""
    conn.execute(_SQL["clear_run_staging"], (run_id,))
    conn.execute(_SQL["clear_run_batches"], (run_id,))
    conn.commit()


def purge_old_staging(conn: psycopg.Connection[Any], older_than: timedelta = timedelta(days=2)) -> int:
    """Staging left by runs whose loads never finished (their leads are re-read anyway)."""
    cur = conn.execute(_SQL["purge_staging"], (older_than,))
    conn.execute(_SQL["purge_batches"], (older_than,))
    conn.commit()
    return cur.rowcount


def group_by_connection(dealers: Iterable[Dealership]) -> dict[str, list[Dealership]]:
    groups: dict[str, list[Dealership]] = defaultdict(list)
    for d in dealers:
        groups[d.gm_conn_id].append(d)
    return dict(groups)
