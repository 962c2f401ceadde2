"""The send's throughput by number of lanes, on a cycle's queue: a LIM and a LAT for each new lead.

    .venv/bin/python benchmarks/send_lanes.py [--dealers 1000] [--leads-per-dealer 65] [--lanes 1 2 3]

The same queue (``dealers x leads-per-dealer`` leads, two events each: 130,000 by default, as an import
of 100,000 new leads records) in a fresh DMS database per lane count; each lane a Sender in its own
process on its own connection, as the send DAG's mapped ``send_lane`` tasks run, against the GM CRM
sandbox (its own process) and a real PostgreSQL (as ``bench_import.py`` chooses). Prints, per lane
count, the wall time from the first lane's start to the last one's end, events per second, API calls,
the CPU per event of the senders, their PostgreSQL backends and the GM sandbox, and the ratio to one
lane measured in the same run (absolute rates on this shared machine vary 2x from one machine to the
next; the ratio is the figure). Checks every event SENT once, each lead in order.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "plugins"), str(HERE.parent / "sandbox")]

import psutil  # noqa: E402
import psycopg  # noqa: E402
from bench_import import fresh_db, server_url  # noqa: E402
from bench_send import SEED, check_ids_match, generated_leads, seed_outbox  # noqa: E402

from gmcrm.gm_client import GmClient  # noqa: E402
from gmcrm.send.deliver import Sender  # noqa: E402
from gmcrm.send.report import RunInfo  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402


def add_lat(url: str) -> int:
    """A LAT behind every lead's LIM (set-based), as the import records them; the events in all."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, source_table, "
            "source_id) SELECT dealer_code, lead_id, contact_id, 'LAT', source_table, source_id "
            "FROM gmcrm.trigger_outbox WHERE trigger_code = 'LIM' ORDER BY id"
        )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE gmcrm.trigger_outbox")
        row = conn.execute("SELECT count(*) FROM gmcrm.trigger_outbox").fetchone()
    return int(row[0]) if row else 0


def backend_cpu(conn: psycopg.Connection[Any]) -> float:
    """CPU seconds (user + system) of this connection's PostgreSQL backend, from /proc (same machine)."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    try:
        fields = Path(f"/proc/{row[0] if row else 0}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # a server on another machine: not measured
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lane(
    url: str, sandbox: tuple[str, str, str, str], lanes: int, lane_no: int
) -> tuple[float, float, int, int, float, float]:
    """One send_lane task: (start, end, events sent, API calls, its CPU s, its PostgreSQL backend's CPU s)."""
    client = GmClient.direct(*sandbox)
    with psycopg.connect(url, autocommit=True) as conn:
        sender = Sender(conn, client, run=RunInfo("bench", f"lanes-{lanes}", 1), lanes=lanes, lane=lane_no)
        start, cpu, pg = time.time(), time.process_time(), backend_cpu(conn)
        report = sender.run_until_done()
        end, cpu, pg = time.time(), time.process_time() - cpu, backend_cpu(conn) - pg
    return start, end, report.totals().get("SENT", 0), client.stats.calls, cpu, pg


def sandbox_cpu(sandbox: SandboxProcess) -> float:
    """CPU seconds of the sandbox's process: GM's side of the work, which shares this machine's cores."""
    proc = sandbox._proc
    if proc is None:
        return 0.0
    times = psutil.Process(proc.pid).cpu_times()
    return float(times.user + times.system)


def check(url: str, sandbox: SandboxProcess, expected: int) -> str:
    with psycopg.connect(url) as conn:
        statuses: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM gmcrm.trigger_outbox GROUP BY 1").fetchall()
        )
        disorder = conn.execute(
            "SELECT count(*) FROM gmcrm.trigger_outbox a JOIN gmcrm.trigger_outbox b "
            "ON a.lead_id = b.lead_id AND a.id < b.id AND a.sent_at > b.sent_at"
        ).fetchone()
    ok = statuses == {"SENT": expected} and disorder == (0,)
    return f"outbox {statuses}, sent out of order {disorder[0] if disorder else '?'}: {'OK' if ok else 'WRONG'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dealers", type=int, default=1000)
    parser.add_argument("--leads-per-dealer", type=int, default=65)
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    codes = [f"BR{i:04d}" for i in range(1, args.dealers + 1)]
    server, embedded = server_url()
    leads = generated_leads(SEED, codes, args.leads_per_dealer)
    base: float | None = None
    print(f"gmcrm send lanes benchmark: {len(leads):,} new leads, a LIM and a LAT each")
    try:
        with SandboxProcess(
            dealer_codes=codes, leads_per_dealer=args.leads_per_dealer, seed=SEED, daily_limit=1_000_000
        ) as sandbox:
            check_ids_match(sandbox, leads, codes)
            creds = (sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle)
            for i, lanes in enumerate(args.lanes):
                url = fresh_db(server, f"gmcrm_bench_lanes_{lanes}", codes)
                # Outbox ids of their own per run: new DMS_Event_Id__c values, so GM creates new events.
                seed_outbox(url, leads, first_outbox_id=1 + i * 10_000_000)
                events = add_lat(url)
                gm_cpu = sandbox_cpu(sandbox)
                with ProcessPoolExecutor(max_workers=lanes) as pool:
                    results = list(pool.map(lane, [url] * lanes, [creds] * lanes, [lanes] * lanes, range(lanes)))
                gm_cpu = sandbox_cpu(sandbox) - gm_cpu
                wall = max(r[1] for r in results) - min(r[0] for r in results)
                sent = sum(r[2] for r in results)
                calls = sum(r[3] for r in results)
                rate = sent / wall
                base = base or rate
                us = 1e6 / max(sent, 1)
                print(
                    f"lanes {lanes}: {sent:,} events in {wall:.1f}s = {rate:,.0f} events/s, {calls} API calls "
                    f"(events/200 = {-(-events // 200)}); {rate / base:.2f}x one lane; {check(url, sandbox, events)}\n"
                    f"  CPU per event: senders {sum(r[4] for r in results) * us:.0f} µs, their PostgreSQL backends "
                    f"{sum(r[5] for r in results) * us:.0f} µs, the GM sandbox (GM's side) {gm_cpu * us:.0f} µs"
                )
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
