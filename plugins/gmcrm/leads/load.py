"""Load: staged GM leads into DMS customers and contacts, a run of whole dealerships per transaction.

Set-based throughout. A group's staged leads are read once and transformed with pandas; the
result is COPYed into the session's temporary tables (no WAL), and the group is loaded by calls of
the database function ``gmcrm.load_dealers`` (migrations 0005, 0009), each for about
``GMCRM_LOAD_ROWS_PER_TRANSACTION`` rows of whole dealerships (:func:`load_chunks`): customers
matched or created, contacts upserted, LIM/LAT, parts counter services, quarantine, watermarks,
``last_integration_at`` and a ``gmcrm.import_log`` row per dealership, all in the call's transaction.
If one fails, each of its dealerships is loaded in its own (``gmcrm.leads.pipeline``), so that one
dealership's failure holds up no other. Loading the same leads again changes nothing; a re-read lead
changes only the GM columns.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pandas as pd
import psycopg
from psycopg.rows import dict_row

from gmcrm.gm_mapping import GmMapping
from gmcrm.leads.transform import (
    LEAD_COLUMNS,
    DealerContext,
    GroupResult,
    transform_group,
)
from gmcrm.leads.transform.shared import shared_key_leads
from gmcrm.logs import get_logger, plural
from gmcrm.paths import named_queries

_SQL = named_queries("import")

log = get_logger(__name__)

# The temporary table's columns: the transform's lead columns (the row type gmcrm.lead_row).
LOAD_COLUMNS: tuple[str, ...] = tuple(LEAD_COLUMNS)
QUARANTINE_JSON_COLUMNS = ("lead_id", "reason_code", "reason", "raw_record", "gm_modstamp")


class DealershipNotFound(LookupError):
    pass


class StagedRecordsMissing(RuntimeError):
    """Staging holds fewer of a dealership's records than its extract staged (a crash or a failover
    lost them): loading would move the watermark past leads never loaded, so the load refuses."""


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
    #: The GM API calls of this run's extract for the dealership's GM connection, and what was left: kept in
    #: gmcrm.import_log, not in the line (they are the connection's, logged once by the extract).
    api_calls: int | None = None
    api_remaining: int | None = None
    #: The time its load took; loaded with others in one transaction (``loaded_with`` dealerships), its
    #: share of that transaction's time by leads read.
    seconds: float = 0.0
    loaded_with: int = 1

    def changes(self) -> list[str]:
        """What this load changed in the DMS (empty: nothing)."""
        changed = []
        if self.contacts_created:
            changed.append(plural(self.contacts_created, "new contact") + self._customers())
        if self.contacts_updated:
            changed.append(f"{self.contacts_updated} updated")
        if self.deleted:
            changed.append(f"{self.deleted} deleted at GM")
        if self.events_recorded:
            changed.append(plural(self.events_recorded, "event"))
        return changed

    def _customers(self) -> str:
        """Whose the new contacts are: customers made by this load, and customers that existed before it."""
        new, found = self.customers_created, self.customers_matched
        if new and found:
            return f" (customers: {new} new, {found} existing)"
        if new:
            return f" ({plural(new, 'new customer')})"
        return f" ({plural(found, 'existing customer')})" if found else ""

    def line(self) -> str:
        """One short line a person reads in the log viewer: what changed, then what was left as it is (counts
        only, no personal data). ``BR0001: 12 leads read: 3 new contacts (2 new customers), 1 updated,
        5 events; 2 in quarantine; 0.05s``; a quiet cycle: ``BR0001: 12 leads read, no changes; 0.01s``."""
        if not self.leads_read:
            return "; ".join([f"{self.dealer_code}: no new or changed leads at GM", *self._time()])
        changed = self.changes()
        head = f"{self.dealer_code}: {plural(self.leads_read, 'lead')} read"
        head += f": {', '.join(changed)}" if changed else ", no changes"
        # Not changes: leads this read left out of the DMS (quarantined: their reasons are in
        # gmcrm.lead_quarantine; closed at GM before their first import: never imported).
        kept = [f"{self.quarantined} in quarantine"] if self.quarantined else []
        if self.skipped_closed:
            kept.append(f"{self.skipped_closed} closed at GM")
        return "; ".join([head, *kept, *self._time()])

    def _time(self) -> list[str]:
        return [f"{'~' if self.loaded_with > 1 else ''}{self.seconds:.2f}s"]


def read_contexts(conn: psycopg.Connection[Any], dealer_codes: list[str]) -> dict[str, DealerContext]:
    """The routing, receiving users and contact settings of many dealerships, in three queries."""
    with conn.cursor(row_factory=dict_row) as cur:
        dealerships = cur.execute(
            _SQL["dealership_contexts"],
            (dealer_codes,),
        ).fetchall()
        settings = cur.execute(
            _SQL["contact_settings"],
            (dealer_codes,),
        ).fetchall()
    user_ids = sorted({v for d in dealerships for k, v in d.items() if k.endswith("_user_id") and v is not None})
    departments = dict(conn.execute(_SQL["user_departments"], (user_ids,)))
    by_dealer: dict[str, list[dict[str, Any]]] = {}
    for row in settings:
        by_dealer.setdefault(row["dealer_code"], []).append(row)
    return {
        d["dealer_code"]: DealerContext.from_dicts(d, departments, by_dealer.get(d["dealer_code"], ()))
        for d in dealerships
    }


def read_staging(conn: psycopg.Connection[Any], run_id: str, dealer_codes: list[str]) -> dict[str, tuple[int, bytes]]:
    """Per dealership with staged records (in code order): how many, and the records as one JSON text
    of comma-separated objects. A JSON text per dealership instead of a row per lead: a row per lead
    cost more to fetch than to parse."""
    rows = conn.execute(_SQL["staged_records"], (run_id, dealer_codes), binary=True)
    return {code: (count, text) for code, count, text in rows}


def staging_frame(texts: list[bytes], mapping: GmMapping) -> pd.DataFrame:
    """The staged records (JSON texts of :func:`read_staging`) as one frame with the mapping's logical
    names. msgspec parses them in one call, several times faster than a json.loads per record."""
    records: list[dict[str, Any]] = msgspec.json.decode(b"[" + b",".join(texts) + b"]")
    return records_to_frame(records, mapping)


def records_to_frame(records: list[dict[str, Any]], mapping: GmMapping) -> pd.DataFrame:
    """Raw API records -> the transform's input frame (logical names, parsed types)."""
    logical = mapping.lead_fields
    frame = pd.DataFrame.from_records(records, columns=list(logical.values()))
    frame.columns = list(logical.keys())
    for col in ("created_at", "modstamp"):
        frame[col] = pd.to_datetime(frame[col], format="%Y-%m-%dT%H:%M:%S.%f%z", utc=True)
    frame["is_deleted"] = frame["is_deleted"].fillna(False).astype(bool)
    frame["raw_record"] = records
    return frame


