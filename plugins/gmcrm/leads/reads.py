"""How this cycle reads each dealership's leads, as SOQL: pure functions, no I/O.

Dealerships seen for the first time (or re-synced) read all their open leads; the others read from
their ``SystemModstamp`` watermark minus a lookback. One query serves up to ``max_dealers_per_query``
dealerships (chunked only to keep the URL under Salesforce's limit).

No echoes: every event the integration sends moves its lead at GM (GM applies it), so an incremental
read skips the leads whose last modifier is the integration's own user (``LastModifiedById NOT IN``):
they hold nothing the DMS does not know. A GM change made just before one of our events on the same
lead, both between two reads, is hidden by that filter (the lead's last modifier is then us): once a
day (``own_changes_check_hours``) each dealership's read also takes its leads last changed by the
integration since the previous such check, in the same query (more pages, no extra call), so such a
change loads late, never not at all. ``since`` and ``full_resync`` read everything, as before.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import urlencode

from simple_salesforce import format_soql

from gmcrm.gm_mapping import GmMapping
from gmcrm.leads.dealer_codes import odd_code_condition


@dataclass(frozen=True)
class ReadPlan:
    """Which dealerships read incrementally (and from when) and which read all open leads."""

    incremental: dict[str, datetime]
    full: list[str]
    #: GM users whose changes the incremental reads skip (the integration's own: echoes of our events).
    own_users: tuple[str, ...] = ()
    #: Incremental dealerships whose read this cycle also takes those users' changes since this time.
    own_changes_since: dict[str, datetime] = field(default_factory=dict)

    def checks_own_changes(self, code: str) -> bool:
        """Whether this read covers the integration's own changes of ``code`` up to now (so the next
        check may start from here): a full read, or an incremental one that takes them."""
        return bool(self.own_users) and (code in self.own_changes_since or code in self.full)


#: Salesforce refuses a URI longer than 16,384 characters (414); the query text is kept under this,
#: URL-encoded, leaving room for the instance URL and the resource path.
MAX_QUERY_CHARS: Final = 15_800


def plan_reads(
    dealer_codes: Iterable[str],
    watermarks: dict[str, datetime],
    lookback: timedelta,
    full_resync: bool = False,
    since: datetime | None = None,
    *,
    own_users: Sequence[str] = (),
    own_checked: dict[str, datetime | None] | None = None,
    check_every: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> ReadPlan:
    """Pure: decide how each dealership is read this cycle.

    With ``own_users``, incremental reads skip those users' changes, except for a dealership whose last
    check of them (``own_checked``, None: never) is ``check_every`` old: its read also takes them since
    that check, minus the lookback (never: since its watermark, which older reads covered unfiltered).
    ``since`` reads everything from that time, the integration's changes included.
    """
    incremental: dict[str, datetime] = {}
    full: list[str] = []
    for code in dealer_codes:
        if since is not None:
            incremental[code] = since
        elif full_resync or code not in watermarks:
            full.append(code)
        else:
            incremental[code] = watermarks[code] - lookback
    users = tuple(own_users) if since is None else ()
    checks: dict[str, datetime] = {}
    if users:
        checked = own_checked or {}
        at = now or datetime.now(UTC)
        for code, start in incremental.items():
            last = checked.get(code)
            if last is None:
                checks[code] = start
            elif own_check_due(code, last, at, check_every):
                checks[code] = min(last - lookback, start)
    return ReadPlan(incremental=incremental, full=sorted(full), own_users=users, own_changes_since=checks)


def own_check_due(code: str, last: datetime, now: datetime, every: timedelta) -> bool:
    """Pure: whether ``code``'s read takes the integration's own changes this cycle. Once per ``every``,
    at a time of its own (a phase from the dealer code), so that a thousand dealerships onboarded
    together do not all take a day of their changes in the same cycle; a check missed (no run then)
    happens at the next run."""
    period = int(every.total_seconds())
    if period <= 0:
        return True
    phase = zlib.crc32(code.encode()) % period
    latest_point = math.floor((now.timestamp() - phase) / period) * period + phase
    return last.timestamp() < latest_point


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def build_queries(plan: ReadPlan, mapping: GmMapping) -> list[tuple[str, list[str]]]:
    """Pure: (SOQL, dealer codes it covers) for a plan. Values are escaped by format_soql."""
    f = mapping.lead_fields
    select = f"SELECT {', '.join(f.values())} FROM {mapping.lead_object} WHERE "
    order = f" ORDER BY {f['modstamp']} ASC, {f['lead_id']} ASC"
    size = mapping.max_dealers_per_query
    queries: list[tuple[str, list[str]]] = []
    inc_codes = sorted(plan.incremental)
    # One query per chunk of dealerships; the incremental ones read from the earliest start among
    # them (loading a lead twice changes nothing), the full ones read every open lead.
    inc_chunks, full_chunks = _chunks(inc_codes, size), _chunks(plan.full, size)
    for i in range(max(len(inc_chunks), len(full_chunks))):
        clauses: list[str] = []
        covered: list[str] = []
        if i < len(inc_chunks):
            covered += inc_chunks[i]
            clauses += _incremental_clauses(plan, mapping, inc_chunks[i])
        if i < len(full_chunks):
            covered += full_chunks[i]
            clauses.append(
                format_soql(
                    f"({f['dealer_code']} IN {{codes}} AND {f['stage']} NOT IN {{closed}} "
                    f"AND {f['is_deleted']} = false)",
                    codes=full_chunks[i],
                    closed=list(mapping.closed_stages),
                )
            )
        queries.append((select + " OR ".join(clauses) + order, covered))
    return _with_odd_codes(queries, plan, mapping, select, order)


def _stamp(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def _incremental_clauses(plan: ReadPlan, mapping: GmMapping, codes: list[str]) -> list[str]:
    """The incremental read of ``codes``: from the earliest start among them, skipping the integration's
    own changes, except for the dealerships whose check of those is due (see :func:`plan_reads`)."""
    f = mapping.lead_fields
    code, stamp, by, deleted = f["dealer_code"], f["modstamp"], mapping.modified_by_field, f["is_deleted"]
    if not plan.own_users:
        start = _stamp(min(plan.incremental[c] for c in codes))
        return [format_soql(f"({code} IN {{codes}} AND {stamp} >= {{start}})", codes=codes, start=start)]
    clauses: list[str] = []
    skipping = [c for c in codes if c not in plan.own_changes_since]
    checking = [c for c in codes if c in plan.own_changes_since]
    if skipping:
        clauses.append(
            format_soql(
                # Deletions always: whoever GM records as the last modifier of a deleted lead.
                f"({code} IN {{codes}} AND {stamp} >= {{start}} AND ({by} NOT IN {{users}} OR {deleted} = true))",
                codes=skipping,
                start=_stamp(min(plan.incremental[c] for c in skipping)),
                users=list(plan.own_users),
            )
        )
    if checking:
        start = _stamp(min(plan.incremental[c] for c in checking))
        clauses.append(
            format_soql(
                f"({code} IN {{codes}} AND {stamp} >= {{own_since}} AND ({stamp} >= {{start}} OR {by} IN {{users}}))",
                codes=checking,
                own_since=min(start, _stamp(min(plan.own_changes_since[c] for c in checking))),
                start=start,
                users=list(plan.own_users),
            )
        )
    return clauses


def query_chars(soql: str) -> int:
    """The length of the query as it travels in the URL (``?q=...``, form-encoded)."""
    return len(urlencode({"q": soql}))


def _with_odd_codes(
    queries: list[tuple[str, list[str]]], plan: ReadPlan, mapping: GmMapping, select: str, order: str
) -> list[tuple[str, list[str]]]:
    """Ask once per extract for the records whose dealer code GM stores with a leading or trailing
    Unicode space (see :mod:`gmcrm.leads.dealer_codes`): added to the shortest query when the URL
    stays short enough, else as a query of its own (one call more, only then)."""
    if not queries:
        return queries
    f = mapping.lead_fields
    reads: list[str] = []
    if plan.incremental:
        start = min(plan.incremental.values()).astimezone(UTC).replace(microsecond=0)
        reads.append(format_soql(f"{f['modstamp']} >= {{start}}", start=start))
    if plan.full:
        reads.append(
            format_soql(
                f"({f['stage']} NOT IN {{closed}} AND {f['is_deleted']} = false)", closed=list(mapping.closed_stages)
            )
        )
    clause = f"({odd_code_condition(f['dealer_code'])} AND ({' OR '.join(reads)}))"
    shortest = min(range(len(queries)), key=lambda i: query_chars(queries[i][0]))
    soql, covered = queries[shortest]
    where = soql[len(select) : -len(order)]
    combined = f"{select}{where} OR {clause}{order}"
    out = list(queries)
    if query_chars(combined) <= MAX_QUERY_CHARS:
        out[shortest] = (combined, covered)
    else:
        out.append((select + clause + order, []))
    return out
