"""Benchmark of the lead import: 1,000 dealerships x 100 leads through extract, transform and load.

    .venv/bin/python benchmarks/bench_import.py [--dealers 1000] [--leads-per-dealer 100] [--workers 2]

Against the GM CRM sandbox over HTTPS (a separate process) and a real PostgreSQL
(``GMCRM_BENCH_PG_URL``, else 127.0.0.1:5432 when it answers, else an embedded one). Prints:
API calls used, extract time, leads/s for transform + load, peak memory, the one-lead-at-a-time
baseline on a sample (same matching, same rows, a transaction per lead) and the ratio, and the
contact rows alone loaded with the provider's ``PostgresHook.insert_rows``, for reference.

The headline: the CPU per lead of transform + load (the load tasks' processes and their PostgreSQL
backends, from the tasks' first connection to their last query) divided by the floor's, measured
the same way in the same run: the rows the load wrote, COPYed into the same tables of a fresh
database by as many processes (``import_floor``), three times, the median taken. A ratio of two
CPU costs of one run does not depend on how fast, or how busy, the machine is; a rate does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "sandbox")]

import psutil  # noqa: E402
import psycopg  # noqa: E402
from import_floor import backend_cpu, copy_floor, read_run_rows, seeded_max_ids  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from gmcrm import db, migrate  # noqa: E402
from gmcrm.airflow_support import postgres_conn_json  # noqa: E402
from gmcrm.gm_client import GmClient  # noqa: E402
from gmcrm.gm_mapping import load_mapping  # noqa: E402
from gmcrm.leads import pipeline  # noqa: E402
from gmcrm.leads.load import LOAD_COLUMNS, prepare_group  # noqa: E402
from gmcrm_devtools import demo_seed  # noqa: E402
from gmcrm_sandbox.process import SandboxProcess  # noqa: E402

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Read every lead, closed ones too.
EVER = datetime(2000, 1, 1, tzinfo=UTC)
# Floors measured per run; the headline divides by their median.
FLOOR_RUNS = 3


class PeakRss:
    """Samples this process's resident memory in the background; ``peak`` in MB."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss / 2**20)
            time.sleep(0.02)

    def now(self) -> float:
        return float(self._proc.memory_info().rss / 2**20)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def server_url() -> tuple[str, db.EmbeddedPostgres | None]:
    url = os.environ.get("GMCRM_BENCH_PG_URL")
    if url:
        return url, None
    try:
        with psycopg.connect(LOCAL, connect_timeout=2):
            return LOCAL, None
    except psycopg.OperationalError:
        embedded = db.EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="gmcrm-bench-pg-")))
        embedded.start()
        return embedded.server_url, embedded


def fresh_db(server: str, name: str, codes: list[str]) -> str:
    db.drop_database(server, name)
    db.ensure_database(server, name)
    url = db.with_database(server, name)
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        demo_seed.seed_demo(conn)
        # The other dealerships copy BR0001's settings (DIRECT) and BR0002's (DISTRIBUTION), alternating.
        conn.execute(
            "INSERT INTO gmcrm.dealership (dealer_code, name, integration_enabled, routing, vehicles_user_id, "
            "parts_user_id, service_user_id, after_sales_user_id, traffic_origin) "
            "SELECT c, 'Bench ' || c, true, t.routing, t.vehicles_user_id, t.parts_user_id, t.service_user_id, "
            "t.after_sales_user_id, t.traffic_origin FROM unnest(%s::text[]) WITH ORDINALITY AS u(c, i) "
            "JOIN gmcrm.dealership t ON t.dealer_code = CASE WHEN i %% 2 = 0 THEN 'BR0002' ELSE 'BR0001' END "
            "ON CONFLICT (dealer_code) DO NOTHING",
            (codes,),
        )
        conn.execute(
            "INSERT INTO gmcrm.contact_setting SELECT d.dealer_code, s.lead_type, s.contact_type, s.contact_subtype, "
            "s.department_id FROM gmcrm.dealership d JOIN gmcrm.contact_setting s ON s.dealer_code = 'BR0001' "
            "ON CONFLICT DO NOTHING"
        )
    return url


# ---------------------------------------------------------------------------------------------
# The naive baseline: one lead at a time, each in its own transaction, same matching, same rows.