def _column_values(series: pd.Series) -> list[Any]:
    # to_numpy with na_value turns pd.NA into None in C; timestamps become datetimes.
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        stamps = series.array.to_pydatetime().astype(object)
        stamps[series.isna().to_numpy()] = None
        return list(stamps)
    if series.dtype == object:
        return [None if v is None or v is pd.NA else v for v in series]
    return list(series.to_numpy(dtype=object, na_value=None))


def _copy(
    conn: psycopg.Connection[Any],
    table: str,
    columns: list[str],
    frame: pd.DataFrame,
    binary_types: list[str] | None = None,
) -> None:
    """COPY a frame's columns into a table; in binary format when the column types are given (about
    twice as fast as text for the lead rows, which hold no JSON)."""
    if frame.empty:
        return
    values = [_column_values(frame[c]) for c in columns]
    options = " (FORMAT BINARY)" if binary_types else ""
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{options}") as copy:
        if binary_types:
            copy.set_types(binary_types)
        for row in zip(*values, strict=True):
            copy.write_row(row)


def _column_types(conn: psycopg.Connection[Any], table: str, columns: list[str]) -> list[str]:
    types = dict(
        conn.execute(
            _SQL["column_types"],
            (table,),
        ).fetchall()
    )
    return [types[c] for c in columns]


