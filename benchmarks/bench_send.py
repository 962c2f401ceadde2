"""Benchmark of sending trigger events: 100,000 pending events of 1,000 dealerships sent to GM.

    .venv/bin/python benchmarks/bench_send.py [--dealers 1000] [--leads-per-dealer 100] [--sample 1000]
                                              [--profile]

Against the GM CRM sandbox over HTTPS (a separate process) and a real PostgreSQL
(``GMCRM_BENCH_PG_URL``, else 127.0.0.1:5432 when it answers, else an embedded one), as
``bench_import.py``. Setup, not timed: the sandbox with ``dealers x leads-per-dealer`` generated leads,
a fresh DMS database with a customer and a contact per lead and ONE pending ``LIM`` outbox event per
lead, all written set-based (one ``INSERT ... SELECT`` per table).

Timed: ``Sender.prepare()`` + ``Sender.run_until_done()`` end to end: claims, payload building, the
collection calls, the send log and the outcomes. Prints the events sent, the API calls used (the
client's count and the sandbox's; target at most ceil(events / 200) + 5), events per second (target
at least 2,000), the peak memory (RSS) of this process, where the time went (claims, building, calls,
recording), and checks the result: every outbox row ``SENT``, one ``SENT`` send-log row per event, the
sandbox holding exactly that many distinct events.

Then, in the same run, the baseline: a sample of the same leads in a second fresh database, sent one
call per event (the same claim -> build -> send -> record cycle with claim size and batch size 1, each
step in its own transaction), its events per second and the ratio (target at least 20x).

``--profile`` runs the timed part under cProfile and prints the top functions (slower; the figures
of a profiled run are not the benchmark's).

Then the depth section (``send_depth.py``, issue 12): calls per event of a shallow queue (1 event per
lead) and a deep one (``--depth`` per lead) of ``--depth-events`` events each, their ratio (target deep
<= 1.2x shallow), and the claim statement's cost before and after issue 12. ``--only-depth`` runs just
that (a sandbox of at least ``depth-events x (1 + 1/depth)`` leads: e.g. ``--dealers 50``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

# This folder too: the import benchmark's helpers (PostgreSQL choice, fresh database, RSS sampler) are
# shared, not copied.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "plugins"), str(HERE.parent / "sandbox")]

import psycopg  # noqa: E402
from bench_import import PeakRss, fresh_db, server_url  # noqa: E402
from send_depth import run_depth  # noqa: E402

from gmcrm import db  # noqa: E402
from gmcrm.gm_client import GmClient  # noqa: E402
from gmcrm.gm_mapping import load_mapping  # noqa: E402
from gmcrm.send import deliver  # noqa: E402
from gmcrm.send.deliver import Sender  # noqa: E402
from gmcrm.send.report import RunInfo, SendReport  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402

SEED = 2026
T = TypeVar("T")

# (Id, Dealer_Code__c, Lead_Type__c) of every generated lead.
LeadRow = tuple[str, str, str]


def generated_leads(seed: int, codes: list[str], per_dealer: int) -> list[LeadRow]:
    """The sandbox's leads as it generates them at start (same seed, same codes: same ids and types).

    Ids and lead types do not depend on the generation time. Run in a child process, so that the
    100,000 full lead dicts never weigh on this process's memory figure.
    """
    from gmcrm_sandbox.generate import generate_leads

    leads = generate_leads(seed, codes, per_dealer, datetime.now(UTC))
    return [(str(x["Id"]), str(x["Dealer_Code__c"]), str(x["Lead_Type__c"])) for x in leads]


def check_ids_match(sandbox: SandboxProcess, leads: list[LeadRow], codes: list[str]) -> None:
    """The ids computed here are the sandbox's: compare the first and the last dealership in full."""
    for code in {codes[0], codes[-1]}:
        ours = {(i, t) for i, d, t in leads if d == code}
        theirs = {(str(x["Id"]), str(x["Lead_Type__c"])) for x in sandbox.admin.leads(code)}
        assert ours == theirs, f"generated leads of {code} differ from the sandbox's"


