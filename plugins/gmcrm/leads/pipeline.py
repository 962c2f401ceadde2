"""The import as steps the DAG (and the demo, tests and benchmarks) call: extract once, load per group.

Every load task imports this module at its start, so the extract's side (the GM client: simple_salesforce,
zeep, httpx, ~0.2 s) is imported inside :func:`extract`, not here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from gmcrm import settings
from gmcrm.dealerships import Dealership, list_dealerships
from gmcrm.leads import heal
from gmcrm.leads.failures import error_text, record_failure
from gmcrm.leads.grouping import DEFAULT_MAX_TASKS, group_label, load_order, split_groups
from gmcrm.leads.load import LoadResult, load_chunks, load_dealers, prepare_group
from gmcrm.logs import get_logger, plural
from gmcrm.paths import named_queries

if TYPE_CHECKING:
    from gmcrm.gm_client import GmClient

_SQL = named_queries("import")

log = get_logger(__name__)


@dataclass(frozen=True)
class DealerGroup:
    """The dealerships one mapped load task handles, and how it is labelled in the UI."""

    dealer_codes: list[str]
    run_id: str
    #: The group's dealerships whose last import did not load (they come first, see gmcrm.leads.grouping).
    overdue: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return group_label(self.dealer_codes, self.overdue)

    def to_dict(self) -> dict[str, Any]:
        return {"dealer_codes": self.dealer_codes, "run_id": self.run_id, "label": self.label}


def group_dealers(
    codes: Sequence[str],
    run_id: str,
    *,
    per_group: int | None = None,
    max_tasks: int = DEFAULT_MAX_TASKS,
    staged: Mapping[str, int] | None = None,
    overdue: Sequence[str] = (),
) -> list[DealerGroup]:
    """The load groups of a run: the overdue dealerships first (longest waiting first), then the others
    by code; ``per_group`` of them per task when given, else at most ``max_tasks`` groups balanced on
    ``staged`` records (see :func:`gmcrm.leads.grouping.split_groups`)."""
    ordered = load_order(codes, overdue)
    late = set(overdue)
    return [
        DealerGroup(group, run_id, tuple(c for c in group if c in late))
        for group in split_groups(ordered, max_tasks=max_tasks, per_task=per_group, staged=staged)
    ]


def overdue_dealerships(conn: psycopg.Connection[Any], codes: Sequence[str], run_id: str) -> list[str]:
    """Those of ``codes`` whose last import did not load (failed, never ran, or never loaded at all),
    the longest waiting first (query ``overdue_dealerships``)."""
    rows = conn.execute(_SQL["overdue_dealerships"], {"codes": list(codes), "run_id": run_id}).fetchall()
    conn.commit()
    return [row[0] for row in rows]


@dataclass
class ExtractSummary:
    groups: list[DealerGroup]
    records: int
    #: Over every GM connection (each dealership's own connection's figures go to its import_log row).
    api_calls: int
    stopped: str | None = None
    #: Dealerships whose GM connection failed (recorded in gmcrm.import_failure, stage 'extract').
    failed: list[str] = field(default_factory=list)
    #: Records GM returned for no dealership of this read (see the extract's log for their codes).
    unmatched: int = 0
    #: Records quarantined at extract (could not be staged) and staged after cleaning.
    quarantined: int = 0
    cleaned: int = 0
    #: Quarantined leads staged again from their stored record (settings changed, or a person asked).
    retried: int = 0


def connection_failure(conn_id: str, exc: BaseException) -> str:
    """What a person reads when a GM connection fails its dealerships: what happened, to which
    connection, and what to do (masked by record_failure)."""
    from gmcrm.gm_client import GmError, GmTransientError

    what = error_text(exc)
    if type(exc).__name__ == "AirflowNotFoundException":
        return (
            f"GM connection '{conn_id}' is not defined in Airflow ({what}); create it (Admin > Connections, "
            f"AIRFLOW_CONN_{conn_id.upper()} or the secrets backend) or point the dealership at an existing one "
            "with `gmcrm dealership set CODE --gm-conn-id gm_crm`; the next run reads its leads"
        )
    if isinstance(exc, GmTransientError):
        return (
            f"GM CRM did not answer through connection '{conn_id}' after the retries ({what}); nothing was "
            "imported for its dealerships and their watermarks stay: the next run reads their leads again"
        )
    if isinstance(exc, GmError):
        return (
            f"GM CRM refused connection '{conn_id}' ({what}); check the connection's credentials, instance_url "
            "and ca_bundle; the next run reads its dealerships' leads again"
        )
    return (
        f"reading GM leads through connection '{conn_id}' failed ({what}); check the connection's settings; "
        "the next run reads its dealerships' leads again"
    )


def connection_line(
    conn_id: str,
    dealerships: int,
    staged: int,
    *,
    quarantined: int,
    cleaned: int,
    unmatched: int,
    calls: str,
    retried: int = 0,
) -> str:
    """The extract's one line per GM connection: what its shared query read and the API calls it used (they
    are the connection's, not any one dealership's, so they are logged here once and not on each
    dealership's load line). Counts that are zero are left out."""
    parts = [f"GM connection {conn_id}: {plural(staged, 'lead')} staged for {plural(dealerships, 'dealership')}"]
    if retried:  # staged again from their stored record, not read from GM
        parts.append(f"{retried} of them from quarantine")
    if quarantined:
        parts.append(f"{quarantined} quarantined at extract")
    if cleaned:
        parts.append(f"{cleaned} with characters cleaned")
    if unmatched:
        parts.append(f"{unmatched} of other dealerships")
    return "; ".join([", ".join(parts), calls])


