"""Schema migrations of the DMS database, applied by yoyo-migrations from ``include/sql/migrations``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from yoyo import get_backend, read_migrations

from gmcrm.paths import MIGRATIONS_DIR


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
    """Apply every pending migration, each in its own transaction; return the ids applied.

    Then load the trigger catalogue (``config/triggers.yaml``) into ``gmcrm.trigger_catalogue``:
    the capture triggers consult it, and a YAML change takes effect on the next upgrade.
    """
    with _backend(url) as backend, backend.lock():
        todo = backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))
        backend.apply_migrations(todo)
    sync_trigger_catalogue(url)
    return [m.id for m in todo]


def sync_trigger_catalogue(url: str) -> int:
    from gmcrm.catalogue.sync import sync_catalogue

    with psycopg.connect(url) as conn:
        return sync_catalogue(conn)