def seed_outbox(url: str, leads: list[LeadRow], first_outbox_id: int = 1) -> int:
    """A customer and a contact per lead and one pending LIM per lead: one INSERT ... SELECT per table."""
    types = load_mapping().lead_types
    ids = [lead_id for lead_id, _, _ in leads]
    dealers = [dealer for _, dealer, _ in leads]
    dms_types = [types[t] for _, _, t in leads]
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setval('gmcrm.trigger_outbox_id_seq', %s, false)", (first_outbox_id,))
        conn.execute(
            "INSERT INTO dms.customer (dealer_code, name, person_type, created_from_lead_id) "
            "SELECT d, 'Cliente ' || right(l, 6), 'F', l FROM unnest(%s::text[], %s::text[]) AS u(l, d)",
            (ids, dealers),
        )
        conn.execute(
            "INSERT INTO dms.contact (dealer_code, customer_id, lead_id, lead_type, contact_type, contact_subtype, "
            "department_id, description, status) "
            "SELECT u.d, cu.id, u.l, u.t, s.contact_type, s.contact_subtype, s.department_id, 'Lead GM ' || u.l, "
            "'IN_QUEUE' FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(l, d, t) "
            "JOIN dms.customer cu ON cu.created_from_lead_id = u.l "
            "LEFT JOIN gmcrm.contact_setting s ON s.dealer_code = u.d AND s.lead_type = u.t",
            (ids, dealers, dms_types),
        )
        inserted = conn.execute(
            "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, source_table, "
            "source_id) SELECT c.dealer_code, c.lead_id, c.id, 'LIM', 'dms.contact', c.id "
            "FROM dms.contact c ORDER BY c.id"
        ).rowcount
        conn.commit()
    # What autovacuum would do shortly after a bulk insert; the claim's plan depends on it.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE gmcrm.trigger_outbox, dms.contact, dms.customer, gmcrm.send_log")
    return inserted


