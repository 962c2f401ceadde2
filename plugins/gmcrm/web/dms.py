"""The pages' DMS connection: read-only, one per request, through the ``dms_postgres`` Airflow
connection. Nothing connects at import time, so every Airflow process can load the plugin without a
database. What is read is in :mod:`gmcrm.lead_log` and :mod:`gmcrm.ops_queries`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

STATEMENT_TIMEOUT = "30s"

Connect = Callable[[], "psycopg.Connection[Any]"]


def dms_connection() -> psycopg.Connection[Any]:
    from gmcrm.airflow_support import dms_connection

    return dms_connection()


@contextmanager
def read_only(connect: Connect) -> Iterator[psycopg.Connection[Any]]:
    """A DMS connection in a READ ONLY transaction with a statement timeout, closed afterwards.

    A database that is down, refusing or too slow raises ``psycopg.OperationalError``: the app answers
    it with a 503 page."""
    conn = connect()
    try:
        conn.read_only = True
        with conn.transaction():
            # The session setting of this transaction only (is_local): no statement of a page runs long.
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (STATEMENT_TIMEOUT,))
            yield conn
    finally:
        conn.close()