def _reset_temp_tables(conn: psycopg.Connection[Any]) -> None:
    """The session's temporary tables the load function reads (no WAL; gone with the connection):
    gmcrm_lead_rows, gmcrm_quarantine_rows, gmcrm_deleted_rows and gmcrm_shared_key_rows, made and
    emptied in one round trip."""
    conn.execute(_SQL["reset_temp_tables"])


def _whole(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0].copy(deep=False) if len(frames) == 1 else pd.concat(frames, ignore_index=True)


@dataclass
class PreparedGroup:
    """What a group's transform produced; failures are recorded against their dealerships."""

    ready: list[str]
    failed: list[tuple[str, BaseException]]
    #: Reading staging, transforming and filling the temporary tables.
    prepare_seconds: float
    #: Loaded by an earlier try of this run (its staging consumed, its import_log row written).
    loaded_before: list[str] = field(default_factory=list)
    #: Per ready dealership, the rows it has to load (leads, quarantined and deleted ones).
    rows: dict[str, int] = field(default_factory=dict)


def check_staged(
    conn: psycopg.Connection[Any], run_id: str, dealer_codes: list[str], staged_counts: dict[str, int]
) -> tuple[list[str], list[str], list[tuple[str, BaseException]]]:
    """Compare each dealership's staged records (``staged_counts``, as read) with what its extract
    recorded in ``gmcrm.import_batch``: (complete, loaded by an earlier try of this run, refused). The
    watermark candidate of a batch is only true of the records the extract staged; a load of fewer
    would skip the missing ones for good."""
    rows = conn.execute(_SQL["check_staged"], (dealer_codes, run_id, run_id)).fetchall()
    complete: list[str] = []
    loaded: list[str] = []
    refused: list[tuple[str, BaseException]] = []
    for code, expected, loaded_since in rows:
        staged = staged_counts.get(code, 0)
        if expected is None:
            refused.append(
                (
                    code,
                    StagedRecordsMissing(
                        f"no extract of run {run_id} is recorded for {code} (gmcrm.import_batch): nothing was "
                        "loaded and the watermark stays; the next run reads its leads again"
                    ),
                )
            )
        elif staged >= expected:
            complete.append(code)
        elif loaded_since:
            loaded.append(code)
        else:
            refused.append(
                (
                    code,
                    StagedRecordsMissing(
                        f"staged records missing ({staged} of {expected}): the DMS database lost part of what the "
                        "extract staged (a crash or a failover?); nothing was loaded and the watermark stays, "
                        "the next run reads them again"
                    ),
                )
            )
    return complete, loaded, refused