@dataclass
class Phases:
    """Wall time of each step of the send cycle, by wrapping the Sender's steps (deliver.py unchanged)."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def wrap(self, name: str, fn: Callable[..., T]) -> Callable[..., T]:
        def timed(*args: Any, **kwargs: Any) -> T:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                self.counts[name] = self.counts.get(name, 0) + 1

        return timed

    def line(self, total: float) -> str:
        parts = [f"{name} {s:.1f}s ({s / total:.0%}, {self.counts[name]:,}x)" for name, s in self.seconds.items()]
        rest = total - sum(self.seconds.values())
        return "; ".join([*parts, f"rest {rest:.1f}s ({rest / total:.0%})"])


@dataclass
class Outcome:
    report: SendReport
    seconds: float
    prepare_seconds: float
    client: GmClient
    phases: Phases
    profile: str | None = None


def timed_send(
    url: str, sandbox: SandboxProcess, run_id: str, *, one_by_one: bool = False, profile: bool = False
) -> Outcome:
    """prepare() + run_until_done() on its own connection, timed end to end (sign-in included)."""
    client = GmClient.direct(sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle)
    phases = Phases()
    original_build = deliver.build_events
    with psycopg.connect(url, autocommit=True) as conn:
        sender = Sender(
            conn,
            client,
            run=RunInfo(dag_id="bench", run_id=run_id, try_number=1),
            claim_size=1 if one_by_one else 2000,
        )
        if one_by_one:
            sender.batch_size = 1
        sender.claim = phases.wrap("claim", sender.claim)  # type: ignore[method-assign]
        sender._record = phases.wrap("record", sender._record)  # type: ignore[method-assign]
        client.upsert_events = phases.wrap("api call", client.upsert_events)  # type: ignore[method-assign]
        client.upsert_event_graphs = phases.wrap("api call", client.upsert_event_graphs)  # type: ignore[method-assign]
        deliver.build_events = phases.wrap("build", original_build)
        profiler = cProfile.Profile() if profile else None
        try:
            t0 = time.perf_counter()
            if profiler:
                profiler.enable()
            sender.prepare()
            prepared = time.perf_counter()
            report = sender.run_until_done()
            if profiler:
                profiler.disable()
            seconds = time.perf_counter() - t0
        finally:
            deliver.build_events = original_build
    text = None
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        out.write("\n--- by own time ---\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        text = out.getvalue()
    return Outcome(report, seconds, prepared - t0, client, phases, text)


def db_counts(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """(outbox rows by status, send-log rows by outcome)."""
    outbox: dict[str, int]
    log: dict[str, int]
    with psycopg.connect(url) as conn:
        outbox = dict(conn.execute("SELECT status, count(*) FROM gmcrm.trigger_outbox GROUP BY 1").fetchall())
        log = dict(conn.execute("SELECT outcome, count(*) FROM gmcrm.send_log GROUP BY 1").fetchall())
    return outbox, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dealers", type=int, default=1000)
    parser.add_argument("--leads-per-dealer", type=int, default=100)
    parser.add_argument("--sample", type=int, default=1000, help="events in the one-call-per-event baseline")
    parser.add_argument("--profile", action="store_true", help="run the timed part under cProfile")
    parser.add_argument("--depth-events", type=int, default=4000, help="events of the shallow/deep comparison")
    parser.add_argument("--depth", type=int, default=40, help="events per lead of the deep queue")
    parser.add_argument("--only-depth", action="store_true", help="only the shallow/deep comparison")
    args = parser.parse_args()
    total = args.dealers * args.leads_per_dealer
    codes = [f"BR{i:04d}" for i in range(1, args.dealers + 1)]
    batch = load_mapping().event_batch_size
    server, embedded = server_url()
    print(f"gmcrm send benchmark: {args.dealers} dealerships x {args.leads_per_dealer} leads = {total:,} events")
    print(f"PostgreSQL: {db.redact_url(server)}")

    started = time.perf_counter()
    try:
        with ProcessPoolExecutor(max_workers=1) as pool:
            future = pool.submit(generated_leads, SEED, codes, args.leads_per_dealer)
            daily_limit = max(15000, 2 * (total // batch + args.sample) + 100)
            with SandboxProcess(
                dealer_codes=codes, leads_per_dealer=args.leads_per_dealer, seed=SEED, daily_limit=daily_limit
            ) as sandbox:
                leads = future.result()
                pool.shutdown()
                check_ids_match(sandbox, leads, codes)
                print(f"sandbox with {total:,} leads up in {time.perf_counter() - started:.1f}s")
                if not args.only_depth:
                    run(args, server, sandbox, codes, leads, total, batch)
                run_depth(
                    server, fresh_db, seed_outbox, timed_send, sandbox, codes, leads,
                    events=args.depth_events, depth=args.depth,
                )  # fmt: skip
    finally:
        if embedded is not None:
            embedded.stop()


def run(
    args: argparse.Namespace,
    server: str,
    sandbox: SandboxProcess,
    codes: list[str],
    leads: list[LeadRow],
    total: int,
    batch: int,
) -> None:
    t_setup = time.perf_counter()
    url = fresh_db(server, "gmcrm_bench_send", codes)
    pending = seed_outbox(url, leads)
    assert pending == total, (pending, total)
    print(f"DMS: {pending:,} pending LIM events of {len(codes):,} dealerships written in "
          f"{time.perf_counter() - t_setup:.1f}s (set-based, not timed)")  # fmt: skip

    # -- the timed send ------------------------------------------------------------------------
    calls_before = sandbox.admin.calls()
    rss = PeakRss()
    rss_start = rss.now()
    fast = timed_send(url, sandbox, "bench", profile=args.profile)
    peak = rss.stop()
    calls_after = sandbox.admin.calls()

    sent = fast.report.totals().get("SENT", 0)
    rate = sent / fast.seconds
    limit = -(-total // batch) + 5
    server_calls = calls_after["total"] - calls_before["total"]
    server_collections = calls_after.get("collection_upsert", 0) - calls_before.get("collection_upsert", 0)
    health = sandbox.admin.health()
    outbox, log = db_counts(url)

    print(f"\nevents sent: {sent:,} of {total:,}; outcomes {dict(fast.report.totals())}")
    print(
        f"API calls used: {fast.client.stats.calls} (target <= {limit}); {fast.client.stats.summary()}; "
        f"by kind {dict(fast.client.stats.by_kind)}, sign-ins {fast.client.stats.sign_ins}, "
        f"retries {fast.client.stats.retries}"
    )
    print(f"sandbox counted: {server_calls} calls ({server_collections} collection upserts, token included)")
    print(
        f"end to end (prepare + claims + build + calls + send log + outcomes): {sent:,} events in "
        f"{fast.seconds:.1f}s = {rate:,.0f} events/s (target >= 2,000); prepare {fast.prepare_seconds:.2f}s"
    )
    print(f"where the time went: {fast.phases.line(fast.seconds)}")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory (RSS) of the benchmark process: {peak:.0f} MB (at start of the send {rss_start:.0f} MB, "
        f"growth {peak - rss_start:.0f} MB); ru_maxrss {maxrss:.0f} MB"
    )
    ok_outbox = outbox == {"SENT": total}
    ok_log = log == {"SENT": total}
    ok_gm = health["events"] == total and health["receipts"] == total
    print(
        f"check: outbox {outbox} {'OK' if ok_outbox else 'WRONG'}; send_log {log} {'OK' if ok_log else 'WRONG'}; "
        f"sandbox holds {health['events']:,} distinct events from {health['receipts']:,} receipts "
        f"{'OK' if ok_gm else 'WRONG'}"
    )
    if fast.profile:
        print("\n--- cProfile of the timed part ---")
        print(fast.profile)

    # -- the baseline: one call per event, on a sample ---------------------------------------
    step = max(1, len(leads) // args.sample)
    sample = leads[::step][: args.sample]
    naive_url = fresh_db(server, "gmcrm_bench_send_naive", codes)
    # Outbox ids far above the fast run's: other DMS_Event_Id__c values, so GM creates new events.
    seed_outbox(naive_url, sample, first_outbox_id=1_000_000_000)
    before = sandbox.admin.calls()
    naive = timed_send(naive_url, sandbox, "bench-baseline", one_by_one=True)
    after = sandbox.admin.calls()
    naive_sent = naive.report.totals().get("SENT", 0)
    naive_rate = naive_sent / naive.seconds
    n_outbox, n_log = db_counts(naive_url)
    ok_naive = n_outbox == {"SENT": len(sample)} and n_log == {"SENT": len(sample)}
    print(
        f"\nbaseline, one call per event (claim, build, call, record: own transactions each): {naive_sent:,} "
        f"events of {len({d for _, d, _ in sample})} dealerships in {naive.seconds:.1f}s = {naive_rate:,.0f} "
        f"events/s; {naive.client.stats.calls} API calls (sandbox counted {after['total'] - before['total']}); "
        f"check {'OK' if ok_naive else f'WRONG: outbox {n_outbox}, send_log {n_log}'}"
    )
    print(f"baseline time went: {naive.phases.line(naive.seconds)}")
    print(
        f"batched is {rate / naive_rate:.1f}x faster (target >= 20x); API calls per 1,000 events: "
        f"{fast.client.stats.calls / total * 1000:.1f} batched vs {naive.client.stats.calls / naive_sent * 1000:.0f}"
    )


if __name__ == "__main__":
    main()