def extract(
    conn: psycopg.Connection[Any],
    run_id: str,
    client_for: Callable[[str], GmClient],
    *,
    dealer_codes: list[str] | None = None,
    full_resync: bool = False,
    since: datetime | None = None,
    per_group: int | None = 1,
    max_tasks: int = DEFAULT_MAX_TASKS,
) -> ExtractSummary:
    """Stage the leads of every enabled dealership (or of ``dealer_codes``), one query set per GM connection.

    A GM connection that cannot be used (not defined, refused, not answering after the retries)
    fails only its own dealerships: each gets a gmcrm.import_failure row and stays out of the load
    groups, and the other connections carry on.

    The load groups: ``per_group`` dealerships each (``GMCRM_DEALERS_PER_TASK``; 1 for callers that
    load one by one), or with ``per_group=None`` at most ``max_tasks`` groups balanced on the records
    each dealership staged; either way the dealerships whose last import did not load come first."""
    from gmcrm.gm_client import GmStop
    from gmcrm.leads.extract import (
        clear_run,
        durable_commits,
        extract_to_staging,
        group_by_connection,
        purge_old_staging,
    )

    dealers: list[Dealership] = list_dealerships(conn, dealer_codes or None, enabled_only=True)
    durable_commits(conn)
    clear_run(conn, run_id)
    purge_old_staging(conn)
    summary = ExtractSummary([], 0, 0)
    stopped: list[str] = []
    loadable: list[str] = []
    staged: dict[str, int] = {}
    for conn_id, members in group_by_connection(dealers).items():
        codes = [d.dealer_code for d in members]
        client: GmClient | None = None
        try:
            client = client_for(conn_id)
            result = extract_to_staging(conn, client, members, run_id, full_resync=full_resync, since=since)
        except GmStop as exc:  # the daily limit, a session refused again after a new sign-in
            # Stop calling for this cycle; nothing is marked failed and the watermarks stay.
            conn.rollback()
            stats = client.stats.summary() if client is not None else "no calls"
            stopped.append(f"{conn_id}: {exc.reason} ({stats})")
            log.warning("GM connection %s: %s; its %d dealerships wait", conn_id, exc.reason, len(members))
            continue
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise  # the DMS itself is unreachable: every connection would fail; the task retries
        except Exception as exc:  # this connection's dealerships fail; the others go on
            _fail_connection(conn, run_id, conn_id, codes, exc)
            summary.failed += codes
            if client is not None:
                summary.api_calls += client.stats.calls
            continue
        loadable += codes
        staged.update(result.per_dealer)
        summary.records += result.records
        summary.api_calls += client.stats.calls
        summary.unmatched += sum(result.unmatched.values())
        summary.quarantined += sum(result.quarantined.values())
        summary.cleaned += sum(result.cleaned.values())
        summary.retried += sum(result.retried.values())
        log.info(
            "%s",
            connection_line(
                conn_id,
                len(members),
                result.records,
                quarantined=sum(result.quarantined.values()),
                cleaned=sum(result.cleaned.values()),
                unmatched=sum(result.unmatched.values()),
                calls=client.stats.summary(),
                retried=sum(result.retried.values()),
            ),
        )
    overdue = overdue_dealerships(conn, loadable, run_id)
    summary.groups = group_dealers(
        loadable, run_id, per_group=per_group, max_tasks=max_tasks, staged=staged, overdue=overdue
    )
    if overdue:
        shown = ", ".join(overdue[:10]) + (f" and {len(overdue) - 10} more" if len(overdue) > 10 else "")
        log.info("loading first %d dealerships whose last import did not load: %s", len(overdue), shown)
    log.info(
        "%d dealerships in %d load tasks (%s)",
        len(loadable),
        len(summary.groups),
        f"{per_group} per task, GMCRM_DEALERS_PER_TASK" if per_group else f"at most {max_tasks}",
    )
    summary.stopped = "; ".join(stopped) or None
    return summary


