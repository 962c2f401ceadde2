"""Echoes: what the import reads in the steady state, with and without skipping the integration's own changes.

    .venv/bin/python benchmarks/bench_echoes.py [--dealers 200] [--leads-per-dealer 100] [--cycles 3]

Each cycle, GM's people create ``--leads-per-dealer`` new leads per dealership (the sandbox's admin API,
GM's user); the import runs (extract + load, as its DAG does), records LIM (and LAT under DIRECT routing),
and the send DAG's Sender sends every event, which GM applies to its lead as the integration's user.
The next cycle's import then meets those leads again (echoes) unless it skips them. Two worlds, same
leads, same run: ``no filter`` (the integration's user configured as a user id nobody has: the read
skips nothing, as before issue 11) and ``echo filter`` (the default: the user the sign-in names). Per
cycle: leads read, query calls, and what GM says changed since the previous import
(``/__admin__/changes``): leads changed by GM's users and by the API. GM's clock is frozen and moved on
``--cycle-seconds`` a cycle, so stamps are as far apart as in production and the 600-second lookback
overlaps reads as it does there. Against the sandbox over HTTPS and a real PostgreSQL (see ``bench_import.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "sandbox"), str(ROOT / "benchmarks")]

import psycopg  # noqa: E402
from bench_import import fresh_db, server_url  # noqa: E402

from gmcrm.gm_client import GmClient  # noqa: E402
from gmcrm.gm_mapping import load_mapping  # noqa: E402
from gmcrm.leads import pipeline  # noqa: E402
from gmcrm.send.deliver import Sender  # noqa: E402
from gmcrm.send.report import RunInfo  # noqa: E402
from gmcrm_sandbox.generate import generate_leads  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402

# A User id nobody has: configured as the integration's user, the read skips no one's changes.
NOBODY = "005000000000000AAA"
# What GM's org sets itself: the admin API stamps the new leads now, as GM's user.
SYSTEM = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted")


def new_leads(seed: int, codes: list[str], per_dealer: int) -> list[dict[str, Any]]:
    """Open leads for the admin API (GM's people creating them now)."""
    leads = generate_leads(seed, codes, per_dealer, datetime.now(UTC))
    return [
        {**{k: v for k, v in lead.items() if k not in SYSTEM}, "StageName": "New", "Substage__c": None}
        for lead in leads
    ]


def one_client(client: GmClient) -> Callable[[str], GmClient]:
    return lambda _conn_id: client


def sf_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_world(
    name: str, sandbox: SandboxProcess, url: str, user: str | None, codes: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    mapping = load_mapping()
    sandbox.admin.reset(empty=True)
    # GM's clock runs a cycle's time between cycles (frozen, moved on by hand): its stamps are as far
    # apart as in production, so the lookback overlaps reads as it does there.
    gm_now = datetime.now(UTC).replace(microsecond=0)
    sandbox.admin.set_clock(now=sf_time(gm_now))
    step = args.cycle_seconds // 5
    rows: list[dict[str, Any]] = []
    last_import: datetime | None = None
    for cycle in range(1, args.cycles + 1):
        created = sandbox.admin.create_leads(new_leads(1000 + cycle, codes, args.leads_per_dealer))
        sandbox.admin.set_clock(advance_seconds=step)  # the import runs a minute after GM's changes
        changes = sandbox.admin.changes(since=sf_time(last_import)) if last_import else None
        gm_now += timedelta(seconds=step)
        started = gm_now
        client = GmClient.direct(
            sandbox.instance_url,
            sandbox.client_id,
            sandbox.client_secret,
            sandbox.ca_bundle,
            mapping=mapping,
            integration_user_id=user,
        )
        run_id = f"echo__{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        read = 0
        with psycopg.connect(url) as conn:
            summary = pipeline.extract(conn, run_id, one_client(client), per_group=50)
            for group in summary.groups:
                done, failed = pipeline.load_group(conn, group, mapping)
                assert not failed, failed
                read += sum(r.leads_read for r in done)
        import_s = time.perf_counter() - t0
        last_import = started
        sandbox.admin.set_clock(advance_seconds=step)  # DMS activity, then the send, a minute later
        gm_now += timedelta(seconds=step)
        t1 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            sender = Sender(
                conn,
                GmClient.direct(sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle),
                run=RunInfo(dag_id="bench", run_id=run_id, try_number=1),
            )
            sender.prepare()
            report = sender.run_until_done()
        send_s = time.perf_counter() - t1
        sandbox.admin.set_clock(advance_seconds=args.cycle_seconds - 2 * step)
        gm_now += timedelta(seconds=args.cycle_seconds - 2 * step)
        row = {
            "world": name,
            "cycle": cycle,
            "new_at_gm": len(created),
            "gm_changed": changes["leads_changed_by_gm"] if changes else len(created),
            "api_changed": changes["leads_changed_by_api"] if changes else 0,
            "read": read,
            "queries": client.stats.by_kind["query"],
            "query_more": client.stats.by_kind["query_more"],
            "calls": client.stats.calls,
            "import_s": import_s,
            "sent": report.totals().get("SENT", 0),
            "send_s": send_s,
        }
        rows.append(row)
        print(
            f"{name:12} cycle {cycle}: GM changed {row['gm_changed']:,} leads, the API {row['api_changed']:,}; "
            f"import read {read:,} leads with {row['calls']} API calls ({row['queries']} query + "
            f"{row['query_more']} queryMore) in {import_s:.1f}s; then {row['sent']:,} events sent in {send_s:.1f}s",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dealers", type=int, default=200)
    parser.add_argument("--leads-per-dealer", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--cycle-seconds", type=int, default=300, help="GM's time between two cycles")
    args = parser.parse_args()
    codes = [f"BR{i:04d}" for i in range(1, args.dealers + 1)]
    server, embedded = server_url()
    print(
        f"gmcrm echo benchmark: {args.dealers} dealerships, {args.leads_per_dealer} new leads each a cycle, "
        f"{args.cycles} cycles"
    )
    try:
        with SandboxProcess(dealer_codes=codes, leads_per_dealer=0, seed=2026) as sandbox:
            results = {}
            for name, user in (("no filter", NOBODY), ("echo filter", None)):
                url = fresh_db(server, "gmcrm_bench_echoes", codes)
                results[name] = run_world(name, sandbox, url, user, codes, args)
    finally:
        if embedded is not None:
            embedded.stop()
    before, after = results["no filter"][-1], results["echo filter"][-1]
    print(f"\nsteady state (cycle {args.cycles}), leads GM's users changed: {after['gm_changed']:,}")
    print(f"  no filter:   {before['read']:,} leads read, {before['calls']} API calls")
    print(f"  echo filter: {after['read']:,} leads read, {after['calls']} API calls")
    print(
        f"  ratio: {before['read'] / max(after['read'], 1):.2f}x fewer leads read, "
        f"{before['calls'] / max(after['calls'], 1):.2f}x fewer calls; "
        f"read / changed at GM: {after['read'] / max(after['gm_changed'], 1):.3f} (1.000 = no echoes)"
    )


if __name__ == "__main__":
    main()