def prepare_group(
    conn: psycopg.Connection[Any], run_id: str, dealer_codes: list[str], mapping: GmMapping
) -> PreparedGroup:
    """Read the group's staged leads once, transform them with pandas, and COPY the result into the
    session's temporary tables, from which :func:`load_dealers` then loads runs of dealerships."""
    started = time.perf_counter()
    staged = read_staging(conn, run_id, dealer_codes)
    complete, loaded_before, failed = check_staged(conn, run_id, dealer_codes, {c: n for c, (n, _) in staged.items()})
    if loaded_before:
        log.info("already loaded by an earlier try of this run: %s", ", ".join(loaded_before))
    contexts = read_contexts(conn, complete)
    failed += [
        (code, DealershipNotFound(f"dealership {code} is not configured in gmcrm.dealership"))
        for code in complete
        if code not in contexts
    ]
    # Staging holds each record under its dealership's own code (however GM wrote it), so this is
    # exactly the configured dealerships' leads.
    raw = staging_frame([text for code, (_n, text) in staged.items() if code in contexts], mapping)
    del staged
    parts: list[GroupResult] = []
    try:
        # One vectorised pass for the whole group: the per-call cost of pandas is paid once, and the
        # result stays one frame per table (the temporary tables hold the whole group anyway).
        parts.append(transform_group(raw, contexts, mapping))
    except Exception:
        log.exception("group transform failed; transforming dealership by dealership")
        staged_as = raw["dealer_code"].str.strip().str.casefold()
        for code, ctx in contexts.items():
            try:
                parts.append(transform_group(raw[staged_as == code.casefold()], {code: ctx}, mapping))
            except Exception as exc:  # recorded against this dealership; the others go on
                log.exception("dealership %s: transform failed: %s", code, type(exc).__name__)
                failed.append((code, exc))
    ready = [code for part in parts for code in part.codes]
    rows = dict.fromkeys(ready, 0)
    _reset_temp_tables(conn)
    if ready:
        q = _whole([part.quarantine for part in parts])
        q["raw_record"] = [json.dumps(r, ensure_ascii=False, default=str) for r in q["raw_record"]]
        columns = list(LOAD_COLUMNS)
        lead_types = _column_types(conn, "pg_temp.gmcrm_lead_rows", columns)
        leads = _whole([part.leads for part in parts])
        _copy(conn, "pg_temp.gmcrm_lead_rows", columns, leads, lead_types)
        _copy(conn, "pg_temp.gmcrm_quarantine_rows", ["dealer_code", *QUARANTINE_JSON_COLUMNS], q)
        deleted = _whole([part.deleted for part in parts])
        _copy(conn, "pg_temp.gmcrm_deleted_rows", ["dealer_code", "lead_id", "gm_modstamp"], deleted)
        _copy(conn, "pg_temp.gmcrm_shared_key_rows", ["lead_id", "dealer_code"], shared_key_leads(leads))
        conn.execute(_SQL["analyze_temp_tables"])
        for part in parts:
            for frame in (part.leads, part.quarantine, part.deleted):
                for code, n in frame["dealer_code"].value_counts().items():
                    rows[str(code)] += int(n)
    conn.commit()
    return PreparedGroup(ready, failed, time.perf_counter() - started, loaded_before, rows)


def load_chunks(codes: list[str], rows: dict[str, int], limit: int) -> list[list[str]]:
    """``codes`` cut, in order, into runs of dealerships of at most ``limit`` rows each (a dealership
    with more is a run of its own; ``limit`` 0: each dealership alone): what one call of
    ``gmcrm.load_dealers`` loads, in one transaction (``GMCRM_LOAD_ROWS_PER_TRANSACTION``)."""
    if limit <= 0:
        return [[code] for code in codes]
    chunks: list[list[str]] = []
    total = 0
    for code in codes:
        n = rows.get(code, 0)
        if not chunks or total + n > limit:
            chunks.append([])
            total = 0
        chunks[-1].append(code)
        total += n
    return chunks


def load_dealers(conn: psycopg.Connection[Any], dealer_codes: list[str], run_id: str) -> list[LoadResult]:
    """Load prepared dealerships in one transaction: one statement, one round trip, whatever their number.

    The database function does the whole load, writes each dealership's ``gmcrm.import_log`` row and
    commits without waiting for the WAL flush (a crash loses at most the last loads, which the next
    run makes again: loading is idempotent). It runs as a statement of its own (autocommit), so the
    connection must not be inside a transaction. Fails as a whole: nothing of the dealerships is loaded."""
    started = time.perf_counter()
    autocommit = conn.autocommit
    conn.autocommit = True  # refused (ProgrammingError) inside a transaction
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_SQL["load_dealers"], (run_id, dealer_codes)).fetchall()
    finally:
        conn.autocommit = autocommit
    seconds = time.perf_counter() - started
    read = sum(row["leads_read"] for row in rows)
    return [
        LoadResult(
            **row,
            seconds=seconds * (row["leads_read"] / read if read else 1 / len(rows)),
            loaded_with=len(rows),
        )
        for row in rows
    ]


def load_dealer(conn: psycopg.Connection[Any], dealer_code: str, run_id: str) -> LoadResult:
    """Load one prepared dealership in its own transaction (see :func:`load_dealers`)."""
    (result,) = load_dealers(conn, [dealer_code], run_id)
    return result
