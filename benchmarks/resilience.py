"""The resilience suite: both DAGs' code through every fault class, one table of what was lost.

    .venv/bin/python benchmarks/resilience.py [--only SUBSTRING ...]      (or: make resilience)

Starts its own PostgreSQL (pgserver; crashed with ``pg_ctl stop -m immediate`` where a class asks for
it), the GM CRM sandbox in its own process over HTTPS, and Airflow's metadata in SQLite; runs the import
and send DAGs with ``dag.test()`` (task retries without their delay). For each fault class: a fresh DMS
database and a reset sandbox, leads of known people across three dealerships, a baseline cycle, new
leads and DMS activity, the fault, cycles until quiet (at most six, time passing between them), then the
counts from ground truth (the sandbox's leads and receipts against the DMS's contacts, quarantine and
outbox). Prints progress per class, then one table. Exits 1 when any count but "faults injected" is not
zero, or a class could not run or never injected its fault. See ``gmcrm_devtools.resilience``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "sandbox"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from gmcrm_devtools import resilience  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="run the classes whose name contains one of these")
    args = parser.parse_args(argv)
    classes = resilience.all_classes()
    if args.only:
        classes = [c for c in classes if any(word.lower() in c[0].lower() for word in args.only)]
    started = time.perf_counter()
    print(f"gmcrm resilience suite: {len(classes)} fault classes", flush=True)
    with resilience.environment() as env:
        print(f"  environment ready in {time.perf_counter() - started:.1f}s", flush=True)
        outcomes = resilience.run_suite(env, classes, lambda line: print(line, flush=True))
    print(f"\n{resilience.table(outcomes)}\n")
    print(f"{len(outcomes)} classes in {time.perf_counter() - started:.0f}s")
    return 1 if resilience.failed(outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
