"""The outbox of GM trigger events (``gmcrm.trigger_outbox``): every statement that reads it or moves an
event between statuses, from ``include/sql/queries/outbox.sql``.

- Claims are taken with ``FOR UPDATE SKIP LOCKED``: two runs (or lanes) at once never claim one event
  twice. A claim names the PostgreSQL session that took it and holds only while that session lives
  (``gmcrm.claim_is_live``): a sender that dies mid-send (killed, its worker lost, its run failed) frees
  its claims as soon as PostgreSQL ends its session, not after the lease, which remains the fallback
  (``GMCRM_CLAIM_LEASE_SECONDS``) for a session that lingers.
- Per lead a claim takes its unsent events in order up to the first that cannot go now (a prefix), so
  events reach GM in order (one composite graph per lead); behind a ``FAILED`` one the later events are
  ``BLOCKED`` until it is retried or skipped.
The statuses and the moves between them: :mod:`gmcrm.send.report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Final

import psycopg
from psycopg import sql

from gmcrm.logs import get_logger
from gmcrm.paths import named_queries
from gmcrm.send.payload import OutboxEvent, ReasonRef, TradeInRef, VehicleRef

log = get_logger(__name__)


@cache
def queries() -> dict[str, str]:
    """The statements of ``outbox.sql`` by name (read once)."""
    return named_queries("outbox")


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


def prepare(conn: psycopg.Connection[Any], filters: SendFilters, retry_failed: bool = False) -> int:
    """Cancel the events of leads known deleted at GM, requeue FAILED events (when asked, within the
    filters) and refresh BLOCKED, in one transaction; return how many were requeued."""
    q = queries()
    requeued = 0
    with conn.transaction():
        cancelled = conn.execute(q["cancel_deleted"]).rowcount
        if cancelled > 0:
            log.info("cancelled %d events of leads deleted at GM", cancelled)
        if retry_failed:
            requeued = conn.execute(q["retry_failed"], filters.params()).rowcount
        conn.execute(q["unblock"])
        conn.execute(q["block_behind_failed"])
    return max(requeued, 0)


def block_behind_failed(conn: psycopg.Connection[Any]) -> None:
    """The later events of a lead whose event failed for good wait ``BLOCKED`` behind it."""
    with conn.transaction():
        conn.execute(queries()["block_behind_failed"])


#: Server-side TCP keepalives of a sender's session (seconds): when its worker vanishes without closing
#: the connection (a machine lost, a network cut), PostgreSQL ends the session after about
#: idle + interval x count, and with it the session's claims. They apply to TCP connections only (a
#: Unix socket closes with its process anyway).
KEEPALIVES: Final = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}


def watch_session(conn: psycopg.Connection[Any]) -> None:
    """Have PostgreSQL notice soon when this sender's peer is gone (see :data:`KEEPALIVES`)."""
    with conn.transaction():
        for name, value in KEEPALIVES.items():
            conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))


def claim(
    conn: psycopg.Connection[Any],
    filters: SendFilters,
    *,
    worker: str,
    lease: timedelta,
    limit: int,
    lanes: int = 1,
    lane: int = 0,
    lead_depth: int = 1,
) -> list[int]:
    """Claim up to ``limit`` sendable events of this lane for ``worker``, for ``lease``: per lead the first
    ``lead_depth`` of its unsent events, in order (a prefix: never one behind an event it did not get).
    Their ids."""
    params = {
        **filters.params(),
        "lanes": lanes,
        "lane": lane,
        "limit": limit,
        "worker": worker,
        "lease": lease,
        "lead_depth": lead_depth,
    }
    with conn.transaction():
        claim_plan_settings(conn)
        return [r[0] for r in conn.execute(queries()["claim"], params).fetchall()]


def claim_plan_settings(conn: psycopg.Connection[Any]) -> None:
    """The claim's plan, fixed for its transaction: candidates read in id order from the sendable index,
    stopping at ``limit``, whatever the statistics say.

    After a bulk load (an import's LIM/LAT events, a thousand dealerships' staff actions) the statistics
    lag: the planner, told ~1,000 sendable events where 200,000 wait, read them all, checked each one's
    earlier events and sorted them before the LIMIT (0.6 s per claim of 2,000 on a quiet machine, 4-8 s
    in the 1,000-dealership cycle; 40-120 ms with this). No sort can then be cheaper than the ordered
    index; JIT off because that sort's disabled cost would otherwise compile every claim (0.36 s). (Not
    hash joins off: the setting would reach the outbox's statement trigger, whose join of the old and new
    rows then took 0.35 s a claim; the query itself keeps its probes.)"""
    conn.execute("SET LOCAL enable_sort = off")
    conn.execute("SET LOCAL jit = off")


