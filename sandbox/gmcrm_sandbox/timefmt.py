"""Datetimes as Salesforce writes and reads them.

Salesforce stores UTC with whole seconds and renders ``2026-11-27T10:00:00.000+0000``. It reads ISO 8601
with ``Z``, ``+00:00`` or ``+0000`` and optional fractions. The sandbox keeps aware UTC ``datetime`` values
internally and converts only at the edges.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

_ISO: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$")


def format_sf(value: datetime) -> str:
    """``2026-11-27T10:00:00.000+0000``."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is implemented in C; this runs for every datetime of every record served.
    return value.replace(microsecond=0).isoformat()[:19] + ".000+0000"


def parse_sf(text: str) -> datetime:
    """Parse an ISO 8601 datetime as Salesforce accepts it; naive values are UTC. Raises ValueError.

    Fractions are dropped: Salesforce keeps datetimes to the second (milliseconds are always ``.000``).
    """
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError(f"not a datetime: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    value = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    zone = m.group(8)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset_minutes = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        value = value - timedelta(minutes=offset_minutes)
    return value


def whole_seconds(value: datetime) -> datetime:
    """UTC, microseconds dropped: the precision Salesforce stores."""
    return value.astimezone(UTC).replace(microsecond=0)