def _fail_connection(
    conn: psycopg.Connection[Any], run_id: str, conn_id: str, codes: list[str], exc: BaseException
) -> None:
    """Record the failure against each dealership of the connection and drop what it staged."""
    conn.rollback()
    message = connection_failure(conn_id, exc)
    log.error("GM connection %s failed for %d dealerships (%s): %s", conn_id, len(codes), ", ".join(codes), message)
    conn.execute(_SQL["drop_connection_staging"], (run_id, codes))
    conn.commit()
    for code in codes:
        record_failure(conn, run_id, code, "extract", message)


def load_group(
    conn: psycopg.Connection[Any], group: DealerGroup, mapping: Any
) -> tuple[list[LoadResult], list[tuple[str, BaseException]]]:
    """Load the group's dealerships about ``GMCRM_LOAD_ROWS_PER_TRANSACTION`` rows to a transaction
    (``load_chunks``), or, where one fails, each of its dealerships in its own: one dealership's failure
    never holds up the others."""
    # Quarantined leads are judged against the settings read from here on (see gmcrm.leads.heal).
    settings_seen = heal.settings_read_at(conn)
    prepared = prepare_group(conn, group.run_id, group.dealer_codes, mapping)
    failed: list[tuple[str, BaseException]] = list(prepared.failed)
    for code, exc in prepared.failed:
        record_failure(conn, group.run_id, code, "load", error_text(exc))
    log.info(
        "%d dealerships prepared (read, transformed, staged for loading) in %.2fs",
        len(prepared.ready),
        prepared.prepare_seconds,
    )
    done: list[LoadResult] = []
    for chunk in load_chunks(prepared.ready, prepared.rows, settings.load_rows_per_transaction()):
        together = _load_together(conn, group.run_id, chunk) if len(chunk) > 1 else None
        if together is not None:
            done += together
            continue
        for code in chunk:
            try:
                (result,) = load_dealers(conn, [code], group.run_id)
            except Exception as exc:  # recorded against that dealership; the rest of the group loads
                log.exception("dealership %s: load failed: %s", code, type(exc).__name__)
                conn.rollback()
                failed.append((code, exc))
                record_failure(conn, group.run_id, code, "load", error_text(exc))
                continue
            log.info("%s", result.line())
            done.append(result)
    _after_load(conn, group.run_id, [r.dealer_code for r in done], settings_seen)
    return done, failed


def _load_together(conn: psycopg.Connection[Any], run_id: str, codes: list[str]) -> list[LoadResult] | None:
    """Dealerships in one statement and one transaction (the start of a load statement, ~0.6 ms of CPU,
    paid once instead of per dealership); None when it failed as a whole, nothing of it loaded."""
    started = time.perf_counter()
    try:
        done = load_dealers(conn, codes, run_id)
    except Exception as exc:
        conn.rollback()
        log.warning(
            "the load of %d dealerships in one transaction failed (%s); loading them one at a time",
            len(codes),
            error_text(exc),
        )
        return None
    for result in done:
        log.info("%s", result.line())
    log.info(
        "%s: %d dealerships loaded in one transaction in %.2fs (each line's ~time is its share)",
        group_label(codes),
        len(done),
        time.perf_counter() - started,
    )
    return done


def _after_load(conn: psycopg.Connection[Any], run_id: str, codes: list[str], settings_seen: datetime) -> None:
    """Bookkeeping of the quarantine after the loads (reasons under today's settings, retries done).
    A failure here loses nothing: the leads stay quarantined and the next run tries them again."""
    try:
        still = heal.after_load(conn, run_id, codes, settings_seen)
    except (psycopg.OperationalError, psycopg.InterfaceError):
        raise
    except Exception as exc:
        conn.rollback()
        log.error("quarantine bookkeeping after the loads failed (the next run tries again): %s", error_text(exc))
        return
    if still:
        log.info("%d quarantined leads tried again from their stored record are still quarantined", still)
