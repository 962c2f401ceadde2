"""The DMS schema: yoyo-migrations from ``include/sql/migrations``, then the SQL routines.

Migrations hold the schema's history (tables, columns, indexes, constraints, data fixes). Every SQL
function and trigger lives in one file of ``include/sql/routines`` with its current definition
(``CREATE OR REPLACE``), and every upgrade applies them all after the migrations, in one transaction,
in the order of the files' numeric prefixes: a change to a routine is a diff of its file, applied by
the next ``gmcrm db upgrade``; applying an unchanged one changes nothing.

Routines whose prefix is below 10 (the customer key functions) are used by the schema itself: the
generated columns of ``dms.customer`` call them, so they are applied before the migrations too (and
a migration's data fix that recomputes those columns sees the current definition).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from yoyo import get_backend, read_migrations

from gmcrm.paths import MIGRATIONS_DIR, ROUTINES_DIR

# Routines with a prefix below this are applied before the migrations as well as after.
SCHEMA_ROUTINES_BELOW = 10


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[str]
    pending: list[str]


def _yoyo_url(url: str) -> str:
    # yoyo picks its driver from the scheme; psycopg 3 is the one installed.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@contextmanager
def _backend(url: str) -> Iterator[Any]:
    backend = get_backend(_yoyo_url(url))
    try:
        yield backend
    finally:
        # yoyo keeps its connection open; a database cannot be cloned or dropped while it is.
        backend.connection.close()


def status(url: str) -> MigrationStatus:
    with _backend(url) as backend:
        return _status(backend)


def _status(backend: Any) -> MigrationStatus:
    migrations = read_migrations(str(MIGRATIONS_DIR))
    pending = {m.id for m in backend.to_apply(migrations)}
    return MigrationStatus(
        applied=[m.id for m in migrations if m.id not in pending],
        pending=[m.id for m in migrations if m.id in pending],
    )


def upgrade(url: str) -> list[str]:
    """Apply every pending migration, each in its own transaction, then every routine; return the
    ids of the migrations applied.

    Then load the trigger catalogue (``config/triggers.yaml``) into ``gmcrm.trigger_catalogue``:
    the capture triggers consult it, and a YAML change takes effect on the next upgrade.
    """
    # Under yoyo's lock (a row in its own table), so two upgrades at once do not interleave.
    with _backend(url) as backend, backend.lock():
        apply_routines(url, schema_only=True)
        todo = backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))
        backend.apply_migrations(todo)
        apply_routines(url)
    sync_trigger_catalogue(url)
    return [m.id for m in todo]


def routine_files(*, schema_only: bool = False) -> list[Path]:
    """The routine files in the order they are applied: by numeric prefix (``20.gmcrm.record_trigger.sql``)."""
    files = sorted(ROUTINES_DIR.glob("*.sql"), key=lambda p: (int(p.name.split(".", 1)[0]), p.name))
    if schema_only:
        return [p for p in files if int(p.name.split(".", 1)[0]) < SCHEMA_ROUTINES_BELOW]
    return files


def apply_routines(url: str, *, schema_only: bool = False) -> list[str]:
    """Create or replace every routine (or only those the schema uses), in one transaction.

    Returns the file names applied. A routine's functions come before the triggers that call them
    in its file, and the prefixes order files after those they call where PostgreSQL checks it
    (``LANGUAGE sql`` bodies and triggers are checked when created; PL/pgSQL bodies when run).
    """
    files = routine_files(schema_only=schema_only)
    with psycopg.connect(url) as conn:
        # The first upgrade of an empty database applies the key functions before 0001 made the schema.
        conn.execute("CREATE SCHEMA IF NOT EXISTS gmcrm")
        for path in files:
            conn.execute(path.read_text(encoding="utf-8").encode())
    return [p.name for p in files]


def sync_trigger_catalogue(url: str) -> int:
    from gmcrm.catalogue.sync import sync_catalogue

    with psycopg.connect(url) as conn:
        return sync_catalogue(conn)
