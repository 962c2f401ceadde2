"""What a GM record must be to enter ``gmcrm.lead_staging``, and what is done when it is not.

PostgreSQL refuses NUL (``\\u0000``) in ``text`` and ``jsonb``, and a string with a lone UTF-16
surrogate cannot even be encoded to send. GM's API returns both (a NUL typed into a web form, a
broken emoji cut in half): one such record used to fail the whole extract, every run, until someone
edited the lead at GM (deleting it did not help: queryAll keeps returning it). So:

- such characters are cleaned while staging, the record kept: NUL removed, a lone surrogate made
  U+FFFD (the replacement character), which is what a person would see at GM anyway;
- a record the load could still not read (a date-time outside what the DMS stores or a value GM
  never sends in that shape) is quarantined with a reason a person can act on, raw record kept in
  storable form, and the rest of the batch stages and loads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

#: A lead that cannot be staged: the reason code in ``gmcrm.lead_quarantine``.
UNREADABLE_DATE: Final = "UNREADABLE_DATE"
UNSTAGEABLE: Final = "UNSTAGEABLE"

#: The load reads date-times as pandas timestamps in nanoseconds (years 1677 to 2262); a lead
#: outside that range is GM data no one can act on in the DMS.
EARLIEST: Final = datetime(1678, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2262, 1, 1, tzinfo=UTC)
#: GM's date-time format, as strict as the load's ``%Y-%m-%dT%H:%M:%S.%f%z`` (checked by a regex, then
#: read by ``datetime.fromisoformat``: 40 times faster than ``strptime``, twice per record).
SF_DATETIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,6}(?:Z|[+-]\d\d:?\d\d)")


@dataclass(frozen=True)
class Quarantined:
    """A record kept out of staging, as a ``gmcrm.lead_quarantine`` row."""

    lead_id: str
    dealer_code: str
    reason_code: str
    reason: str
    raw_record: str  # JSON that PostgreSQL stores
    gm_modstamp: datetime | None


def clean_text(text: str) -> str:
    """``text`` without NUL and with every lone surrogate replaced by U+FFFD."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A surrogate pair split over two code points is joined again; a lone one becomes U+FFFD.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean_value(value: Any) -> Any:
    """A JSON value with every string (keys included) cleaned by :func:`clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    return value


def storable_json(record: dict[str, Any]) -> tuple[str, bool]:
    """The record as JSON PostgreSQL accepts in ``jsonb``, and whether anything had to be cleaned.

    The check costs one scan of the text (a NUL is always written ``\\u0000`` by ``json.dumps``)
    and, for non-ASCII text, one UTF-8 encoding: the common record is not copied."""
    text = json.dumps(record, ensure_ascii=False)
    if "\\u0000" not in text:
        if text.isascii():
            return text, False
        try:
            text.encode("utf-8")
            return text, False
        except UnicodeEncodeError:
            pass
    cleaned = json.dumps(clean_value(record), ensure_ascii=False)
    return cleaned, cleaned != text


def as_text_record(record: Any) -> str:
    """Last resort for a record nothing else could store: its Python text form, as ASCII, in JSON."""
    return json.dumps({"unstageable_record": ascii(record)[:1_000_000]})


def parse_stamp(value: Any) -> datetime | None:
    """GM's ``2026-11-27T10:00:00.000+0000`` as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or SF_DATETIME.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def date_problem(record: dict[str, Any], fields: dict[str, str]) -> str | None:
    """Why the record's date-times cannot be loaded (None: they can). A missing one is the load's
    to judge; one that is there must be GM's format within the years the DMS stores."""
    for logical in ("created_at", "modstamp"):
        name = fields[logical]
        value = record.get(name)
        if value is None:
            continue
        stamp = parse_stamp(value)
        if stamp is None:
            return (
                f"{name} {str(value)[:40]!r} is not a date-time as GM sends them; correct the lead at GM (it loads "
                "on its next change)"
            )
        if not EARLIEST <= stamp < LATEST:
            return (
                f"{name} {value} is outside the years the DMS stores ({EARLIEST.year}-{LATEST.year - 1}); "
                "correct the lead at GM (it loads on its next change)"
            )
    return None
