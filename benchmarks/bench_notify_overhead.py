"""What the outbox's NOTIFY triggers (routines 25-26.gmcrm.notify_outbox_*) cost the writes they watch.

    .venv/bin/python benchmarks/bench_notify_overhead.py [--rounds 5]

On a migrated DMS database (``GMCRM_BENCH_PG_URL``, else 127.0.0.1:5432 when it answers, else an
embedded PostgreSQL), the same writes with the two triggers enabled and disabled
(``ALTER TABLE ... DISABLE TRIGGER``), rounds alternating so drift hits both alike; prints the
median time of each and the ratio:

* import load: the load's set-based ``INSERT ... SELECT`` of LIM and LAT rows, 200 rows per dealership
  transaction, 200 dealerships (what ``gmcrm.load_dealer`` does for 100 new leads each);
* DMS screens: 500 transactions of 20 single-row inserts (``gmcrm.record_trigger`` inserts one row per
  call);
* the sender: 50 rounds of a 200-row claim, then its 200 outcomes (``UPDATE``: the requeue trigger
  runs and finds nothing to announce).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "sandbox"), str(ROOT / "benchmarks")]

import psycopg  # noqa: E402
from bench_import import server_url  # noqa: E402

from gmcrm import db, migrate  # noqa: E402

TRIGGERS = ("trigger_outbox_notify_insert", "trigger_outbox_notify_requeue")
Conn = psycopg.Connection[Any]


def import_load(conn: Conn) -> None:
    for d in range(200):
        with conn.transaction():
            conn.execute(
                "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, trigger_code, step) "
                "SELECT %s, '006' || md5(g::text || %s), v.code, 1 FROM generate_series(1, 100) g "
                "CROSS JOIN (VALUES ('LIM'), ('LAT')) v(code)",
                (f"BR{d:04d}", uuid.uuid4().hex),
            )


def screens(conn: Conn) -> None:
    for t in range(500):
        with conn.transaction():
            for i in range(20):
                conn.execute(
                    "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, trigger_code) VALUES (%s, %s, 'CRE')",
                    (f"BR{t % 50:04d}", f"006{uuid.uuid4().hex[:12]}{i}"),
                )


def sender(conn: Conn) -> None:
    ids = [r[0] for r in conn.execute("SELECT id FROM gmcrm.trigger_outbox ORDER BY id LIMIT 10000").fetchall()]
    for r in range(50):
        batch = ids[r * 200 : (r + 1) * 200]
        with conn.transaction():
            conn.execute(
                "UPDATE gmcrm.trigger_outbox SET claimed_by = 'bench', claimed_until = now() + interval '5 minutes' "
                "WHERE id = ANY(%s)",
                (batch,),
            )
        with conn.transaction():
            conn.execute(
                "UPDATE gmcrm.trigger_outbox SET status = CASE WHEN id %% 10 = 0 THEN 'RETRY' ELSE 'SENT' END, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ANY(%s)",
                (batch,),
            )
    conn.execute("UPDATE gmcrm.trigger_outbox SET status = 'PENDING' WHERE id = ANY(%s)", (ids,))


def timed(url: str, work: Callable[[Conn], None], enabled: bool) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        for name in TRIGGERS:
            conn.execute(f"ALTER TABLE gmcrm.trigger_outbox {'ENABLE' if enabled else 'DISABLE'} TRIGGER {name}")
        conn.execute("VACUUM ANALYZE gmcrm.trigger_outbox")
        started = time.perf_counter()
        work(conn)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server, embedded = server_url()
    name = f"gmcrm_bench_notify_{uuid.uuid4().hex[:8]}"
    db.ensure_database(server, name)
    url = db.with_database(server, name)
    try:
        migrate.upgrade(url)
        print(f"{'writes':<44} {'triggers on':>12} {'off':>9} {'on/off':>7}")
        for label, work in (
            ("import load: 200 x INSERT..SELECT 200 rows", import_load),
            ("DMS screens: 500 tx x 20 one-row INSERTs", screens),
            ("sender: 50 x (claim 200 + outcomes 200)", sender),
        ):
            on: list[float] = []
            off: list[float] = []
            for r in range(args.rounds):
                for enabled in (r % 2 == 0, r % 2 == 1):  # alternate which goes first
                    (on if enabled else off).append(timed(url, work, enabled))
            m_on, m_off = statistics.median(on), statistics.median(off)
            print(f"{label:<44} {m_on * 1000:>10.0f}ms {m_off * 1000:>7.0f}ms {m_on / m_off:>7.2f}", flush=True)
    finally:
        db.drop_database(server, name)
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