NAIVE_MATCH = [
    ("lead_id", "SELECT id FROM dms.customer WHERE created_from_lead_id = %(v)s"),
    ("document", "SELECT id FROM dms.customer WHERE dealer_code = %(d)s AND document_key = %(v)s ORDER BY id LIMIT 1"),
    ("email_key", "SELECT id FROM dms.customer WHERE dealer_code = %(d)s AND email_key = %(v)s ORDER BY id LIMIT 1"),
    (
        "mobile_phone_key",
        "SELECT id FROM dms.customer WHERE dealer_code = %(d)s AND (mobile_phone_key = %(v)s OR phone_key = %(v)s) "
        "ORDER BY id LIMIT 1",
    ),
    (
        "phone_key",
        "SELECT id FROM dms.customer WHERE dealer_code = %(d)s AND (phone_key = %(v)s OR mobile_phone_key = %(v)s) "
        "ORDER BY id LIMIT 1",
    ),
]


def naive_load(conn: psycopg.Connection[Any], lead: dict[str, Any]) -> None:
    with conn.transaction():
        if conn.execute("SELECT 1 FROM dms.contact WHERE lead_id = %s", (lead["lead_id"],)).fetchone():
            return
        if not lead["is_open"]:
            return
        customer_id = None
        for key, query in NAIVE_MATCH:
            if lead[key] is not None:
                row = conn.execute(query, {"d": lead["dealer_code"], "v": lead[key]}).fetchone()
                if row:
                    customer_id = row[0]
                    break
        if customer_id is None:
            customer_id = conn.execute(
                "INSERT INTO dms.customer (dealer_code, name, person_type, document, email, phone, mobile_phone, "
                "created_from_lead_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [lead[c] for c in ("dealer_code", "customer_name", "person_type", "document", "email", "phone")]
                + [lead["mobile_phone"], lead["lead_id"]],
            ).fetchone()[0]  # type: ignore[index]
        cols = [c for c in LOAD_COLUMNS if c not in NON_CONTACT]
        contact_id = conn.execute(
            f"INSERT INTO dms.contact (customer_id, {', '.join(cols)}) VALUES (%s, {', '.join(['%s'] * len(cols))}) "
            "RETURNING id",
            [customer_id, *(lead[c] for c in cols)],
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, source_table, "
            "source_id) VALUES (%s, %s, %s, 'LIM', 'dms.contact', %s)",
            (lead["dealer_code"], lead["lead_id"], contact_id, contact_id),
        )
        if lead["status"] == "IN_QUEUE":
            conn.execute(
                "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, user_id, "
                "source_table, source_id) VALUES (%s, %s, %s, 'LAT', %s, 'dms.contact', %s)",
                (lead["dealer_code"], lead["lead_id"], contact_id, lead["assigned_user_id"], contact_id),
            )
            if lead["lead_type"] == "PARTS":
                pcs = conn.execute(
                    "INSERT INTO dms.parts_counter_service (dealer_code, contact_id, customer_id, "
                    "salesperson_user_id) VALUES (%s, %s, %s, %s) RETURNING id",
                    (lead["dealer_code"], contact_id, customer_id, lead["assigned_user_id"]),
                ).fetchone()[0]  # type: ignore[index]
                conn.execute(
                    "INSERT INTO dms.internal_mail (dealer_code, to_user_id, contact_id, subject, body) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (
                        lead["dealer_code"],
                        lead["assigned_user_id"],
                        contact_id,
                        f"Novo Lead GM de Peças: atendimento balcão nº {pcs}",
                        f"Um Lead GM de Peças foi encaminhado para você. Cliente: {lead['customer_name']}. "
                        f"Atendimento balcão nº {pcs} aberto em seu nome (Lead ID {lead['lead_id']}).",
                    ),
                )


NON_CONTACT = {
    "is_open",
    "customer_name",
    "person_type",
    "document",
    "email",
    "email_key",
    "phone",
    "phone_key",
    "mobile_phone",
    "mobile_phone_key",
}


