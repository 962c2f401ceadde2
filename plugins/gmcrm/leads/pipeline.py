"""The import as steps the DAG (and the demo, tests and benchmarks) call: extract once, load per group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from gmcrm.dealerships import Dealership, list_dealerships
from gmcrm.gm_client import GmClient, GmStop
from gmcrm.leads.extract import clear_run, extract_to_staging, group_by_connection, purge_old_staging
from gmcrm.leads.failures import error_text, record_failure
from gmcrm.leads.load import LoadResult, load_dealer, prepare_group
from gmcrm.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class DealerGroup:
    """The dealerships one mapped load task handles, and how it is labelled in the UI."""

    dealer_codes: list[str]
    run_id: str

    @property
    def label(self) -> str:
        codes = self.dealer_codes
        return codes[0] if len(codes) == 1 else f"{codes[0]}..{codes[-1]} ({len(codes)})"

    def to_dict(self) -> dict[str, Any]:
        return {"dealer_codes": self.dealer_codes, "run_id": self.run_id, "label": self.label}


def group_dealers(codes: list[str], per_group: int, run_id: str) -> list[DealerGroup]:
    per_group = max(1, per_group)
    return [DealerGroup(codes[i : i + per_group], run_id) for i in range(0, len(codes), per_group)]


@dataclass
class ExtractSummary:
    groups: list[DealerGroup]
    records: int
    #: Over every GM connection (each dealership's own connection's figures go to its import_log row).
    api_calls: int
    stopped: str | None = None


def extract(
    conn: psycopg.Connection[Any],
    run_id: str,
    client_for: Callable[[str], GmClient],
    *,
    dealer_codes: list[str] | None = None,
    full_resync: bool = False,
    since: datetime | None = None,
    per_group: int = 1,
) -> ExtractSummary:
    """Stage the leads of every enabled dealership (or of ``dealer_codes``), one query set per GM connection."""
    dealers: list[Dealership] = list_dealerships(conn, dealer_codes or None, enabled_only=True)
    clear_run(conn, run_id)
    purge_old_staging(conn)
    records, calls = 0, 0
    stopped: list[str] = []
    loadable: list[str] = []
    for conn_id, members in group_by_connection(dealers).items():
        client = client_for(conn_id)
        try:
            result = extract_to_staging(conn, client, members, run_id, full_resync=full_resync, since=since)
        except GmStop as exc:  # the daily limit, a session refused again after a new sign-in
            # Stop calling for this cycle; nothing is marked failed and the watermarks stay.
            conn.rollback()
            stopped.append(f"{conn_id}: {exc.reason} ({client.stats.summary()})")
            log.warning("GM connection %s: %s; its %d dealerships wait", conn_id, exc.reason, len(members))
            continue
        loadable += [d.dealer_code for d in members]
        records += result.records
        calls += client.stats.calls
        log.info(
            "GM connection %s: %d dealerships, %d leads staged, %s",
            conn_id,
            len(members),
            result.records,
            client.stats.summary(),
        )
    return ExtractSummary(
        group_dealers(loadable, per_group, run_id),
        records,
        calls,
        "; ".join(stopped) or None,
    )


def load_group(
    conn: psycopg.Connection[Any], group: DealerGroup, mapping: Any
) -> tuple[list[LoadResult], list[tuple[str, BaseException]]]:
    """Load each dealership of the group in its own transaction; one's failure never holds up the others."""
    done: list[LoadResult] = []
    prepared = prepare_group(conn, group.run_id, group.dealer_codes, mapping)
    failed: list[tuple[str, BaseException]] = list(prepared.failed)
    for code, exc in prepared.failed:
        record_failure(conn, group.run_id, code, "load", error_text(exc))
    log.info(
        "%d dealerships prepared (read, transformed, staged for loading) in %.2fs",
        len(prepared.ready),
        prepared.prepare_seconds,
    )
    for code in prepared.ready:
        try:
            result = load_dealer(conn, code, group.run_id)
        except Exception as exc:  # recorded against that dealership; the rest of the group loads
            log.exception("dealership %s: load failed: %s", code, type(exc).__name__)
            conn.rollback()
            failed.append((code, exc))
            record_failure(conn, group.run_id, code, "load", error_text(exc))
            continue
        log.info("%s", result.line())
        done.append(result)
    return done, failed
