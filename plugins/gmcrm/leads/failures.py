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

from gmcrm.normalize import mask_text

Stage = Literal["extract", "load"]

#: An error text long enough to keep the constraint, column and SQLSTATE, short enough for a UI cell.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class ImportFailure:
    dealer_code: str
    stage: str
    error: str
    failed_at: datetime
    attempts: int


def error_text(exc: BaseException) -> str:
    """What a person needs of an exception, masked: its class, message and, for database errors, the
    SQLSTATE, table, column and constraint (kept: they are names, not personal data)."""
    diag = getattr(exc, "diag", None)
    first = (diag.message_primary if diag is not None else None) or (str(exc).strip().splitlines() or [""])[0]
    parts = [f"{type(exc).__name__}: {first}".rstrip(": ")]
    if diag is not None:
        for label, value in (
            ("detail", diag.message_detail),
            ("SQLSTATE", getattr(exc, "sqlstate", None)),
            ("table", diag.table_name),
            ("column", diag.column_name),
            ("constraint", diag.constraint_name),
        ):
            if value:
                parts.append(f"{label} {value}")
    return mask_text("; ".join(parts))[:MAX_ERROR_CHARS]


def record_failure(conn: psycopg.Connection[Any], run_id: str, dealer_code: str, stage: Stage, error: str) -> None:
    """Record (or count again) a dealership's failure in this run; commits on its own."""
    text = mask_text(error)[:MAX_ERROR_CHARS]
    with conn.transaction():
        conn.execute(
            "INSERT INTO gmcrm.import_failure (run_id, dealer_code, stage, error) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (run_id, dealer_code) DO UPDATE SET stage = EXCLUDED.stage, error = EXCLUDED.error, "
            "failed_at = clock_timestamp(), attempts = gmcrm.import_failure.attempts + 1",
            (run_id, dealer_code, stage, text),
        )


def run_failures(conn: psycopg.Connection[Any], run_id: str) -> list[ImportFailure]:
    """The dealerships of ``run_id`` that failed and have not loaded since in that run."""
    rows = conn.execute("SELECT * FROM gmcrm.import_run_failures(%s)", (run_id,)).fetchall()
    return [ImportFailure(*row) for row in rows]
