"""Delivering claimed events to GM: built in batches, each per-record answer classified, and every attempt
recorded (a ``gmcrm.send_log`` row and the outbox outcome, in one transaction per batch).

- Leads with one claimed event: up to 200 events of any leads and dealerships in one sObject Collections
  upsert on ``DMS_Event_Id__c``; a resend is harmless, so the effect at GM is exactly once.
- Leads with a backlog: one composite graph per lead, its events in order, up to 75 graphs and 500
  events a call (:mod:`gmcrm.send.graph`, which also picks whichever way costs fewer calls); GM applies
  a graph all or nothing, so a failed event stops the later ones of its lead as before, and the earlier
  ones, rolled back, go again on the next call. A shallow backlog (a new lead's LIM and LAT) goes as
  levels of collections instead when that costs fewer calls: every lead's first event, then every
  lead's second, a lead's later event only when its earlier ones went (the others are released unsent,
  to wait behind the one that did not go).
- Every per-record result is classified: sent, transient (retry with exponential backoff),
  permanent (``FAILED`` with GM's code and message), or the lead deleted at GM (``CANCELLED``: that
  event and every unsent one of its lead, with the reason; a final status, no failure, blocking
  nothing); the daily limit stops the run and leaves everything pending.
Claims and outcomes are statements of :mod:`gmcrm.send.outbox`; payloads come from :mod:`gmcrm.send.payload`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Final, TypeVar

import psycopg

from gmcrm import settings
from gmcrm.gm_client import GmClient, GmRequestError, GmStop, GmTransientError
from gmcrm.gm_mapping import GmMapping
from gmcrm.logs import get_logger
from gmcrm.send import graph, outbox, payload
from gmcrm.send.outbox import SendFilters
from gmcrm.send.payload import BuiltEvent
from gmcrm.send.report import UNDECIDED, Attempt, Outcome, RunInfo, SendReport

log = get_logger(__name__)
T = TypeVar("T")
#: A claimed event ready to go: its attempt and its GM record.
Sendable = tuple[Attempt, dict[str, Any]]

TRANSIENT_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"})
#: GM's per-record answers meaning the lead is gone for good: its events are cancelled, not failed.
#: (INVALID_CROSS_REFERENCE_KEY, an unknown Lead__c, stays FAILED: it is also what a dealership
#: pointed at the wrong GM org gets, and cancelling would then throw its events away.)
LEAD_DELETED_RECORD_CODES = frozenset({"ENTITY_IS_DELETED"})

SEND_LOG_COLUMNS: Final = (
    "outbox_id",
    "dealer_code",
    "lead_id",
    "trigger_code",
    "stage",
    "substage",
    "communication",
    "request_body",
    "status_code",
    "response_body",
    "outcome",
    "error_code",
    "error_message",
    "dag_id",
    "run_id",
    "try_number",
)


def halted(result: dict[str, Any]) -> bool:
    """A graph node GM did not apply because another node of its graph failed."""
    errors = result.get("errors") or []
    return not result.get("success") and bool(errors) and errors[0].get("statusCode") == graph.ROLLED_BACK


def build_events(conn: psycopg.Connection[Any], ids: list[int], mapping: GmMapping | None = None) -> list[BuiltEvent]:
    """Read the claimed events' references as they are now (a reason mapped since is picked up) and
    build their payloads."""
    return payload.build_events(outbox.fetch_outbox_events(conn, ids), mapping)


def classify(result: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(outcome, error_code, error_message) of one collection result."""
    if result.get("success"):
        return Outcome.SENT, None, None
    errors = result.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = first.get("statusCode") or "UNKNOWN_ERROR"
    message = first.get("message") or "GM CRM rejected the event without a message"
    if first.get("fields"):
        message = f"{message} (fields: {', '.join(first['fields'])})"
    if code in LEAD_DELETED_RECORD_CODES:
        return Outcome.CANCELLED, code, message
    return (Outcome.RETRY if code in TRANSIENT_RECORD_CODES else Outcome.FAILED), code, message


