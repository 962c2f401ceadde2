"""The send benchmark's depth section (``bench_send.py``, issue 12): calls per event for a shallow queue
(one event per lead) and a deep one (40 per lead) of the same number of events, their ratio (target:
deep within 1.2x of shallow), and the claim statement's cost before and after issue 12 on both queues.

Setup (not timed): two fresh DMS databases; the shallow one with one pending LIM on each of ``events``
leads, the deep one with a LIM and then ``depth - 1`` LATs on each of ``events / depth`` other leads,
inserted interleaved across leads as a DMS records them (every lead's first, then every lead's second...).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg

from gmcrm.send import outbox

#: The claim statement before issue 12 (per lead only the earliest unsent event; a fixed lease), kept
#: here to measure the new one against on the same outbox.
CLAIM_BEFORE = """
WITH candidates AS (
    SELECT o.id
    FROM gmcrm.trigger_outbox o
    JOIN gmcrm.dealership d ON d.dealer_code = o.dealer_code AND d.integration_enabled
    WHERE o.status IN ('PENDING', 'RETRY')
      AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
      AND (%(dealer_codes)s::text[] IS NULL OR o.dealer_code = ANY(%(dealer_codes)s::text[]))
      AND (%(lead_id)s::text IS NULL OR o.lead_id = %(lead_id)s::text)
      AND (%(trigger_codes)s::text[] IS NULL OR o.trigger_code = ANY(%(trigger_codes)s::text[]))
      AND (%(occurred_from)s::timestamptz IS NULL OR o.occurred_at >= %(occurred_from)s::timestamptz)
      AND (%(occurred_to)s::timestamptz IS NULL OR o.occurred_at < %(occurred_to)s::timestamptz)
      AND (%(lanes)s::int = 1 OR gmcrm.lead_hash(o.lead_id) %% %(lanes)s::int = %(lane)s::int)
      AND NOT EXISTS (
          SELECT 1 FROM gmcrm.trigger_outbox e
          WHERE e.lead_id = o.lead_id AND e.id < o.id AND e.status NOT IN ('SENT', 'SKIPPED', 'CANCELLED')
      )
    ORDER BY o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE gmcrm.trigger_outbox o
SET claimed_by = %(worker)s, claimed_until = now() + %(lease)s::interval
WHERE o.id IN (SELECT id FROM candidates)
RETURNING o.id;
"""


def deepen(url: str, depth: int) -> int:
    """``depth - 1`` LATs after each lead's LIM, interleaved across leads; how many rows were added."""
    with psycopg.connect(url) as conn:
        added = conn.execute(
            "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, source_table, "
            "source_id, occurred_at) SELECT o.dealer_code, o.lead_id, o.contact_id, 'LAT', o.source_table, "
            "o.source_id, o.occurred_at + g * interval '1 second' "
            "FROM gmcrm.trigger_outbox o, generate_series(1, %s) g WHERE o.trigger_code = 'LIM' ORDER BY g, o.id",
            (depth - 1,),
        ).rowcount
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE gmcrm.trigger_outbox")
    return added


def claim_ms(url: str, statement: str, *, repeats: int = 15, limit: int = 2000) -> tuple[float, int]:
    """(median milliseconds, events claimed) of one claim on the whole outbox, each try rolled back."""
    params: dict[str, Any] = {
        "outbox_ids": None, "dealer_codes": None, "lead_id": None, "trigger_codes": None, "occurred_from": None,
        "occurred_to": None, "lanes": 1, "lane": 0, "limit": limit, "worker": "bench", "lease": "10 minutes",
        "lead_depth": 500,
    }  # fmt: skip
    times: list[float] = []
    claimed = 0
    with psycopg.connect(url) as conn:
        for _ in range(repeats):
            t0 = time.perf_counter()
            outbox.claim_plan_settings(conn)  # as outbox.claim runs it (SET LOCAL: this try's transaction)
            claimed = len(conn.execute(statement, params).fetchall())
            times.append((time.perf_counter() - t0) * 1000)
            conn.rollback()
    return statistics.median(times), claimed


def run_depth(
    server: str,
    fresh_db: Callable[[str, str, list[str]], str],
    seed_outbox: Callable[..., int],
    timed_send: Callable[..., Any],
    sandbox: Any,
    codes: list[str],
    leads: list[Any],
    *,
    events: int,
    depth: int,
) -> None:
    deep_leads = events // depth
    if len(leads) < events + deep_leads:
        raise SystemExit(f"the depth section needs {events + deep_leads} leads at the sandbox, it has {len(leads)}")
    print(f"\n-- depth: {events:,} events as 1 per lead ({events:,} leads) and {depth} per lead ({deep_leads} leads)")
    shallow_url = fresh_db(server, "gmcrm_bench_send_shallow", codes)
    seed_outbox(shallow_url, leads[:events], first_outbox_id=2_000_000_000)
    deep_url = fresh_db(server, "gmcrm_bench_send_deep", codes)
    seed_outbox(deep_url, leads[events : events + deep_leads], first_outbox_id=3_000_000_000)
    deepen(deep_url, depth)

    new_claim = outbox.queries()["claim"]
    for name, url in (("shallow", shallow_url), ("deep", deep_url)):
        before, n_before = claim_ms(url, CLAIM_BEFORE)
        after, n_after = claim_ms(url, new_claim)
        print(
            f"claim statement on the {name} outbox ({events:,} pending), median of 15: before issue 12 "
            f"{before:.1f} ms for {n_before:,} events ({before / max(n_before, 1) * 1000:.1f} us/event); "
            f"now {after:.1f} ms for {n_after:,} events ({after / max(n_after, 1) * 1000:.1f} us/event)"
        )

    per_event: dict[str, float] = {}
    for name, url in (("shallow", shallow_url), ("deep", deep_url)):
        out = timed_send(url, sandbox, f"bench-{name}")
        sent = out.report.totals().get("SENT", 0)
        stats = out.client.stats
        per_event[name] = stats.calls / max(sent, 1)
        print(
            f"{name}: {sent:,} of {events:,} events sent in {out.seconds:.1f}s with {stats.calls} API calls "
            f"({dict(stats.by_kind)}) = {per_event[name]:.4f} calls per event; where the time went: "
            f"{out.phases.line(out.seconds)}"
        )
    ratio = per_event["deep"] / per_event["shallow"]
    print(f"deep / shallow calls per event: {ratio:.2f}x (target <= 1.2x)")