def release(conn: psycopg.Connection[Any], ids: Iterable[int], worker: str) -> None:
    """Give up ``worker``'s claims on ``ids`` (unsent), leaving the events as they were."""
    ids = list(ids)
    if ids:
        with conn.transaction():
            conn.execute(queries()["release"], {"ids": ids, "worker": worker})


def record_outcomes(
    cur: psycopg.Cursor[Any],
    *,
    worker: str,
    outcomes: Sequence[tuple[int, str, str | None, str | None]],
    backoff_base: timedelta,
    backoff_max: timedelta,
) -> None:
    """Apply one batch's ``(outbox_id, outcome, error_code, error_message)`` to the outbox (in the
    caller's transaction, with its send-log rows); the claims of ``worker`` go."""
    cur.execute(
        queries()["record_outcomes"],
        {
            "worker": worker,
            "backoff_base": backoff_base,
            "backoff_max": backoff_max,
            "ids": [o[0] for o in outcomes],
            "outcomes": [str(o[1]) for o in outcomes],
            "codes": [o[2] for o in outcomes],
            "messages": [o[3] for o in outcomes],
        },
    )


def cancel_leads(cur: psycopg.Cursor[Any], reasons: Sequence[tuple[str, str]]) -> None:
    """Every unsent event of each ``(lead_id, reason)``'s lead ends ``CANCELLED`` with the reason."""
    cur.execute(
        queries()["cancel_leads"],
        {"lead_ids": [lead for lead, _ in reasons], "reasons": [why for _, why in reasons]},
    )


def fetch_outbox_events(conn: psycopg.Connection[Any], outbox_ids: Sequence[int]) -> list[OutboxEvent]:
    """The outbox rows ``outbox_ids`` with their references as they are now, in outbox order."""
    rows = conn.execute(queries()["events_with_references"], {"ids": list(outbox_ids)}).fetchall()
    events: list[OutboxEvent] = []
    for row in rows:
        (oid, dealer, lead_id, lead_type, code, step, occurred_at, form_type,
         r_code, r_desc, r_type, gm_reason, model, trim, model_year, trade_in, salesperson, model_id) = row  # fmt: skip
        events.append(
            OutboxEvent(
                outbox_id=int(oid),
                dealer_code=dealer,
                lead_id=lead_id,
                lead_type=lead_type,
                trigger_code=code,
                occurred_at=occurred_at,
                step=int(step),
                contact_form_type=form_type,
                reason=None if r_code is None else ReasonRef(r_code, r_desc, r_type, gm_reason),
                vehicle=None if model_id is None else VehicleRef(model=model, trim=trim, model_year=model_year),
                trade_in=TradeInRef.from_json(trade_in),
                salesperson=salesperson,
            )
        )
    return events


def skip_event(conn: psycopg.Connection[Any], outbox_id: int, why: str) -> bool:
    """Mark a FAILED/BLOCKED/PENDING event SKIPPED (never sent); the ones behind it move on."""
    with conn.transaction():
        updated = conn.execute(queries()["skip"], {"why": why, "id": outbox_id}).rowcount
        conn.execute(queries()["unblock"])
    return updated == 1


@dataclass(frozen=True)
class OutboxRow:
    """One event as ``gmcrm events list`` shows it."""

    id: int
    dealer_code: str
    lead_id: str
    trigger_code: str
    status: str
    attempts: int
    occurred_at: datetime
    why: str


def list_events(
    conn: psycopg.Connection[Any],
    status: str,
    *,
    dealer_code: str | None = None,
    lead_id: str | None = None,
    limit: int = 50,
) -> list[OutboxRow]:
    """The events of one status (of one dealership, one lead), in outbox order, with why they wait."""
    params = {"status": status, "dealer_code": dealer_code, "lead_id": lead_id, "limit": limit}
    return [OutboxRow(*row) for row in conn.execute(queries()["list"], params).fetchall()]
