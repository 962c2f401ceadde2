"""Sending trigger events to GM: claim, build, send in collection batches, record every attempt.

- Claims are leases taken with ``FOR UPDATE SKIP LOCKED``: two runs (or lanes) at once never send
  one event twice, and a run that dies mid-send leaves a claim that simply expires.
- Per lead only the earliest unsent event is claimable, so events reach GM in order; behind a
  ``FAILED`` one the later events are ``BLOCKED`` until it is retried or skipped.
- Up to 200 events of any leads and dealerships go in one sObject Collections upsert on
  ``DMS_Event_Id__c``; a resend is harmless, so the effect at GM is exactly once.
- Every per-record result is classified: sent, transient (retry with exponential backoff),
  permanent (``FAILED`` with GM's code and message), or the lead deleted at GM (``CANCELLED``: that
  event and every unsent one of its lead, with the reason; a final status, no failure, blocking
  nothing); the daily limit stops the run and leaves everything pending. Every attempt writes one
  ``gmcrm.send_log`` row.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from gmcrm.gm_client import GmClient, GmRequestError, GmStop, GmTransientError
from gmcrm.gm_mapping import GmMapping, load_mapping
from gmcrm.logs import get_logger
from gmcrm.paths import named_queries
from gmcrm.triggers.catalogue import (
    TriggerCatalogue,
    TriggerPayloadError,
    build_event,
    fetch_outbox_events,
    load_catalogue,
)

log = get_logger(__name__)

TRANSIENT_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"})
#: GM's per-record answers meaning the lead is gone for good: its events are cancelled, not failed.
#: (INVALID_CROSS_REFERENCE_KEY, an unknown Lead__c, stays FAILED: it is also what a dealership
#: pointed at the wrong GM org gets, and cancelling would then throw its events away.)
LEAD_DELETED_RECORD_CODES = frozenset({"ENTITY_IS_DELETED"})

#: Every status of an outbox row (migration 0010's CHECK). SENT, SKIPPED and CANCELLED are final.
OUTBOX_STATUSES = ("PENDING", "RETRY", "FAILED", "BLOCKED", "SENT", "SKIPPED", "CANCELLED")

SEND_LOG_COLUMNS = [
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
]


@dataclass
class BuiltEvent:
    """One claimed outbox row: its GM record, or why it cannot be sent as it stands."""

    outbox_id: int
    dealer_code: str
    lead_id: str
    trigger_code: str
    logical: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    error_code: str | None = None
    error: str | None = None


def build_events(
    conn: psycopg.Connection[Any],
    ids: list[int],
    mapping: GmMapping | None = None,
    catalogue: TriggerCatalogue | None = None,
) -> list[BuiltEvent]:
    """Read the references as they are now (a reason mapped since is picked up) and build payloads."""
    mapping = mapping or load_mapping()
    catalogue = catalogue or load_catalogue()
    built: list[BuiltEvent] = []
    for event in fetch_outbox_events(conn, ids):
        item = BuiltEvent(event.outbox_id, event.dealer_code, event.lead_id, event.trigger_code)
        try:
            item.logical = build_event(event, catalogue)
            item.record = mapping.event_record(item.logical)
        except TriggerPayloadError as exc:
            item.error_code = exc.error_code
            item.error = str(exc)
        built.append(item)
    return built


@dataclass(frozen=True)
class SendFilters:
    """Which events a run may touch (the send DAG's params)."""

    dealer_codes: list[str] | None = None
    lead_id: str | None = None
    trigger_codes: list[str] | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    outbox_ids: list[int] | None = None

    def params(self) -> dict[str, Any]:
        return {
            "outbox_ids": self.outbox_ids or None,
            "dealer_codes": self.dealer_codes or None,
            "lead_id": self.lead_id or None,
            "trigger_codes": [c.upper() for c in self.trigger_codes] if self.trigger_codes else None,
            "occurred_from": self.occurred_from,
            "occurred_to": self.occurred_to,
        }


@dataclass(frozen=True)
class RunInfo:
    """Where an attempt came from, for the send log and its link to the Airflow task log."""

    dag_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None


@dataclass
class Attempt:
    outbox_id: int
    dealer_code: str
    lead_id: str
    trigger_code: str
    outcome: str
    stage: str | None = None
    substage: str | None = None
    communication: str | None = None
    request_body: dict[str, Any] | None = None
    status_code: int | None = None
    response_body: Any = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class SendReport:
    per_dealer: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    api_calls: int = 0
    api_remaining: int | None = None
    stopped: str | None = None
    seconds: float = 0.0
    #: The attempts that failed for good in this report (what a person is alerted to).
    failed: list[Attempt] = field(default_factory=list)

    def add(self, attempt: Attempt) -> None:
        self.per_dealer[attempt.dealer_code][attempt.outcome] += 1
        if attempt.outcome == "FAILED":
            self.failed.append(attempt)

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.per_dealer.values():
            total.update(counts)
        return total

    def lines(self) -> list[str]:
        """One readable line per dealership: its own outcomes (counts only: no personal data). The API
        calls are the GM connection's, shared by its dealerships: see :meth:`connection_line`."""
        return [f"{dealer}: {_outcomes(counts)}" for dealer, counts in sorted(self.per_dealer.items())]

    def connection_line(self, conn_id: str) -> str:
        """The GM connection's line: what it sent for how many dealerships, the time, its API calls."""
        totals = self.totals()
        what = f"{_outcomes(totals)} for {len(self.per_dealer)} dealerships" if totals else "nothing to send"
        left = f" ({self.api_remaining} left today)" if self.api_remaining is not None else ""
        return f"GM connection {conn_id}: {what} in {self.seconds:.1f}s; {self.api_calls} API calls{left}"


def _outcomes(counts: Counter[str]) -> str:
    """``3 sent, 1 failed``, in a fixed order (the usual outcome first)."""
    order = {"SENT": 0, "RETRY": 1, "FAILED": 2, "CANCELLED": 3}
    ranked = sorted(counts.items(), key=lambda item: (order.get(item[0], 9), item[0]))
    return ", ".join(f"{n} {outcome.lower().replace('_', ' ')}" for outcome, n in ranked if n)


def classify(result: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(outcome, error_code, error_message) of one collection result."""
    if result.get("success"):
        return "SENT", None, None
    errors = result.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = first.get("statusCode") or "UNKNOWN_ERROR"
    message = first.get("message") or "GM CRM rejected the event without a message"
    if first.get("fields"):
        message = f"{message} (fields: {', '.join(first['fields'])})"
    if code in LEAD_DELETED_RECORD_CODES:
        return "CANCELLED", code, message
    return ("RETRY" if code in TRANSIENT_RECORD_CODES else "FAILED"), code, message


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
        lease: timedelta = timedelta(minutes=10),
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
        self.lease = lease
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.worker = worker or f"{self.run.run_id or 'manual'}:{lane}:{uuid.uuid4().hex[:8]}"
        self.q = named_queries("send")
        self.batch_size = client.mapping.event_batch_size if client else 200

    # -- queue maintenance ----------------------------------------------------------------------

    def prepare(self, retry_failed: bool = False) -> int:
        """Cancel the events of leads known deleted at GM, requeue FAILED events (when asked) and
        refresh BLOCKED; return how many were requeued. A dry run changes nothing."""
        if self.dry_run:
            return 0
        requeued = 0
        with self.conn.transaction():
            cancelled = self.conn.execute(self.q["cancel_deleted"]).rowcount
            if cancelled > 0:
                log.info("cancelled %d events of leads deleted at GM", cancelled)
            if retry_failed:
                requeued = self.conn.execute(self.q["retry_failed"], self.filters.params()).rowcount
            self.conn.execute(self.q["unblock"])
            self.conn.execute(self.q["block_behind_failed"])
        return max(requeued, 0)

    def claim(self) -> list[int]:
        params = {
            **self.filters.params(),
            "lanes": self.lanes,
            "lane": self.lane,
            "limit": self.claim_size,
            "worker": self.worker,
            "lease": self.lease,
        }
        with self.conn.transaction():
            return [r[0] for r in self.conn.execute(self.q["claim"], params).fetchall()]

    def release(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            with self.conn.transaction():
                self.conn.execute(self.q["release"], {"ids": ids, "worker": self.worker})

    # -- the run --------------------------------------------------------------------------------

    def run_until_done(self, max_rounds: int | None = None) -> SendReport:
        """Claim, send and record until nothing is sendable (or the daily limit stops us)."""
        started = time.perf_counter()
        report = SendReport()
        rounds = 0
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
            with self.conn.transaction():
                self.conn.execute(self.q["block_behind_failed"])
        report.seconds = time.perf_counter() - started
        return report

    def _send_claimed(self, ids: list[int], report: SendReport) -> bool:
        """Send one claim's events; False when the run must stop (daily limit)."""
        # Its own short transaction: on the DAG's connection (autocommit off) a bare read would open
        # one that turns every later transaction into a savepoint of a single run-long transaction.
        with self.conn.transaction():
            built = build_events(self.conn, ids, self.client.mapping if self.client else None)
        sendable: list[tuple[Attempt, dict[str, Any]]] = []
        early: list[Attempt] = []
        for item in built:
            attempt = Attempt(
                outbox_id=item.outbox_id,
                dealer_code=item.dealer_code,
                lead_id=item.lead_id,
                trigger_code=item.trigger_code,
                outcome="PENDING",
            )
            if item.error is not None:
                attempt.outcome, attempt.error_code, attempt.error_message = "FAILED", item.error_code, item.error
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
                attempt.outcome = "DRY_RUN"
            for attempt, record in sendable:
                attempt.outcome = "DRY_RUN"
                log.info("dry run: %s %s %s", attempt.dealer_code, attempt.trigger_code, json.dumps(record))
            self._record([*early, *(a for a, _ in sendable)], report)
            return True
        if early:
            self._record(early, report)
        for start in range(0, len(sendable), self.batch_size):
            batch = sendable[start : start + self.batch_size]
            if not self._send_batch(batch, report):
                self.release(a.outbox_id for a, _ in sendable[start + self.batch_size :])
                return False
        return True

    def _send_batch(self, batch: list[tuple[Attempt, dict[str, Any]]], report: SendReport) -> bool:
        assert self.client is not None
        attempts = [a for a, _ in batch]
        keep_going = True
        try:
            results = self.client.upsert_events([r for _, r in batch])
        except GmStop as exc:  # the daily limit, a session refused again: pending, nothing failed
            self._all(attempts, "DEFERRED", exc.status, exc.error_code, str(exc))
            report.stopped = f"{exc.reason}: everything left pending for the next cycle"
            keep_going = False
        except GmTransientError as exc:
            self._all(attempts, "RETRY", None, "TRANSIENT", str(exc))
        except GmRequestError as exc:
            self._all(attempts, "FAILED", exc.status, "REQUEST_REJECTED", str(exc), exc.content)
        else:
            for attempt, result in zip(attempts, results, strict=True):
                attempt.status_code = 200
                attempt.response_body = result
                attempt.outcome, attempt.error_code, attempt.error_message = classify(result)
        self._record(attempts, report)
        return keep_going

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

    def _record(self, attempts: list[Attempt], report: SendReport) -> None:
        """The send log rows and the outbox outcomes of one batch, in one transaction."""
        if not attempts:
            return
        params = {"worker": self.worker, "backoff_base": self.backoff_base, "backoff_max": self.backoff_max}
        with self.conn.transaction():
            with self.conn.cursor() as cur:
                with cur.copy(f"COPY gmcrm.send_log ({', '.join(SEND_LOG_COLUMNS)}) FROM STDIN") as copy:
                    for a in attempts:
                        copy.write_row(
                            (
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
                                a.outcome,
                                a.error_code,
                                a.error_message,
                                self.run.dag_id,
                                self.run.run_id,
                                self.run.try_number,
                            )
                        )
                cur.execute(
                    self.q["record_outcomes"],
                    {
                        **params,
                        "ids": [a.outbox_id for a in attempts],
                        "outcomes": [a.outcome for a in attempts],
                        "codes": [a.error_code for a in attempts],
                        "messages": [a.error_message for a in attempts],
                    },
                )
                gone = [a for a in attempts if a.outcome == "CANCELLED"]
                if gone:
                    cur.execute(
                        self.q["cancel_leads"],
                        {"lead_ids": [a.lead_id for a in gone], "reasons": [lead_deleted_reason(a) for a in gone]},
                    )
        for a in attempts:
            report.add(a)
            if a.outcome == "FAILED":
                log.warning(
                    "event %s (%s, %s) failed: %s %s",
                    a.outbox_id,
                    a.trigger_code,
                    a.dealer_code,
                    a.error_code,
                    a.error_message,
                )
            elif a.outcome == "CANCELLED":
                log.info(
                    "event %s (%s, %s): the lead is deleted at GM (%s); its unsent events are cancelled",
                    a.outbox_id,
                    a.trigger_code,
                    a.dealer_code,
                    a.error_code,
                )


def skip_event(conn: psycopg.Connection[Any], outbox_id: int, why: str) -> bool:
    """Mark a FAILED/BLOCKED/PENDING event SKIPPED (never sent); the ones behind it move on."""
    with conn.transaction():
        updated = conn.execute(
            "UPDATE gmcrm.trigger_outbox SET status = 'SKIPPED', skipped_reason = %s, claimed_by = NULL, "
            "claimed_until = NULL WHERE id = %s AND status IN ('FAILED', 'BLOCKED', 'PENDING', 'RETRY')",
            (why, outbox_id),
        ).rowcount
        conn.execute(named_queries("send")["unblock"])
    return updated == 1
