"""What a person needs of an exception, masked: shared by the logs, the CLI and the failure records.

An exception's text often quotes the data it choked on (a database error's detail shows the failing
row; GM's error bodies quote the field values). Every text made here goes through
:func:`gmcrm.normalize.mask_text` and keeps what is not personal: the class, the message, and for
database errors the SQLSTATE, table, column and constraint.
"""

from __future__ import annotations

from collections.abc import Iterator

from gmcrm.normalize import mask_text

#: An error text long enough to keep the constraint, column and SQLSTATE, short enough for a UI cell.
MAX_ERROR_CHARS = 2000


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


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it (``raise ... from``) or what it happened during, once each."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def causes_text(exc: BaseException) -> str:
    """:func:`error_text` of the exception and of each of its causes, outermost first."""
    return " <- ".join(error_text(e) for e in chain(exc))