def _load_task(job: tuple[str, pipeline.DealerGroup]) -> tuple[list[Any], list[Any], float, float, float | None]:
    """One mapped load task: its own process and connection. Returns what it loaded, its peak memory,
    and the CPU seconds of the task and of its PostgreSQL backend."""
    url, group = job
    cpu = time.process_time()
    with psycopg.connect(url) as conn:
        pid = conn.info.backend_pid
        before = backend_cpu(pid)
        done, failed = pipeline.load_group(conn, group, load_mapping())
        after = backend_cpu(pid)
    db_cpu = after - before if after is not None and before is not None else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return done, [(code, repr(exc)) for code, exc in failed], peak, time.process_time() - cpu, db_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dealers", type=int, default=1000)
    parser.add_argument("--leads-per-dealer", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="parallel load tasks, as Airflow runs mapped tasks")
    parser.add_argument("--per-group", type=int, default=50, help="dealerships per load task")
    parser.add_argument("--sample", type=int, default=2000, help="leads in the one-at-a-time baseline")
    args = parser.parse_args()
    total = args.dealers * args.leads_per_dealer
    codes = [f"BR{i:04d}" for i in range(1, args.dealers + 1)]
    mapping = load_mapping()
    server, embedded = server_url()
    # Databases of this run only: other runs of the benchmark on the same server are left alone.
    tag = f"_{os.getpid()}"
    print(f"gmcrm import benchmark: {args.dealers} dealerships x {args.leads_per_dealer} leads = {total:,} leads")
    print(f"PostgreSQL: {db.redact_url(server)}; workers: {args.workers}; dealerships per task: {args.per_group}")

    started = time.perf_counter()
    with SandboxProcess(dealer_codes=codes, leads_per_dealer=args.leads_per_dealer, seed=2026) as sandbox:
        print(f"sandbox with {total:,} leads up in {time.perf_counter() - started:.1f}s")
        url = fresh_db(server, f"gmcrm_bench_import{tag}", codes)
        rss = PeakRss()

        def new_client() -> GmClient:
            return GmClient.direct(sandbox.instance_url, sandbox.client_id, sandbox.client_secret, sandbox.ca_bundle)

        client = new_client()
        run_id = f"bench__{uuid.uuid4().hex[:8]}"

        # Extract: every lead (`since` far back, so closed ones are read too), streamed into staging.
        t0 = time.perf_counter()
        with psycopg.connect(url) as conn:
            summary = pipeline.extract(conn, run_id, lambda _c: client, since=EVER, per_group=args.per_group)
        extract_s = time.perf_counter() - t0
        rss_after_extract = rss.now()

        # Transform + load, in parallel tasks of groups, each dealership in its own transaction.
        t1 = time.perf_counter()
        results: list[Any] = []

        # Separate processes, as Airflow runs mapped task instances.
        child_peak = 0.0
        task_cpu = 0.0
        backends_cpu: float | None = 0.0
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for done, failed, peak_mb, cpu, db_cpu in pool.map(_load_task, [(url, g) for g in summary.groups]):
                assert not failed, failed
                results += done
                child_peak = max(child_peak, peak_mb)
                task_cpu += cpu
                backends_cpu = None if backends_cpu is None or db_cpu is None else backends_cpu + db_cpu
        load_s = time.perf_counter() - t1
        peak = rss.stop()
        read = sum(r.leads_read for r in results)
        created = sum(r.contacts_created for r in results)
        calls = client.stats.calls
        limit = -(-total // 2000) + 5

        print(f"\nAPI calls used: {calls} (target <= {limit}); {client.stats.summary()}")
        print(f"extract: {summary.records:,} leads staged in {extract_s:.1f}s ({summary.records / extract_s:,.0f}/s)")
        print(
            f"transform + load: {read:,} leads in {load_s:.1f}s = {read / load_s:,.0f} leads/s "
            f"(target >= 20,000); {created:,} contacts created"
        )
        # Before the floor reads the run's rows into this process.
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # The floor, in the same run: the rows this load wrote, COPYed into a fresh database (see import_floor).
        # Measured FLOOR_RUNS times, each into a database of its own, and the median taken: one floor
        # (a few seconds) varied from 53 to 83 us per lead between runs of this benchmark, more than
        # anything the import's side of the ratio did.
        floor_url = fresh_db(server, f"gmcrm_bench_floor{tag}", codes)
        run_rows = read_run_rows(url, seeded_max_ids(floor_url))  # the same ids in every fresh database
        floors = [copy_floor(floor_url, run_rows, args.workers)]
        for _ in range(FLOOR_RUNS - 1):
            floors.append(copy_floor(fresh_db(server, f"gmcrm_bench_floor{tag}", codes), run_rows, args.workers))
        del run_rows
        floors.sort(key=lambda f: f.cpu_s or 0.0)
        floor = floors[len(floors) // 2]
        load_cpu = None if backends_cpu is None else backends_cpu + task_cpu
        if load_cpu is not None and floor.cpu_s is not None and floor.backend_s is not None:
            per_lead = load_cpu / read * 1e6
            floor_per_lead = floor.cpu_s / read * 1e6
            print(
                f"CPU for transform + load: PostgreSQL backends {backends_cpu:.1f}s + Python load tasks "
                f"{task_cpu:.1f}s = {per_lead:.0f} us per lead ({os.cpu_count()} cores: at most "
                f"{(os.cpu_count() or 1) * 1e6 / per_lead:,.0f} leads/s at this cost)"
            )
            copied = ", ".join(f"{n:,} {t.split('.')[1]}" for t, n in floor.rows.items())
            print(
                f"floor, the same rows COPYed into the same tables of a fresh database ({copied}; "
                f"{args.workers} processes, a transaction each, no transform or matching): "
                f"PostgreSQL {floor.backend_s:.1f}s + Python {floor.python_s:.1f}s = {floor_per_lead:.0f} us per lead "
                f"({floor.wall_s:.1f}s wall); the median of {FLOOR_RUNS}: "
                + ", ".join(f"{(f.cpu_s or 0.0) / read * 1e6:.0f}" for f in floors)
                + " us per lead"
            )
            print(
                f"HEADLINE cost per lead of transform + load / floor: {per_lead:.0f} / {floor_per_lead:.0f} us = "
                f"{per_lead / floor_per_lead:.2f}x (target <= 2.0x)"
            )
        else:
            print("CPU per lead not measured: the PostgreSQL server is not on this machine (/proc)")
        print(
            f"peak memory (RSS): extract process {peak:.0f} MB, each load task at most {child_peak:.0f} MB "
            "(target < 500 MB); "
            f"after extract {rss_after_extract:.0f} MB; "
            f"ru_maxrss {maxrss:.0f} MB"
        )

        # Baseline: a sample of the same leads, one at a time, into a fresh database.
        naive_url = fresh_db(server, f"gmcrm_bench_naive{tag}", codes)
        sample_codes = codes[: max(1, -(-args.sample // args.leads_per_dealer))]
        with psycopg.connect(url) as conn:
            # Re-read the same GM records for the sample dealerships and transform them as the fast path does.
            pipeline.extract(
                conn,
                "naive",
                lambda _c: new_client(),
                dealer_codes=sample_codes,
                since=EVER,
            )
            prepare_group(conn, "naive", sample_codes, mapping)
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT * FROM pg_temp.gmcrm_lead_rows ORDER BY dealer_code, gm_created_at, lead_id LIMIT %s",
                    (args.sample,),
                ).fetchall()
        with psycopg.connect(naive_url) as conn:
            # The same durability as the set-based load (commits do not wait for the WAL flush), so
            # that the ratio measures the way of loading, not the disk's fsync.
            conn.execute("SET synchronous_commit = off")
            conn.commit()
            t2 = time.perf_counter()
            for lead in rows:
                naive_load(conn, lead)
            naive_s = time.perf_counter() - t2
        naive_rate = len(rows) / naive_s
        print(
            f"\nbaseline, one lead at a time (own transaction each, same synchronous_commit): {len(rows):,} leads "
            f"in {naive_s:.1f}s = {naive_rate:,.0f} leads/s; set-based is {read / load_s / naive_rate:.1f}x faster "
            "(target >= 20x)"
        )
        # For reference: the same with every commit waiting for its WAL flush (PostgreSQL's default).
        fsync_rows = rows[: len(rows) // 4]
        with psycopg.connect(fresh_db(server, f"gmcrm_bench_naive_fsync{tag}", codes)) as conn:
            t4 = time.perf_counter()
            for lead in fsync_rows:
                naive_load(conn, lead)
            fsync_s = time.perf_counter() - t4
        print(
            f"the same, each commit waiting for the WAL flush: {len(fsync_rows):,} leads in {fsync_s:.1f}s = "
            f"{len(fsync_rows) / fsync_s:,.0f} leads/s (for reference)"
        )

        # Reference: the contact rows alone through the provider's PostgresHook.insert_rows.
        os.environ["AIRFLOW_CONN_DMS_POSTGRES"] = postgres_conn_json(naive_url)
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        with psycopg.connect(naive_url) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS public.contact_insert_rows (LIKE dms.contact INCLUDING ALL)")
            contacts = conn.execute(
                "SELECT dealer_code, customer_id, lead_id || '-ref', lead_type, description, status FROM dms.contact"
            ).fetchall()
        hook = PostgresHook(postgres_conn_id="dms_postgres")
        t3 = time.perf_counter()
        hook.insert_rows(
            "public.contact_insert_rows",
            contacts,
            target_fields=["dealer_code", "customer_id", "lead_id", "lead_type", "description", "status"],
            commit_every=1000,
        )
        ref_s = time.perf_counter() - t3
        print(
            f"reference, PostgresHook.insert_rows of the contact rows alone: {len(contacts):,} rows in {ref_s:.2f}s "
            f"= {len(contacts) / ref_s:,.0f} rows/s"
        )
    for name in ("import", "floor", "naive", "naive_fsync"):
        db.drop_database(server, f"gmcrm_bench_{name}{tag}")
    if embedded is not None:
        embedded.stop()


if __name__ == "__main__":
    main()