def lead_deleted_reason(attempt: Attempt) -> str:
    """Why a lead's events were cancelled on GM's answer (kept on each of them)."""
    return (
        f"lead deleted at GM: GM answered {attempt.error_code} to event {attempt.outbox_id} "
        f"({attempt.trigger_code}); nothing more is sent for it"
    )


class Sender:
    """One send run (or lane) against one GM connection."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        client: GmClient | None,
        *,
        run: RunInfo | None = None,
        filters: SendFilters | None = None,
        dry_run: bool = False,
        lanes: int = 1,
        lane: int = 0,
        claim_size: int = 2000,
        lead_depth: int = graph.MAX_NODES,
        lease: timedelta | None = None,
        backoff_base: timedelta = timedelta(minutes=1),
        backoff_max: timedelta = timedelta(hours=1),
        worker: str | None = None,
    ) -> None:
        self.conn = conn
        self.client = client
        self.run = run or RunInfo()
        self.filters = filters or SendFilters()
        self.dry_run = dry_run
        self.lanes, self.lane = max(1, lanes), lane
        self.claim_size = claim_size
        # Events of one lead per claim: its graph must fit in one request.
        self.lead_depth = max(1, min(lead_depth, graph.MAX_NODES))
        # A claim holds while this session lives (any death frees it at once); the lease is the fallback.
        self.lease = lease if lease is not None else timedelta(seconds=settings.claim_lease_seconds())
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.worker = worker or f"{self.run.run_id or 'manual'}:{lane}:{uuid.uuid4().hex[:8]}"
        self.batch_size = client.mapping.event_batch_size if client else 200

    # -- the outbox, within this run's filters, lane and worker -----------------------------------

    def prepare(self, retry_failed: bool = False) -> int:
        """Cancel the events of leads known deleted at GM, requeue FAILED events (when asked) and
        refresh BLOCKED; return how many were requeued. A dry run changes nothing."""
        if self.dry_run:
            return 0
        return outbox.prepare(self.conn, self.filters, retry_failed)

    def claim(self) -> list[int]:
        return outbox.claim(
            self.conn,
            self.filters,
            worker=self.worker,
            lease=self.lease,
            limit=self.claim_size,
            lanes=self.lanes,
            lane=self.lane,
            lead_depth=self.lead_depth,
        )

    def release(self, ids: Iterable[int]) -> None:
        outbox.release(self.conn, ids, self.worker)

    # -- the run --------------------------------------------------------------------------------

    def run_until_done(self, max_rounds: int | None = None) -> SendReport:
        """Claim, send and record until nothing is sendable (or the daily limit stops us)."""
        started = time.perf_counter()
        report = SendReport()
        rounds = 0
        if not self.dry_run:
            outbox.watch_session(self.conn)
        while max_rounds is None or rounds < max_rounds:
            ids = self.claim()
            if not ids:
                break
            rounds += 1
            if not self._send_claimed(ids, report):
                break
            if self.dry_run:
                break  # a dry run shows one round of payloads; nothing moves, so more rounds repeat it
        if self.client is not None:
            report.api_calls = self.client.stats.calls
            report.api_remaining = self.client.stats.api_remaining
        if not self.dry_run:
            outbox.block_behind_failed(self.conn)
        report.seconds = time.perf_counter() - started
        return report

    def _send_claimed(self, ids: list[int], report: SendReport) -> bool:
        """Send one claim's events; False when the run must stop (daily limit)."""
        # Its own short transaction: on the DAG's connection (autocommit off) a bare read would open
        # one that turns every later transaction into a savepoint of a single run-long transaction.
        with self.conn.transaction():
            built = build_events(self.conn, ids, self.client.mapping if self.client else None)
        sendable: list[Sendable] = []
        early: list[Attempt] = []
        for item in built:
            attempt = Attempt(
                outbox_id=item.outbox_id,
                dealer_code=item.dealer_code,
                lead_id=item.lead_id,
                trigger_code=item.trigger_code,
                outcome=UNDECIDED,
            )
            if item.error is not None:
                attempt.outcome, attempt.error_code, attempt.error_message = Outcome.FAILED, item.error_code, item.error
                early.append(attempt)
                continue
            assert item.record is not None and item.logical is not None
            attempt.stage = item.logical.get("stage")
            attempt.substage = item.logical.get("substage")
            attempt.communication = item.logical.get("communication")
            attempt.request_body = item.record
            sendable.append((attempt, item.record))
        if self.dry_run:
            # Only the send log learns of a dry run: each event's payload, or why it could not be built.
            for attempt in early:
                attempt.outcome = Outcome.DRY_RUN
            for attempt, record in sendable:
                attempt.outcome = Outcome.DRY_RUN
                log.info("dry run: %s %s %s", attempt.dealer_code, attempt.trigger_code, json.dumps(record))
            self._record([*early, *(a for a, _ in sendable)], report)
            return True
        if early:
            self._record(early, report)
        # A full claim (more wait behind it) may give part-filled collections back, to fill up next time.
        calls, back = graph.plan(
            self._lead_prefixes(sendable, early), self.batch_size, full=len(ids) >= self.claim_size
        )
        self.release(a.outbox_id for a, _ in back)
        held: set[str] = set()  # leads with an event of this claim that did not go: their later ones wait
        for n, call in enumerate(calls):
            if call.kind == "collection":
                batch = call.items[0]
                if call.level > 0:  # a level plan: a lead's later event only behind its earlier ones
                    self.release(a.outbox_id for a, _ in batch if a.lead_id in held)
                    batch = [item for item in batch if item[0].lead_id not in held]
                keep_going = self._send_batch(batch, report) if batch else True
                held.update(a.lead_id for a, _ in batch if a.outcome != Outcome.SENT)
            else:
                keep_going = self._send_graphs(call.items, report)
            if not keep_going:
                self.release(a.outbox_id for later in calls[n + 1 :] for g in later.items for a, _ in g)
                return False
        return True

    def _lead_prefixes(self, sendable: list[Sendable], early: list[Attempt]) -> list[list[Sendable]]:
        """The claimed events per lead, in order, up to the first whose payload could not be built (it
        is FAILED: the ones behind it are released, to wait BLOCKED behind it)."""
        failed_at: dict[str, int] = {}
        for a in early:
            failed_at.setdefault(a.lead_id, a.outbox_id)
        leads: dict[str, list[Sendable]] = {}
        behind: list[int] = []
        for item in sendable:
            attempt = item[0]
            stop = failed_at.get(attempt.lead_id)
            if stop is not None and attempt.outbox_id > stop:
                behind.append(attempt.outbox_id)
            else:
                leads.setdefault(attempt.lead_id, []).append(item)
        self.release(behind)
        return list(leads.values())

    def _send_batch(self, batch: list[Sendable], report: SendReport) -> bool:
        """One collection of events of different leads; each record answered on its own."""
        assert self.client is not None
        attempts = [a for a, _ in batch]
        client = self.client
        results = self._call(attempts, report, lambda: client.upsert_events([r for _, r in batch]))
        if results is not None:
            for attempt, result in zip(attempts, results, strict=True):
                attempt.status_code = 200
                attempt.response_body = result
                attempt.outcome, attempt.error_code, attempt.error_message = classify(result)
        self._record(attempts, report)
        return not report.stopped

    def _send_graphs(self, graphs: list[list[Sendable]], report: SendReport) -> bool:
        """One composite graph request, one graph per lead. A graph is all or nothing at GM: when one of
        its events fails, it is classified as in a collection, and the lead's other events in the graph
        (rolled back, or never run) are ROLLED_BACK: unchanged, sent again by the next claim, the later ones
        only once the failed one is sorted out (retried after its backoff, or BLOCKED behind it)."""
        assert self.client is not None
        attempts = [a for g in graphs for a, _ in g]
        client = self.client
        answer = self._call(attempts, report, lambda: client.upsert_event_graphs([[r for _, r in g] for g in graphs]))
        if answer is not None:
            for g, results in zip(graphs, answer, strict=True):
                failed = next(
                    (a for (a, _), r in zip(g, results, strict=True) if not r["success"] and not halted(r)), None
                )
                for (attempt, _), result in zip(g, results, strict=True):
                    attempt.status_code = 200
                    attempt.response_body = result
                    if halted(result):
                        why = f"event {failed.outbox_id} ({failed.trigger_code}) failed" if failed else "GM halted it"
                        attempt.outcome, attempt.error_code = Outcome.ROLLED_BACK, graph.ROLLED_BACK
                        attempt.error_message = f"not applied: its lead's graph was rolled back because {why}"
                    else:
                        attempt.outcome, attempt.error_code, attempt.error_message = classify(result)
        self._record(attempts, report)
        return not report.stopped

    def _call(self, attempts: list[Attempt], report: SendReport, fn: Callable[[], T]) -> T | None:
        """The call's answer; None when the whole call failed (its attempts' outcomes set here)."""
        try:
            return fn()
        except GmStop as exc:  # the daily limit, a session refused again: pending, nothing failed
            self._all(attempts, Outcome.DEFERRED, exc.status, exc.error_code, str(exc))
            report.stopped = f"{exc.reason}: everything left pending for the next cycle"
        except GmTransientError as exc:
            self._all(attempts, Outcome.RETRY, None, "TRANSIENT", str(exc))
        except GmRequestError as exc:
            self._all(attempts, Outcome.FAILED, exc.status, "REQUEST_REJECTED", str(exc), exc.content)
        return None

    @staticmethod
    def _all(
        attempts: list[Attempt],
        outcome: str,
        status: int | None,
        code: str,
        message: str,
        body: Any = None,
    ) -> None:
        for a in attempts:
            a.outcome, a.status_code, a.error_code, a.error_message, a.response_body = (
                outcome,
                status,
                code,
                message,
                body,
            )

    def _log_row(self, a: Attempt) -> tuple[Any, ...]:
        """The ``gmcrm.send_log`` row of one attempt, in :data:`SEND_LOG_COLUMNS` order."""
        return (
            a.outbox_id,
            a.dealer_code,
            a.lead_id,
            a.trigger_code,
            a.stage,
            a.substage,
            a.communication,
            json.dumps(a.request_body) if a.request_body is not None else None,
            a.status_code,
            json.dumps(a.response_body, default=str) if a.response_body is not None else None,
            str(a.outcome),
            a.error_code,
            a.error_message,
            self.run.dag_id,
            self.run.run_id,
            self.run.try_number,
        )

    def _record(self, attempts: list[Attempt], report: SendReport) -> None:
        """The send log rows and the outbox outcomes of one batch, in one transaction."""
        if not attempts:
            return
        with self.conn.transaction():
            with self.conn.cursor() as cur:
                with cur.copy(f"COPY gmcrm.send_log ({', '.join(SEND_LOG_COLUMNS)}) FROM STDIN") as copy:
                    for a in attempts:
                        copy.write_row(self._log_row(a))
                outbox.record_outcomes(
                    cur,
                    worker=self.worker,
                    outcomes=[(a.outbox_id, a.outcome, a.error_code, a.error_message) for a in attempts],
                    backoff_base=self.backoff_base,
                    backoff_max=self.backoff_max,
                )
                gone = [(a.lead_id, lead_deleted_reason(a)) for a in attempts if a.outcome == Outcome.CANCELLED]
                if gone:
                    outbox.cancel_leads(cur, gone)
        for a in attempts:
            report.add(a)
            if a.outcome == Outcome.FAILED:
                log.warning(
                    "event %s (%s, %s) failed: %s %s",
                    a.outbox_id,
                    a.trigger_code,
                    a.dealer_code,
                    a.error_code,
                    a.error_message,
                )
            elif a.outcome == Outcome.CANCELLED:
                log.info(
                    "event %s (%s, %s): the lead is deleted at GM (%s); its unsent events are cancelled",
                    a.outbox_id,
                    a.trigger_code,
                    a.dealer_code,
                    a.error_code,
                )
