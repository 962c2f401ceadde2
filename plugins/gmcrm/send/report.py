"""What a send run reports: the outbox statuses and the moves between them, each attempt's outcome,
and the run's per-dealership and per-connection lines (counts only: no personal data).

Every outbox status is one :class:`OutboxStatus`; :data:`TRANSITIONS` writes down which statement moves
an event from one to another (``include/sql/queries/outbox.sql`` and the routines of migration 0010).
A *claim* is not a status: it is a hold (``claimed_by``, ``claimed_until``, and the claiming session's
``claimed_pid``/``claimed_backend_start``) on a ``PENDING`` or ``RETRY`` event that ends with its outcome,
a release, the claiming session ending (its sender died), or the lease running out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class OutboxStatus(StrEnum):
    """The status of a ``gmcrm.trigger_outbox`` row (the table's CHECK, migration 0010)."""

    PENDING = "PENDING"  # waiting to be claimed (once its lead's earlier events are done)
    RETRY = "RETRY"  # GM failed transiently: claimable again after its backoff (next_attempt_at)
    FAILED = "FAILED"  # GM refused it, or its payload cannot be built: waits for a person
    BLOCKED = "BLOCKED"  # a later event of a lead with a FAILED one: waits behind it
    SENT = "SENT"  # GM has it (final)
    SKIPPED = "SKIPPED"  # a person gave up on it (final; skipped_reason)
    CANCELLED = "CANCELLED"  # its lead is deleted at GM or closed in the DMS (final; cancelled_reason)


#: Statuses no statement moves an event out of.
FINAL_STATUSES: Final = frozenset({OutboxStatus.SENT, OutboxStatus.SKIPPED, OutboxStatus.CANCELLED})

_S = OutboxStatus
#: The allowed moves, each with what makes it (statement names of outbox.sql; routines of 0010).
TRANSITIONS: Final[dict[tuple[OutboxStatus, OutboxStatus], str]] = {
    **{
        (waiting, to): why
        for waiting in (_S.PENDING, _S.RETRY)
        for to, why in (
            (_S.SENT, "record_outcomes: GM accepted it"),
            (_S.RETRY, "record_outcomes: a transient error, with exponential backoff"),
            (_S.FAILED, "record_outcomes: GM refused it, or its payload cannot be built"),
            (_S.BLOCKED, "block_behind_failed: an earlier event of its lead is FAILED"),
            (_S.SKIPPED, "skip: `gmcrm events skip`"),
            (_S.CANCELLED, "cancel_deleted / cancel_leads / the lead's close: the lead is gone"),
        )
    },
    (_S.FAILED, _S.PENDING): "retry_failed: a run with retry_failed, `gmcrm events retry`",
    (_S.FAILED, _S.SKIPPED): "skip: `gmcrm events skip`",
    (_S.FAILED, _S.CANCELLED): "cancel_leads / the lead's close: the lead is gone",
    (_S.BLOCKED, _S.PENDING): "unblock: the FAILED event before it was retried or skipped",
    (_S.BLOCKED, _S.SKIPPED): "skip: `gmcrm events skip`",
    (_S.BLOCKED, _S.CANCELLED): "cancel_leads / the lead's close: the lead is gone",
}


def can_move(from_status: str, to_status: str) -> bool:
    """Whether :data:`TRANSITIONS` allows an event to go from one status to another."""
    return (OutboxStatus(from_status), OutboxStatus(to_status)) in TRANSITIONS


class Outcome(StrEnum):
    """The outcome of one attempt (``gmcrm.send_log.outcome``), and what it does to the outbox row."""

    SENT = "SENT"  # -> SENT
    RETRY = "RETRY"  # -> RETRY, with backoff
    FAILED = "FAILED"  # -> FAILED (the later events of its lead -> BLOCKED)
    CANCELLED = "CANCELLED"  # GM says the lead is deleted: it and its lead's unsent events -> CANCELLED
    DEFERRED = "DEFERRED"  # the daily limit or a refused session stopped the run: unchanged, unclaimed
    DRY_RUN = "DRY_RUN"  # a dry run: unchanged, unclaimed; only the send log learns of it
    # In a lead's composite graph that GM rolled back because another of its events failed: unchanged,
    # unclaimed; sent again by the next claim (the later ones once the failed one is sorted out).
    ROLLED_BACK = "ROLLED_BACK"


#: Before its outcome is known, an attempt is pending.
UNDECIDED: Final = "PENDING"


@dataclass(frozen=True)
class RunInfo:
    """Where an attempt came from, for the send log and its link to the Airflow task log."""

    dag_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None


@dataclass
class Attempt:
    """One try at sending one event: what was sent, what GM answered, and its :class:`Outcome`."""

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
        self.per_dealer[attempt.dealer_code][str(attempt.outcome)] += 1
        if attempt.outcome == Outcome.FAILED:
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
