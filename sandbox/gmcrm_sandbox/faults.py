"""Injected faults: what the sandbox does wrong on purpose, for the next N matching calls or records.

Kinds kept here (consumed one match at a time):

- ``status``: the next ``count`` matching calls answer ``status`` (``html`` → an HTML body, as a 503 from
  Salesforce's edge; otherwise a JSON array error body);
- ``latency``: the next ``count`` matching calls sleep ``seconds`` before answering (and are then processed
  normally: a client that timed out does not know whether its write landed, as with the real org);
- ``record_error``: per record of collection upserts, either the next ``count`` records or, with
  ``dms_event_ids``, those records (each ``count`` times), fail with ``status_code``;
- ``drop``: the next ``count`` matching calls get no answer at all: the server closes the connection
  (a reset, as a load balancer or a network cut does). ``when`` says whether GM had applied the call:
  ``"before"`` (nothing done, no API usage) or ``"after"`` (the call was processed in full, the upserts
  saved, and only the answer is lost: the client cannot tell the two apart);
- ``refuse_sessions``: every session issued so far expires at once, and the next ``count`` sign-ins
  get a token that the REST API refuses (401 ``INVALID_SESSION_ID``) from its first use: a session
  refused again right after signing in again, as when the integration user is frozen or its
  connected app's policy changes mid-cycle.

``expire_sessions`` and ``daily_limit`` are one-off actions on the org's state, not kept here.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Call kinds counted by the org (``/__admin__/calls``), and the groups ``applies_to`` may name.
CALL_KINDS: Final[tuple[str, ...]] = (
    "token",
    "query",
    "query_more",
    "query_all",
    "sobject_get",
    "collection_upsert",
    "composite_graph",
    "limits",
    "other",
)
APPLIES_TO: Final[dict[str, frozenset[str]]] = {
    # Any single kind may be named ("query_more", "limits", ...); the groups below come after, so that
    # "query" means every query kind, not just the first page.
    **{kind: frozenset({kind}) for kind in CALL_KINDS},
    "any": frozenset(CALL_KINDS),
    "rest": frozenset(CALL_KINDS) - {"token"},
    "query": frozenset({"query", "query_more", "query_all"}),
    # The event writes, whichever way they go: collections and composite graphs.
    "collection": frozenset({"collection_upsert", "composite_graph"}),
    "token": frozenset({"token"}),
}

# Default JSON error bodies of injected statuses, by status: (errorCode, message).
STATUS_ERRORS: Final[dict[int, tuple[str, str]]] = {
    400: ("MALFORMED_QUERY", "Injected fault"),
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    404: ("NOT_FOUND", "The requested resource does not exist"),
    500: ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support."),
    502: ("SERVER_UNAVAILABLE", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "Server unavailable"),
    504: ("SERVER_UNAVAILABLE", "Gateway timeout"),
}
# Messages of per-record errors that tests inject, by statusCode.
RECORD_ERROR_MESSAGES: Final[dict[str, str]] = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
    "REQUEST_RUNNING_TOO_LONG": "Your request was running for too long, and has been stopped.",
    "UNKNOWN_EXCEPTION": "An unexpected error occurred.",
}

SERVICE_UNAVAILABLE_HTML: Final = (
    "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head><body>"
    "<h1>Service Unavailable</h1><p>The server is temporarily unable to service your request due to "
    "maintenance downtime or capacity problems. Please try again later.</p></body></html>\n"
)


class FaultSpecError(ValueError):
    """An injected fault that does not make sense; the admin API answers 400."""


@dataclass(slots=True)
class Fault:
    id: int
    kind: str
    remaining: int
    applies_to: str = "any"
    status: int = 503
    html: bool = False
    error_code: str | None = None
    message: str | None = None
    seconds: float = 0.0
    status_code: str = "UNABLE_TO_LOCK_ROW"
    # drop: "before" (GM did nothing) or "after" (GM applied the call, the answer is lost).
    when: str = "before"
    # dms_event_id -> remaining failures for that record (record_error with an id list).
    per_record: dict[str, int] | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "remaining": self.remaining}
        if self.kind == "status":
            out |= {"applies_to": self.applies_to, "status": self.status, "html": self.html}
        elif self.kind == "latency":
            out |= {"applies_to": self.applies_to, "seconds": self.seconds}
        elif self.kind == "drop":
            out |= {"applies_to": self.applies_to, "when": self.when}
        elif self.kind == "refuse_sessions":
            pass
        else:
            out |= {"status_code": self.status_code}
            if self.per_record is not None:
                out["dms_event_ids"] = dict(self.per_record)
        return out


@dataclass(slots=True)
class FaultBook:
    """The active faults, consumed one match at a time. Thread-safe."""

    faults: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spec: Mapping[str, Any]) -> Fault:
        """Validate and keep a ``status``, ``latency``, ``record_error``, ``drop`` or ``refuse_sessions`` fault
        (``FaultSpecError`` if bad)."""
        fault = self._build(spec)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _build(self, spec: Mapping[str, Any]) -> Fault:
        kind = spec.get("kind")
        count = _positive_int(spec.get("count", 1), "count")
        if kind == "refuse_sessions":
            return Fault(next(self._ids), "refuse_sessions", count)
        if kind in ("status", "latency", "drop"):
            applies_to = str(spec.get("applies_to", "any"))
            if applies_to not in APPLIES_TO:
                raise FaultSpecError(f"applies_to must be one of {sorted(APPLIES_TO)}")
            if kind == "drop":
                when = spec.get("when", "before")
                if when not in ("before", "after"):
                    raise FaultSpecError('when must be "before" or "after"')
                return Fault(next(self._ids), "drop", count, applies_to=applies_to, when=str(when))
            if kind == "status":
                status = spec.get("status", 503)
                if not isinstance(status, int) or not 400 <= status <= 599:
                    raise FaultSpecError("status must be an HTTP error status (400-599)")
                fault = Fault(
                    next(self._ids),
                    "status",
                    count,
                    applies_to=applies_to,
                    status=status,
                    html=bool(spec.get("html", False)),
                    error_code=_opt_str(spec.get("error_code")),
                    message=_opt_str(spec.get("message")),
                )
            else:
                seconds = spec.get("seconds")
                if not isinstance(seconds, int | float) or seconds <= 0 or seconds > 600:
                    raise FaultSpecError("seconds must be a number in (0, 600]")
                fault = Fault(next(self._ids), "latency", count, applies_to=applies_to, seconds=float(seconds))
        elif kind == "record_error":
            status_code = str(spec.get("status_code", "UNABLE_TO_LOCK_ROW"))
            ids = spec.get("dms_event_ids")
            per_record: dict[str, int] | None = None
            if ids is not None:
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
                    raise FaultSpecError("dms_event_ids must be a non-empty list of strings")
                per_record = dict.fromkeys(ids, count)
            fault = Fault(
                next(self._ids),
                "record_error",
                count if per_record is None else sum(per_record.values()),
                status_code=status_code,
                message=_opt_str(spec.get("message")),
                per_record=per_record,
            )
        else:
            raise FaultSpecError(
                "kind must be one of status, latency, record_error, drop, refuse_sessions, expire_sessions, daily_limit"
            )
        return fault

    def take(self, kind: str, call_kind: str) -> Fault | None:
        """Consume one use of the first ``kind`` fault (status or latency) that applies to ``call_kind``."""
        with self._lock:
            if not self.faults:
                return None
            for fault in self.faults:
                if fault.kind == kind and call_kind in APPLIES_TO[fault.applies_to]:
                    self._use(fault)
                    return fault
        return None

    def take_drop(self, call_kind: str, when: str) -> bool:
        """Consume one use of the first ``drop`` fault for ``call_kind`` at this point (before/after)."""
        with self._lock:
            for fault in self.faults:
                if fault.kind == "drop" and fault.when == when and call_kind in APPLIES_TO[fault.applies_to]:
                    self._use(fault)
                    return True
        return False

    def take_refused_sign_in(self) -> bool:
        """True when the sign-in being answered must get a token that is refused on use (one use)."""
        with self._lock:
            for fault in self.faults:
                if fault.kind == "refuse_sessions":
                    self._use(fault)
                    return True
        return False

    def take_record_error(self, dms_event_id: str | None) -> tuple[str, str] | None:
        """(statusCode, message) when this record must fail, consuming one use."""
        with self._lock:
            for fault in self.faults:
                if fault.kind != "record_error":
                    continue
                if fault.per_record is not None:
                    left = fault.per_record.get(dms_event_id or "", 0)
                    if left <= 0:
                        continue
                    fault.per_record[dms_event_id or ""] = left - 1
                self._use(fault)
                message = fault.message or RECORD_ERROR_MESSAGES.get(fault.status_code, "Injected record error")
                return fault.status_code, message
        return None

    def _use(self, fault: Fault) -> None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            self.faults.remove(fault)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self.faults]

    def clear(self) -> int:
        """Drop every fault; how many there were."""
        with self._lock:
            n = len(self.faults)
            self.faults.clear()
            return n


def _positive_int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FaultSpecError(f"{name} must be a positive integer")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
