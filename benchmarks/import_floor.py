"""The import benchmark's floor and its CPU accounting (used by ``bench_import.py``).

The floor is the cheapest way to put the rows the import wrote into the same tables: the very rows
of the run (customers, contacts, their LIM/LAT outbox rows, parts counter services and internal
mails), read back from the loaded database beforehand (not timed) and COPYed in binary into the
empty tables of a freshly migrated and seeded database (with every index, foreign key, generated
match key and trigger the import meets), by as many processes as the load tasks (each a share of
the dealerships, one transaction each), with the same ``synchronous_commit = off``. No staging
read, no transform, no matching, no temporary tables, no per-dealership commits. Its cost is
counted like the import's: CPU seconds of the Python processes (``time.process_time``) plus those
of their PostgreSQL backends (``/proc/<pg_backend_pid()>/stat``, utime + stime), divided by the
leads the import read.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

# Per table, the columns the import gives (the rest are defaults or generated); ids are copied so that
# the references between the rows hold. Parents first: the foreign keys are checked row by row.
FLOOR_TABLES: dict[str, list[str]] = {
    "dms.customer": [
        "id",
        "dealer_code",
        "name",
        "person_type",
        "document",
        "email",
        "phone",
        "mobile_phone",
        "created_from_lead_id",
    ],
    "dms.contact": [
        "id",
        "dealer_code",
        "customer_id",
        "lead_id",
        "lead_type",
        "department_id",
        "contact_type",
        "contact_subtype",
        "description",
        "traffic_origin",
        "status",
        "assigned_user_id",
        "distribution_owner_user_id",
        "interest_model",
        "interest_model_year",
        "interest_version",
        "lead_source",
        "lead_comments",
        "gm_stage",
        "gm_substage",
        "gm_modstamp",
        "gm_created_at",
    ],
    "gmcrm.trigger_outbox": [
        "id",
        "dealer_code",
        "lead_id",
        "contact_id",
        "trigger_code",
        "user_id",
        "source_table",
        "source_id",
    ],
    "dms.parts_counter_service": ["id", "dealer_code", "contact_id", "customer_id", "salesperson_user_id"],
    "dms.internal_mail": ["id", "dealer_code", "to_user_id", "contact_id", "subject", "body"],
}

_TYPES = (
    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
)


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by a PostgreSQL backend of this machine (None when the
    server is remote and its /proc is not ours)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Floor:
    rows: dict[str, int]
    python_s: float
    backend_s: float | None
    wall_s: float

    @property
    def cpu_s(self) -> float | None:
        """The processes' and their backends' CPU seconds (None: the backends' were not measured)."""
        return None if self.backend_s is None else self.backend_s + self.python_s


def seeded_max_ids(url: str) -> dict[str, int]:
    """The highest id of each floor table in a freshly seeded database: rows above it are the run's."""
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in FLOOR_TABLES}  # type: ignore[index]


def read_run_rows(loaded_url: str, above: dict[str, int]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows the import wrote (ids above the seed's), as Python tuples, ready to COPY (not timed)."""
    with psycopg.connect(loaded_url) as conn:
        return {
            table: conn.execute(
                f"SELECT {', '.join(cols)} FROM {table} WHERE id > %s ORDER BY id", (above[table],)
            ).fetchall()
            for table, cols in FLOOR_TABLES.items()
        }


# The rows to COPY, set before the workers are forked (they inherit them instead of receiving a pickle).
_ROWS: dict[str, list[tuple[Any, ...]]] = {}


def _copy_part(job: tuple[str, int, int]) -> tuple[float, float | None, float]:
    """One worker: COPY the rows of its share of the dealerships (every table's second column is
    dealer_code) in one transaction; returns its CPU seconds, its backend's, and its wall time."""
    url, part, parts = job
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        types: dict[str, dict[str, str]] = {t: dict(conn.execute(_TYPES, (t,)).fetchall()) for t in FLOOR_TABLES}
        mine = {t: [r for r in rows if hash(r[1]) % parts == part] for t, rows in _ROWS.items()}
        conn.commit()
        pid = conn.info.backend_pid
        backend0, cpu0, wall0 = backend_cpu(pid), time.process_time(), time.perf_counter()
        with conn.cursor() as cur:
            for table, cols in FLOOR_TABLES.items():
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types([types[table][c] for c in cols])
                    for row in mine[table]:
                        copy.write_row(row)
        conn.commit()
        python_s, wall_s, backend1 = time.process_time() - cpu0, time.perf_counter() - wall0, backend_cpu(pid)
    return python_s, (backend1 - backend0 if backend0 is not None and backend1 is not None else None), wall_s


def copy_floor(url: str, rows: dict[str, list[tuple[Any, ...]]], workers: int) -> Floor:
    """COPY the rows into the database at ``url`` (empty of them), shared by dealership between as many
    processes as the load used, each with its own connection, at the same time (the load's own
    contention for the cores is met again); the CPU of every process and backend is summed."""
    _ROWS.clear()
    _ROWS.update(rows)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        done = list(pool.map(_copy_part, [(url, part, workers) for part in range(workers)]))
    _ROWS.clear()
    backends = [b for _p, b, _w in done]
    return Floor(
        {t: len(r) for t, r in rows.items()},
        sum(p for p, _b, _w in done),
        None if None in backends else sum(b for b in backends if b is not None),
        max(w for _p, _b, w in done),
    )
