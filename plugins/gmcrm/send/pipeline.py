"""What the send DAG calls: prepare the queue, then one lane's sends per GM connection, with typed
parameters (:class:`SendParams`, :class:`~gmcrm.send.report.RunInfo`) rather than the Airflow context;
the DAG file only reads its params into them and wires the tasks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg

from gmcrm import airflow_support as af
from gmcrm import settings
from gmcrm.alerts import alert, failed_events_text
from gmcrm.dag_params import datetime_value
from gmcrm.dealerships import list_dealerships
from gmcrm.logs import get_logger
from gmcrm.send.deliver import Sender
from gmcrm.send.outbox import SendFilters
from gmcrm.send.report import Attempt, RunInfo, SendReport

log = get_logger(__name__)


@dataclass(frozen=True)
class SendParams:
    """The send DAG's params (``dags/gmcrm_send_triggers.py``), typed."""

    dealer_codes: list[str] | None = None
    lead_id: str | None = None
    trigger_codes: list[str] | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    retry_failed: bool = False
    dry_run: bool = False
    lanes: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SendParams:
        """From a run's params (empty means all); a bad date-time fails here, at the task's first try."""
        return cls(
            dealer_codes=list(params.get("dealer_codes") or []) or None,
            lead_id=(params.get("lead_id") or None),
            trigger_codes=list(params.get("trigger_codes") or []) or None,
            occurred_from=datetime_value(params, "occurred_from"),
            occurred_to=datetime_value(params, "occurred_to"),
            retry_failed=bool(params.get("retry_failed")),
            dry_run=bool(params.get("dry_run")),
            lanes=max(1, int(params.get("lanes") or settings.send_lanes())),
        )

    @property
    def filters(self) -> SendFilters:
        """Which events the run may touch."""
        return SendFilters(
            dealer_codes=self.dealer_codes,
            lead_id=self.lead_id,
            trigger_codes=self.trigger_codes,
            occurred_from=self.occurred_from,
            occurred_to=self.occurred_to,
        )


def prepare(conn: psycopg.Connection[Any], params: SendParams) -> list[int]:
    """Requeue FAILED events when asked, refresh BLOCKED ones; return the lanes to run. A dry run changes
    nothing: its Sender is told so, and leaves FAILED and BLOCKED events as they are."""
    sender = Sender(conn, None, filters=params.filters, dry_run=params.dry_run)
    requeued = sender.prepare(retry_failed=params.retry_failed)
    if requeued:
        log.info("requeued %d FAILED events for another try", requeued)
    elif params.dry_run and params.retry_failed:
        log.info("dry run: FAILED events stay FAILED (a real run with retry_failed requeues them)")
    return list(range(params.lanes))


def send(conn: psycopg.Connection[Any], params: SendParams, run: RunInfo, lane: int) -> dict[str, Any]:
    """One lane of ``params.lanes``: per GM connection (dealerships may name their own), claim, send and
    record; the lane's totals, API calls and why it stopped (if it did)."""
    lanes = params.lanes
    filters = params.filters
    with conn.transaction():
        dealers = list_dealerships(conn, filters.dealer_codes, enabled_only=True)
    by_conn: dict[str, list[str]] = {}
    for d in dealers:
        by_conn.setdefault(d.gm_conn_id, []).append(d.dealer_code)
    totals: dict[str, int] = {}
    api_calls = 0
    stopped: list[str] = []
    failed: list[Attempt] = []
    for conn_id, codes in sorted(by_conn.items()):
        # One GM connection serves most dealerships: no dealer filter then, whatever their number.
        scoped = filters if len(by_conn) == 1 else replace(filters, dealer_codes=codes)
        sender = Sender(
            conn,
            af.gm_client(conn_id),
            run=run,
            filters=scoped,
            dry_run=params.dry_run,
            lanes=lanes,
            lane=lane,
        )
        report = sender.run_until_done()
        _log_report(conn_id, report)
        api_calls += report.api_calls
        failed += report.failed
        for outcome, n in report.totals().items():
            totals[str(outcome)] = totals.get(str(outcome), 0) + n
        if report.stopped:
            stopped.append(f"{conn_id}: {report.stopped}")
    log.info("lane %d of %d: %s", lane + 1, lanes, totals or "nothing to send")
    if failed:  # this lane's own failures: each lane alerts for what it sent
        rows = [(a.dealer_code, a.outbox_id, a.trigger_code, a.error_code, a.error_message) for a in failed]
        alert(failed_events_text(rows))
    return {"lane": lane, "totals": totals, "api_calls": api_calls, "stopped": "; ".join(stopped) or None}


def _log_report(conn_id: str, report: SendReport) -> None:
    """Each dealership's own outcomes, then the GM connection's line with the API calls (once: the calls
    carry events of any dealerships)."""
    for line in report.lines():
        log.info("%s", line)
    if report.stopped:
        log.warning("GM connection %s stopped: %s", conn_id, report.stopped)
    log.info("%s", report.connection_line(conn_id))
