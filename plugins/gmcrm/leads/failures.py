"""Import failures per run and dealership, in ``gmcrm.import_failure`` (migration 0007).

Whatever stops a dealership's import (its GM connection unusable, its staged records short, its load
raising) is written here, masked, so that the run can end failed naming the dealerships, the alert can
say why, and the operations views can show the last error without anyone opening a task log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

from gmcrm.errors import MAX_ERROR_CHARS, error_text
from gmcrm.normalize import mask_text
from gmcrm.paths import named_queries

_SQL = named_queries("import")

Stage = Literal["extract", "load"]

# error_text moved to gmcrm.errors (the logs and the CLI use it too); still importable from here.
__all__ = ["MAX_ERROR_CHARS", "ImportFailure", "error_text", "record_failure", "run_failures"]


@dataclass(frozen=True)
class ImportFailure:
    dealer_code: str
    stage: str
    error: str
    failed_at: datetime
    attempts: int


def record_failure(conn: psycopg.Connection[Any], run_id: str, dealer_code: str, stage: Stage, error: str) -> None:
    """Record (or count again) a dealership's failure in this run; commits on its own."""
    text = mask_text(error)[:MAX_ERROR_CHARS]
    with conn.transaction():
        conn.execute(
            _SQL["record_failure"],
            (run_id, dealer_code, stage, text),
        )


def run_failures(conn: psycopg.Connection[Any], run_id: str) -> list[ImportFailure]:
    """The dealerships of ``run_id`` that failed and have not loaded since in that run."""
    rows = conn.execute(_SQL["run_failures"], (run_id,)).fetchall()
    return [ImportFailure(*row) for row in rows]
