"""How the pages show values: masked free text, codes as they are, times and JSON bodies.

What the pages show of customers: nothing but Lead IDs. Free text that might quote a CPF/CNPJ, e-mail or
phone (quarantine reasons, error messages, summaries) goes through :func:`masked`. The JSON bodies are
shown as recorded: the events GM receives carry stages, vehicles, trade-in plates and salesperson names,
never customer contact data.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, tzinfo
from typing import Any

from gmcrm.normalize import mask_text

EMPTY = "—"
LAST_ERROR_CHARS = 200  # the operations overview's last error: enough to know what it is


def masked(text: str, *keep: str) -> str:
    """:func:`mask_text`, leaving the given tokens (Lead IDs: their digit runs look like phones) whole."""
    tokens = [k for k in keep if k]
    if not tokens:
        return mask_text(text)
    parts = re.split("(" + "|".join(re.escape(k) for k in tokens) + ")", text)
    return "".join(part if part in tokens else mask_text(part) for part in parts)


def free_text(value: Any, *keep: str) -> str:
    """Free text that may quote customer data: masked; a dash when there is none."""
    return EMPTY if value is None or value == "" else masked(str(value), *keep)


def shown(value: Any) -> str:
    """A code, id, status or number: shown as it is; a dash when there is none."""
    return EMPTY if value is None or value == "" else str(value)


def shorten(text: str, limit: int = LAST_ERROR_CHARS) -> str:
    """A long error cut for a table (the lists and the lead log show it whole)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def format_time(value: datetime | None, tz: tzinfo | None = None) -> str:
    """A time in the DMS's time zone with its offset (the templates' ``time`` filter)."""
    if value is None:
        return EMPTY
    if tz is not None and value.tzinfo is not None:
        value = value.astimezone(tz)
    offset = value.strftime("%z")
    return value.strftime("%Y-%m-%d %H:%M:%S") + (f" {offset[:3]}:{offset[3:]}" if offset else "")


def when(value: Any, tz: tzinfo | None) -> str:
    """A time from the timeline's JSON details (ISO text) or from a column (datetime)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return shown(value)
    return format_time(value, tz) if isinstance(value, datetime) else shown(value)


def pretty_json(value: Any) -> str | None:
    """Formatted JSON (indented, accents kept); the template escapes it."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
