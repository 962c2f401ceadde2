"""Records between JSON and the sandbox's internal form.

Internally a record is a dict keyed by canonical field names holding Python values (aware UTC ``datetime``,
``bool``, ``float``, ``str``, ``None``). JSON comes in through the admin API and the collection upsert, and
goes out in Salesforce's shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from . import ids, timefmt
from .schema import FieldDef, ObjectDef

# Field types whose JSON strings are stored unchanged.
_TEXT_AS_IS: Final = frozenset({"picklist", "textarea", "reference"})
# Salesforce trims leading and trailing ASCII whitespace from text fields on save ('BR0001 ' is stored
# 'BR0001'); other Unicode spaces (a no-break space) survive.
_ASCII_WHITESPACE: Final = " \t\n\r\x0b\x0c"


class CoercionError(ValueError):
    """A JSON value that does not fit its field. ``field`` is the canonical field name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def coerce_value(field: FieldDef, value: Any) -> Any:
    """A JSON value as the internal value of ``field``, as leniently as Salesforce's JSON reader.

    Salesforce turns numbers into text for text fields and numeric text into numbers; it refuses objects,
    arrays and booleans where they do not fit, and unparseable datetimes.
    """
    if value is None:
        return None
    kind = field.type
    if value.__class__ is str:  # the common cases, first
        if kind == "string":
            return value.strip(_ASCII_WHITESPACE)
        if kind in _TEXT_AS_IS:
            return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise CoercionError(field.name, f"Cannot deserialize instance of boolean from value {value!r}")
    if kind == "datetime":
        if isinstance(value, datetime):
            return timefmt.whole_seconds(value)
        if isinstance(value, str):
            try:
                return timefmt.parse_sf(value)
            except ValueError:
                pass
        raise CoercionError(
            field.name,
            f"Cannot deserialize instance of datetime from VALUE_STRING value {value} or request may be "
            "missing a required field",
        )
    if kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise CoercionError(field.name, f"Cannot deserialize instance of double from value {value!r}")
        try:
            return float(value)
        except ValueError:
            raise CoercionError(
                field.name, f"Cannot deserialize instance of double from VALUE_STRING value {value}"
            ) from None
    # Text, picklist and id fields.
    if isinstance(value, bool) or isinstance(value, dict | list):
        raise CoercionError(field.name, f"Cannot deserialize instance of string from {type(value).__name__} value")
    text = str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))
    if kind == "string":
        text = text.strip(_ASCII_WHITESPACE)
    # A reference (Lead__c) stays as sent: an unknown or malformed one is a per-record error, not a
    # request error, so it is checked later.
    if kind == "id":
        canonical = ids.to_18(text)
        if canonical is None:
            raise CoercionError(field.name, f"invalid id: {text}")
        return canonical
    return text


def encode_json(body: Any) -> bytes:
    """A JSON body as UTF-8. Names and comments carry accents and Salesforce sends UTF-8, not \\u
    escapes; a stored lone surrogate (which UTF-8 cannot carry) goes out as a \\u escape."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def to_json_value(value: Any) -> Any:
    """An internal value as JSON: datetimes in Salesforce's format, everything else as is."""
    if isinstance(value, datetime):
        return timefmt.format_sf(value)
    return value


def attributes(sobject: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}


def render(
    obj: ObjectDef, record: Mapping[str, Any], version: str, fields: Iterable[FieldDef] | None = None
) -> dict[str, Any]:
    """A record as the REST API returns it: ``attributes`` first, then the fields in order."""
    out: dict[str, Any] = {"attributes": attributes(obj.name, record["Id"], version)}
    for f in fields if fields is not None else obj.fields:
        out[f.name] = to_json_value(record.get(f.name))
    return out


def plain(obj: ObjectDef, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record for the admin API: every field, in schema order, no ``attributes``."""
    fmt = timefmt.format_sf
    out = {}
    for f in obj.fields:
        value = record.get(f.name)
        out[f.name] = fmt(value) if value.__class__ is datetime else value
    return out
