"""GM CRM leads -> DMS contacts: the pure, vectorised transform.

No database, no network, no Airflow. In: a DataFrame of leads as read from GM (the logical column names
of ``config/gm_crm.yaml`` plus ``raw_record``, the record as the API returned it) and one dealership's
settings (:class:`DealerContext`) for :func:`transform_leads`, or the settings of many for
:func:`transform_many` (one pass over the leads of all of them; a result per dealership, the same as
:func:`transform_leads` gives for its rows alone; :func:`transform_group` the same kept whole, one frame
per table with a ``dealer_code`` column, which is what the loader uses). Out (:class:`TransformResult`,
per dealership):

* ``leads``: one loadable row per lead with what the loader writes to ``dms.customer`` and
  ``dms.contact`` (columns and nullable dtypes: :data:`LEAD_COLUMNS`, ready for COPY);
* ``quarantine``: leads that cannot become a contact, with a reason a person can act on
  (:data:`QUARANTINE_COLUMNS`, rows of ``gmcrm.lead_quarantine``);
* ``deleted``: leads deleted at GM (:data:`DELETED_COLUMNS`); the loader marks the known ones.

Rules (shared/spec/dms.md "From lead to customer and contact" and "Routing"), with the choices made:

* Re-reads: one row per lead, the newest ``modstamp`` (on a tie, the row read last). 15-character
  Salesforce Ids are turned into their 18-character form so one lead is one contact whichever form GM
  sent. Deleted leads (``is_deleted``) are split off before any check and never quarantined.
* The dealer code is compared case-insensitively (SOQL compares strings that way, so the read returns
  ``br0001`` for ``BR0001``); the output carries the dealership's own spelling.
* The lead type matches the picklist values of ``gm_crm.yaml`` trimmed and case-insensitively.
* Identifiers: the document is kept (digits only) when its CPF/CNPJ check digits are valid; an invalid
  one is neither matched nor stored, but written into the description. E-mail and phones are kept as
  given (trimmed); their match keys (``email_key``, ``phone_key``, ``mobile_phone_key``) are set only
  when the value is a plausible e-mail / Brazilian number with area code, so junk never matches.
* Name and reachability: a lead with no name (first and last empty) AND no valid e-mail, phone, mobile
  or document is quarantined: nobody could find or call that customer. A lead with a name but no way to
  reach the customer still loads (the dealership can work it, and GM may complete it). A lead with a
  way to reach but no name loads with the customer name ``Cliente do Lead GM <lead id>`` (the DMS needs
  a name; the basic customer is completed by the dealership anyway).
* ``person_type``: ``J`` for a valid CNPJ, ``F`` for a valid CPF; without a valid document ``J`` when
  only the last name is given (GM's company leads), else ``F``.
* ``department_id``: the receiving user's department; for used vehicles the department of the contact
  settings when set, else the user's.
* Routing ``DIRECT``: ``status IN_QUEUE`` and ``assigned_user_id``; ``DISTRIBUTION``: ``status
  AWAITING_DISTRIBUTION`` and ``distribution_owner_user_id`` (the other one null).
* Field lengths (:data:`FIELD_LIMITS`, the GM field types) are checked on the trimmed value.
* Quarantine: every problem of a lead in one reason (``; ``-separated), the first code in
  :class:`Reason` order wins. Reasons name the GM field (API name from the mapping) and the fix; they
  never contain a customer's name, document, e-mail or phone.

Speed (about 100,000 leads a second on one core of the 2-core dev machine): every column is handled as
a whole. Python touches each value once, to trim it; low-cardinality columns (lead type, stage, model,
dealer code...) are worked out once per distinct value; lead-id, e-mail, phone and CPF/CNPJ checks run
in numpy over the column's bytes. The phone and document rules are those of ``gmcrm.normalize``
re-expressed for arrays (once per value in Python they cost more than all the rest); the unit tests
keep both in agreement on thousands of generated values. E-mail keys come from ``normalize.email_key``.
Rows are never dropped mid-way (indexing costs a pass per column): all rows are worked out, and the
loadable ones taken at the end.

Many dealerships: a call costs 10-25 ms whatever its size, so a thousand small dealerships are one
call, not a thousand :func:`transform_leads` calls (100,000 leads of 1,000 dealerships: about 2 s
instead of 25 s on the dev machine). Each row gets its dealership's index; the
settings that depend on the dealership and the lead type (receiving user, department, contact type and
subtype) are small tables indexed by (dealership, lead type) with numpy, the routing and traffic
origin by dealership. The output rows are taken dealership by dealership, so that each dealership's
frames are slices of the whole; :func:`transform_group` skips cutting them (making 3,000 small frames,
and the garbage collection their objects set off, is about a third of a :func:`transform_many` call).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from gmcrm import normalize
from gmcrm.gm_mapping import GmMapping

ObjArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

LEAD_TYPES: Final = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")
ROUTINGS: Final = ("DIRECT", "DISTRIBUTION")

#: Routing -> (status of a new contact, the column that gets the receiving user).
ROUTING_TARGET: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "DIRECT": ("IN_QUEUE", "assigned_user_id"),
        "DISTRIBUTION": ("AWAITING_DISTRIBUTION", "distribution_owner_user_id"),
    }
)

#: DMS lead type -> the ``gmcrm.dealership`` column of the user who receives it (vehicles covers both).
USER_SETTING: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NEW_VEHICLE": "vehicles_user_id",
        "USED_VEHICLE": "vehicles_user_id",
        "SERVICE": "service_user_id",
        "PARTS": "parts_user_id",
        "AFTER_SALES": "after_sales_user_id",
    }
)

#: First line of the contact's description, by DMS lead type (manual; "Oficina" for service is the
#: spec's choice, the manual prints "Peças" there).
DESCRIPTION_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NEW_VEHICLE": "Contato de Vendas criado a partir do Lead CRM",
        "USED_VEHICLE": "Contato de Vendas criado a partir do Lead CRM",
        "PARTS": "Contato de Peças criado a partir do Lead GM",
        "SERVICE": "Contato de Oficina criado a partir do Lead GM",
        "AFTER_SALES": "Contato de After Sales criado a partir do Lead GM",
    }
)

#: Labels of the description's further lines, each written only when it has a value.
DESCRIPTION_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "interest": "Produto de interesse: ",
        "comments": "Comentários: ",
        "invalid_document": "Documento informado (inválido): ",
    }
)

#: The customer name of a lead that has a way to reach the customer but no name.
NAMELESS_CUSTOMER: Final = "Cliente do Lead GM {lead_id}"

#: Longest value the DMS takes, by logical field (the GM field types of gm-crm-api.md).
FIELD_LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "first_name": 80,
        "last_name": 80,
        "email": 80,
        "phone": 40,
        "mobile_phone": 40,
        "document": 20,
        "model": 80,
        "model_year": 4,
        "trim": 80,
        "lead_source": 40,
    }
)

UTC_TIMESTAMP: Final = pd.DatetimeTZDtype(unit="us", tz="UTC")

#: Output columns of ``TransformResult.leads``, in order, with their dtypes.
LEAD_COLUMNS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "lead_id": "string",
        "dealer_code": "string",
        "lead_type": "string",
        "is_open": "boolean",
        "customer_name": "string",
        "person_type": "string",
        "document": "string",
        "email": "string",
        "email_key": "string",
        "phone": "string",
        "phone_key": "string",
        "mobile_phone": "string",
        "mobile_phone_key": "string",
        "contact_type": "string",
        "contact_subtype": "string",
        "department_id": "Int64",
        "traffic_origin": "string",
        "status": "string",
        "assigned_user_id": "Int64",
        "distribution_owner_user_id": "Int64",
        "description": "string",
        "interest_model": "string",
        "interest_model_year": "string",
        "interest_version": "string",
        "lead_source": "string",
        "lead_comments": "string",
        "gm_stage": "string",
        "gm_substage": "string",
        "gm_modstamp": UTC_TIMESTAMP,
        "gm_created_at": UTC_TIMESTAMP,
    }
)

#: Output columns of ``TransformResult.quarantine`` (``raw_record``: the API record, a dict).
QUARANTINE_COLUMNS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "lead_id": "string",
        "dealer_code": "string",
        "reason_code": "string",
        "reason": "string",
        "raw_record": "object",
        "gm_modstamp": UTC_TIMESTAMP,
    }
)

#: Output columns of ``TransformResult.deleted``.
DELETED_COLUMNS: Final[Mapping[str, Any]] = MappingProxyType({"lead_id": "string", "gm_modstamp": UTC_TIMESTAMP})

#: Logical input columns (``raw_record`` aside); a missing one is read as all empty.
INPUT_COLUMNS: Final = (
    "lead_id",
    "dealer_code",
    "lead_type",
    "stage",
    "substage",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile_phone",
    "document",
    "model",
    "model_year",
    "trim",
    "comments",
    "lead_source",
    "created_at",
    "modstamp",
    "is_deleted",
)


class Reason(StrEnum):
    """Quarantine reason codes, in priority order: a lead's first problem names its code."""

    DEALER_MISMATCH = "DEALER_MISMATCH"
    BAD_LEAD_ID = "BAD_LEAD_ID"
    UNKNOWN_LEAD_TYPE = "UNKNOWN_LEAD_TYPE"
    NO_NAME_NO_CONTACT = "NO_NAME_NO_CONTACT"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    NO_USER = "NO_USER"
    NO_CONTACT_SETTING = "NO_CONTACT_SETTING"


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class UserRef:
    """A DMS user (``dms.app_user``) who receives leads, with the department the contact gets."""

    id: int
    department_id: int | None = None


@dataclass(frozen=True)
class ContactSetting:
    """``gmcrm.contact_setting`` for one lead type (``department_id``: used vehicles only)."""

    contact_type: str
    contact_subtype: str
    department_id: int | None = None


@dataclass(frozen=True)
class DealerContext:
    """One dealership's settings as the transform needs them.

    ``users`` and ``contact_settings`` are keyed by DMS lead type; a lead type without a receiving
    user or without contact settings is absent (its leads are quarantined).
    """

    dealer_code: str
    routing: str
    traffic_origin: str | None = None
    users: Mapping[str, UserRef] = field(default_factory=dict)
    contact_settings: Mapping[str, ContactSetting] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.routing not in ROUTING_TARGET:
            raise ValueError(f"routing must be one of {', '.join(ROUTINGS)}, not {self.routing!r}")
        for name in ("users", "contact_settings"):
            keys = set(getattr(self, name))
            unknown = keys - set(LEAD_TYPES)
            if unknown:
                raise ValueError(f"{name}: unknown lead type(s) {', '.join(sorted(unknown))}")
            # Frozen all the way down: nobody changes a context that a transform is using.
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @classmethod
    def from_dicts(
        cls,
        dealership: Mapping[str, Any],
        user_departments: Mapping[int, int | None] | None = None,
        contact_settings: Iterable[Mapping[str, Any]] = (),
    ) -> DealerContext:
        """From plain rows: a ``gmcrm.dealership`` row (``dealer_code``, ``routing``,
        ``traffic_origin``, ``vehicles_user_id``, ``parts_user_id``, ``service_user_id``,
        ``after_sales_user_id``), the departments of users by id (``dms.app_user.department_id``; a
        user not in it has none) and ``gmcrm.contact_setting`` rows (``lead_type``,
        ``contact_type``, ``contact_subtype``, ``department_id``). Rows of another dealership are
        ignored."""
        code = str(dealership["dealer_code"])
        departments = user_departments or {}
        users: dict[str, UserRef] = {}
        for lead_type, column in USER_SETTING.items():
            user_id = dealership.get(column)
            if user_id is not None:
                users[lead_type] = UserRef(int(user_id), _int_or_none(departments.get(int(user_id))))
        settings: dict[str, ContactSetting] = {}
        for row in contact_settings:
            if row.get("dealer_code", code) != code:
                continue
            settings[str(row["lead_type"])] = ContactSetting(
                contact_type=str(row["contact_type"]),
                contact_subtype=str(row["contact_subtype"]),
                department_id=_int_or_none(row.get("department_id")),
            )
        return cls(
            dealer_code=code,
            routing=str(dealership.get("routing") or "DIRECT"),
            traffic_origin=dealership.get("traffic_origin"),
            users=users,
            contact_settings=settings,
        )


@dataclass(frozen=True, eq=False)
class TransformResult:
    leads: pd.DataFrame
    quarantine: pd.DataFrame
    deleted: pd.DataFrame
    #: Rows dropped because a newer row of the same lead was in the batch.
    duplicates: int = 0


# ---------------------------------------------------------------------------------------------
# Single values

_SF_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id18(value: str) -> str:
    """The 18-character form of a 15-character Salesforce Id (any other value is returned as is)."""
    if len(value) != 15:
        return value
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(value[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _SF_SUFFIX[bits]
    return value + suffix


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _text(value: Any) -> str | None:
    """A trimmed string, None when empty or missing (non-strings: their text, 2025.0 as 2025)."""
    if isinstance(value, str):
        return value.strip() or None
    if _missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


# ---------------------------------------------------------------------------------------------
# Whole columns. Cleaned text columns are object arrays of str, None where missing. Every pass over
# 100,000 strings costs ~10 ms here in memory latency alone, so passes are counted: each column is
# cleaned in one pass, and presence and lengths are computed once.


@dataclass(frozen=True)
class _Text:
    """A cleaned text column: ``values`` (None where missing), ``lengths`` (0 there) and ``texts``
    (the same as a list, "" where missing: what ``str.join`` takes)."""

    values: ObjArray
    lengths: IntArray
    texts: list[str]

    def within(self, width: int) -> list[str]:
        """``texts`` with the values longer than ``width`` blanked."""
        if not self.texts or int(self.lengths.max()) <= width:
            return self.texts
        return [t if len(t) <= width else "" for t in self.texts]


def _cleaned(column: pd.Series, name: bool = False) -> _Text:
    """Trimmed text, None when missing or empty (``name``: inner runs of whitespace made one space)."""
    values = column.to_numpy(dtype=object)
    na = pd.NA
    if name:
        texts = [
            " ".join(v.split()) if v.__class__ is str else "" if v is None or v is na or v != v else _text(v) or ""
            for v in values
        ]
    else:
        texts = [
            v.strip() if v.__class__ is str else "" if v is None or v is na or v != v else _text(v) or ""
            for v in values
        ]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    out[lengths == 0] = None
    return _Text(out, lengths, texts)


def _strings(column: pd.Series, name: bool = False) -> ObjArray:
    return _cleaned(column, name).values


def _present(values: ObjArray) -> BoolArray:
    return np.asarray(pd.notna(values), dtype=np.bool_)


def _joined(first: ObjArray, second: ObjArray) -> ObjArray:
    """Element-wise ``first second`` of the present parts; None where neither is."""
    out = np.empty(len(first), dtype=object)
    out[:] = [f"{a} {b}" if a is not None and b is not None else a or b for a, b in zip(first, second, strict=True)]
    return out


@dataclass(frozen=True)
class _Coded:
    """A low-cardinality column: each row's code into ``table``, the cleaned distinct values (its last
    entry, None, for code -1: missing). Anything derived from it is computed once per distinct value."""

    codes: IntArray
    table: ObjArray

    @classmethod
    def of(cls, column: pd.Series, name: bool = False) -> _Coded:
        codes, uniques = pd.factorize(column.to_numpy(dtype=object))
        table = np.empty(len(uniques) + 1, dtype=object)
        table[:-1] = _strings(pd.Series(uniques, dtype=object), name=name)
        table[-1] = None
        return cls(np.asarray(codes, dtype=np.int64), table)

    @property
    def values(self) -> ObjArray:
        return self.table[self.codes]

    def at(self, row: int) -> Any:
        return self.table[self.codes[row]]

    def derive(self, func: Callable[[Any], Any], dtype: Any = object) -> npt.NDArray[Any]:
        out = np.empty(len(self.table), dtype=dtype)
        out[:] = [func(v) for v in self.table]
        return out[self.codes]

    def mapped(self, table: ObjArray) -> _Coded:
        """The same rows over another table (one entry per entry of this one)."""
        return _Coded(self.codes, table)

    def array(self, dtype: str) -> pd.api.extensions.ExtensionArray:
        """As a pandas array: the table converted (and checked) once, then taken row by row."""
        return pd.array(self.table.tolist(), dtype=dtype).take(self.codes)

    @property
    def positions(self) -> IntArray:
        """Codes as positions in ``table`` (missing: the last one)."""
        return np.where(self.codes < 0, len(self.table) - 1, self.codes)


def _combined(parts: list[_Coded], func: Callable[..., Any]) -> ObjArray:
    """``func(*values)`` of every row, computed once per distinct combination of the coded parts."""
    key = np.zeros(len(parts[0].codes), dtype=np.int64)
    for part in parts:
        key = key * len(part.table) + part.positions
    distinct, rows = np.unique(key, return_inverse=True)
    table = np.empty(len(distinct), dtype=object)
    values = []
    for k in distinct.tolist():
        combination = []
        for part in reversed(parts):
            k, position = divmod(k, len(part.table))
            combination.append(part.table[position])
        values.append(func(*reversed(combination)))
    table[:] = values
    return table[rows]


# Byte-level checks: a column's texts joined into one UTF-8 buffer (NUL between them), examined with
# numpy, a handful of passes for the whole column instead of Python per value. Non-ASCII characters
# are bytes >= 0x80 in UTF-8, never mistaken for ASCII digits, letters or separators.

_ALNUM = np.zeros(256, dtype=bool)
_ALNUM[[ord(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"]] = True
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[*range(9, 14), *range(28, 33)]] = True  # what str.isspace() (and re's \s) finds in ASCII


@dataclass(frozen=True)
class _Bytes:
    buffer: npt.NDArray[np.uint8]
    starts: IntArray  # each text's first byte
    ends: IntArray  # one past each text's last byte

    @classmethod
    def of(cls, texts: list[str]) -> _Bytes | None:
        """None when a text holds a NUL itself (the caller falls back to Python for the column)."""
        buffer = np.frombuffer("\x00".join(texts).encode("utf-8"), dtype=np.uint8)
        ends = np.append(np.flatnonzero(buffer == 0), len(buffer)).astype(np.int64)
        if len(ends) != len(texts):
            return None
        return cls(buffer, np.concatenate(([0], ends[:-1] + 1)).astype(np.int64), ends)

    def cumulative(self, mask: BoolArray) -> npt.NDArray[np.int32]:
        """How many bytes before each position are in ``mask`` (one more entry than bytes)."""
        seen = np.zeros(len(mask) + 1, dtype=np.int32)  # int32: a third of the time of an int64 cumsum
        np.cumsum(mask, dtype=np.int32, out=seen[1:])
        return seen

    def rows(self, positions: IntArray) -> IntArray:
        """The text each byte position belongs to (the NUL after a text counts as the text's)."""
        return np.asarray(np.searchsorted(self.ends, positions), dtype=np.int64)

    def count(self, mask: BoolArray) -> IntArray:
        """How many bytes of each text are in ``mask`` (a sparse one, without the NULs)."""
        return np.bincount(self.rows(np.flatnonzero(mask)), minlength=len(self.ends)).astype(np.int64)

    def spaces(self) -> BoolArray:
        """The ASCII whitespace bytes."""
        low = np.flatnonzero(self.buffer <= ord(" "))  # rare apart from the NULs: look those up only
        mask = np.zeros(len(self.buffer), dtype=bool)
        mask[low] = _ASCII_SPACE[self.buffer[low]]
        return mask


def _lead_ids(column: pd.Series) -> tuple[ObjArray, BoolArray]:
    """Trimmed lead ids (15-character ones in their 18-character form) and which are well formed:
    15 or 18 ASCII letters and digits."""
    text = _cleaned(column)
    ids, lengths = text.values, text.lengths
    data = _Bytes.of(text.texts) if text.texts else None
    if data is None:
        ok = np.fromiter(
            (v is not None and len(v) in (15, 18) and v.isascii() and v.isalnum() for v in ids), bool, len(ids)
        )
    else:
        size = data.ends - data.starts  # bytes: as many as characters when all are ASCII letters and digits
        ok = (data.count(~_ALNUM[data.buffer] & (data.buffer != 0)) == 0) & ((size == 15) | (size == 18))
    short = np.flatnonzero(ok & (lengths == 15))
    if short.size:
        ids[short] = [salesforce_id18(v) for v in ids[short]]
    return ids, ok


def _email_keys(emails: _Text) -> tuple[ObjArray, BoolArray]:
    """``normalize.email_key`` of the e-mails that ``normalize.email_valid`` accepts (else None), and
    which those are. Validity (one '@', something before it, a dot inside the domain, no whitespace) is
    checked on the bytes for ASCII addresses; the others go through ``normalize.email_valid``."""
    n = len(emails.values)
    data = _Bytes.of(emails.texts) if n else None
    if data is None:
        valid = np.fromiter(map(normalize.email_valid, emails.values), dtype=bool, count=n)
    else:
        buffer, starts, ends = data.buffer, data.starts, data.ends
        at_bytes = np.flatnonzero(buffer == ord("@"))
        at_rows = data.rows(at_bytes)
        one_at = np.bincount(at_rows, minlength=n) == 1
        at = np.full(n, -1, dtype=np.int64)
        single = one_at[at_rows]
        at[at_rows[single]] = at_bytes[single]
        # The domain needs a dot with something on both sides: a dot in bytes at+2 .. end-2.
        dot_bytes = np.flatnonzero(buffer == ord("."))
        dot_rows = data.rows(dot_bytes)
        inner = (at[dot_rows] >= 0) & (dot_bytes >= at[dot_rows] + 2) & (dot_bytes <= ends[dot_rows] - 2)
        dot_inside = np.zeros(n, dtype=bool)
        dot_inside[dot_rows[inner]] = True
        valid = one_at & (at > starts) & dot_inside & (data.count(data.spaces()) == 0)
        other = np.flatnonzero(data.count(buffer >= 0x80) > 0)
        if other.size:
            valid[other] = [normalize.email_valid(v) for v in emails.values[other]]
    keys = np.full(n, None, dtype=object)
    rows = np.flatnonzero(valid)
    keys[rows] = list(map(normalize.email_key, emails.values[rows]))
    return keys, valid


# Phones and documents: the digit rules of gmcrm.normalize (digits, phone_key, phone_valid,
# document_key) in numpy, because once per value in Python they would cost more than the whole rest
# of the transform. tests/unit/test_lead_transform.py keeps the two in agreement (e-mail validity too).


Digits = npt.NDArray[np.uint8]


def _digit_runs(text: _Text, width: int) -> tuple[Digits, IntArray, IntArray]:
    """The ASCII digits (0-9) of all values, concatenated, with each value's start and count. Values
    longer than ``width`` (quarantined as too long anyway) count as having none."""
    texts = text.within(width)
    data = _Bytes.of(texts) if texts else None
    if data is None:
        if not texts:
            return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return _digit_runs(_cleaned(pd.Series([t.replace("\x00", "") for t in texts], dtype=object)), width)
    is_digit = (data.buffer - ord("0")) < 10
    seen = data.cumulative(is_digit)
    starts = seen[data.starts].astype(np.int64)
    digits = data.buffer[is_digit] - np.uint8(ord("0"))
    return digits, starts, seen[data.ends].astype(np.int64) - starts


def _digit_strings(digits: Digits, starts: IntArray, stops: IntArray, width: int) -> ObjArray:
    """``digits[start:stop]`` of every row as a string (at most ``width`` digits), built in numpy."""
    positions = starts[:, None] + np.arange(width)
    chars = digits[np.minimum(positions, max(len(digits) - 1, 0))].astype(np.uint32) + ord("0")
    chars[positions >= stops[:, None]] = 0  # NUL padding: dropped when numpy makes the str objects
    return np.asarray(chars.view(f"<U{width}").reshape(-1).astype(object), dtype=object)


def _phone_keys(phones: _Text) -> tuple[ObjArray, BoolArray]:
    """Area code + number (``normalize.phone_key``) where ``normalize.phone_valid`` (else None), and
    which those are."""
    digits, starts, counts = _digit_runs(phones, FIELD_LIMITS["phone"])
    padded = np.append(digits.astype(np.int64), [-1, -1])  # reading one or two past the end is harmless
    first = np.where(counts > 0, padded[np.minimum(starts, len(digits))], -1)
    second = np.where(counts > 1, padded[np.minimum(starts + 1, len(digits))], -1)
    country = ((counts == 12) | (counts == 13)) & (first == 5) & (second == 5)
    trunk = ~country & ((counts == 11) | (counts == 12)) & (first == 0)
    skip = np.where(country, 2, np.where(trunk, 1, 0))
    valid = ((counts - skip) == 10) | ((counts - skip) == 11)
    rows = np.flatnonzero(valid)
    keys = np.full(len(phones.values), None, dtype=object)
    if rows.size:
        keys[rows] = _digit_strings(digits, starts[rows] + skip[rows], starts[rows] + counts[rows], 11)
    return keys, valid


_CPF_W1 = np.arange(10, 1, -1)
_CPF_W2 = np.arange(11, 1, -1)
_CNPJ_W1 = np.array([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
_CNPJ_W2 = np.array([6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])


def _cpf_ok(d: npt.NDArray[np.int64]) -> BoolArray:
    first = (d[:, :9] @ _CPF_W1) * 10 % 11 % 10
    second = (d[:, :10] @ _CPF_W2) * 10 % 11 % 10
    return np.asarray((first == d[:, 9]) & (second == d[:, 10]), dtype=bool)


def _cnpj_ok(d: npt.NDArray[np.int64]) -> BoolArray:
    def check(total: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        rest = total % 11
        return np.where(rest < 2, 0, 11 - rest)

    first = check(d[:, :12] @ _CNPJ_W1)
    second = check(d[:, :13] @ _CNPJ_W2)
    return np.asarray((first == d[:, 12]) & (second == d[:, 13]), dtype=bool)


def _document_keys(documents: _Text) -> tuple[ObjArray, ObjArray, BoolArray]:
    """``normalize.document_key`` of every document: the digits where the CPF/CNPJ check digits are
    valid (else None), the kind ('CPF', 'CNPJ' or None), and which are valid."""
    digits, starts, counts = _digit_runs(documents, FIELD_LIMITS["document"])
    n = len(documents.values)
    keys = np.full(n, None, dtype=object)
    kinds = np.full(n, None, dtype=object)
    valid = np.zeros(n, dtype=bool)
    for size, check, kind in ((11, _cpf_ok, normalize.DocumentKind.CPF), (14, _cnpj_ok, normalize.DocumentKind.CNPJ)):
        rows = np.flatnonzero(counts == size)
        if rows.size == 0:
            continue
        matrix = digits[starts[rows][:, None] + np.arange(size)].astype(np.int64)
        repeated = (matrix == matrix[:, :1]).all(axis=1)
        good = rows[check(matrix) & ~repeated]
        if good.size:
            keys[good] = _digit_strings(digits, starts[good], starts[good] + size, size)
        kinds[good] = str(kind)
        valid[good] = True
    return keys, kinds, valid


def _timestamps(column: pd.Series) -> pd.Series:
    """UTC timestamps in microseconds (naive values are taken as UTC)."""
    return pd.to_datetime(column, utc=True).astype(UTC_TIMESTAMP)


def _flags(column: pd.Series) -> BoolArray:
    return np.asarray(column.astype("boolean").fillna(False), dtype=bool)


def _string(values: ObjArray) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype="string")


def _empty(columns: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


# ---------------------------------------------------------------------------------------------
# The transform


def transform_leads(raw: pd.DataFrame, ctx: DealerContext, mapping: GmMapping) -> TransformResult:
    """Leads read from GM for ``ctx``'s dealership -> loadable leads, quarantine and deletions.

    Rows of another dealer code are quarantined (``DEALER_MISMATCH``). The same code path as
    :func:`transform_many`, with one context."""
    return transform_many(raw, {ctx.dealer_code: ctx}, mapping)[ctx.dealer_code]


def transform_many(
    raw: pd.DataFrame, contexts: Mapping[str, DealerContext], mapping: GmMapping
) -> dict[str, TransformResult]:
    """The leads of many dealerships in one pass: per dealer code (every key of ``contexts``, keyed by
    its ``dealer_code``), what :func:`transform_leads` gives for that dealership's rows alone.

    A row belongs to the context whose dealer code its ``dealer_code`` is (trimmed, compared
    case-insensitively); duplicates are found per dealership. The per-call cost is paid once for the
    whole batch, and the settings of the dealerships are looked up as arrays (dealership x lead type).

    Rows of a dealer code that no context has: with ONE context they are that dealership's
    ``DEALER_MISMATCH`` quarantine (what :func:`transform_leads` does); with several they could belong
    to no result, so a ``ValueError`` names their codes and nothing is transformed. The import never
    passes such rows: it reads staging by dealer code, and staging holds each record under its own.
    """
    batch = _transform_batch(raw, contexts, mapping)
    count = len(batch.codes)
    parts = zip(
        _split(batch.leads, batch.leads_group, count),
        _split(batch.quarantine, batch.quarantine_group, count),
        _split(batch.deleted, batch.deleted_group, count),
        batch.duplicates,
        strict=True,
    )
    return {
        code: TransformResult(leads=part, quarantine=quarantine, deleted=gone, duplicates=duplicates)
        for code, (part, quarantine, gone, duplicates) in zip(batch.codes, parts, strict=True)
    }


@dataclass(frozen=True)
class GroupResult:
    """:func:`transform_group`'s result: what :func:`transform_many` gives, kept whole. Each frame holds
    the rows of every dealership (dealership by dealership, input order within one) with a
    ``dealer_code`` column; ``duplicates`` is per dealer code."""

    codes: tuple[str, ...]
    leads: pd.DataFrame
    quarantine: pd.DataFrame
    deleted: pd.DataFrame
    duplicates: dict[str, int]


def transform_group(raw: pd.DataFrame, contexts: Mapping[str, DealerContext], mapping: GmMapping) -> GroupResult:
    """:func:`transform_many` without cutting the result by dealership, for a loader that puts the
    whole group in one table anyway (cutting and gluing back cost as much as half the transform)."""
    batch = _transform_batch(raw, contexts, mapping)
    codes = np.asarray(batch.codes, dtype=object)
    return GroupResult(
        codes=batch.codes,
        leads=batch.leads.reset_index(drop=True),
        quarantine=batch.quarantine.reset_index(drop=True).assign(dealer_code=_string(codes[batch.quarantine_group])),
        deleted=batch.deleted.assign(dealer_code=_string(codes[batch.deleted_group])),
        duplicates=dict(zip(batch.codes, batch.duplicates, strict=True)),
    )


@dataclass(frozen=True)
class _Batch:
    """What :func:`transform_many` returns, before it is cut by dealership: the rows of each frame
    dealership by dealership (``*_group``: each row's index into ``codes``), the duplicates per
    dealership."""

    codes: tuple[str, ...]
    leads: pd.DataFrame
    leads_group: IntArray
    quarantine: pd.DataFrame
    quarantine_group: IntArray
    deleted: pd.DataFrame
    deleted_group: IntArray
    duplicates: list[int]


def _transform_batch(raw: pd.DataFrame, contexts: Mapping[str, DealerContext], mapping: GmMapping) -> _Batch:
    dealers = _Dealers.of(contexts)
    count = len(dealers.codes)
    frame = raw.reindex(columns=[*INPUT_COLUMNS, *(["raw_record"] if "raw_record" in raw else [])])
    frame = frame.reset_index(drop=True)
    if frame.empty:
        none = np.zeros(0, dtype=np.int64)
        empty = (_empty(LEAD_COLUMNS), _empty(QUARANTINE_COLUMNS), _empty(DELETED_COLUMNS))
        return _Batch(dealers.codes, empty[0], none, empty[1], none, empty[2], none, [0] * count)
    dealer = _Coded.of(frame["dealer_code"])
    group, dealer_ok = dealers.assign(dealer)
    ids, ids_ok = _lead_ids(frame["lead_id"])
    stamps = _timestamps(frame["modstamp"])
    newest = _newest(ids, group, stamps)
    gone = _flags(frame["is_deleted"])
    live = newest & ~gone

    # Every column is worked out for all rows (a row dropped here is rare; indexing costs a pass).
    leads = _Leads(frame, ids, ids_ok, dealer, group, dealer_ok, dealers, mapping)
    problems = leads.problems()
    bad = np.zeros(len(frame), dtype=bool)
    for _, failing, _ in problems:
        bad |= failing
    bad &= live
    # The output rows are taken dealership by dealership (in input order within one), so that each
    # dealership's rows are one slice of the whole.
    loadable, held, deleted = (
        _by_group(rows, group, count) for rows in (live & ~bad, bad, newest & gone & _present(ids))
    )
    return _Batch(
        codes=dealers.codes,
        leads=leads.frame(loadable, stamps, _timestamps(frame["created_at"])),
        leads_group=group[loadable],
        quarantine=_quarantine(frame, leads, stamps, problems, held, mapping),
        quarantine_group=group[held],
        deleted=pd.DataFrame({"lead_id": _string(ids[deleted]), "gm_modstamp": stamps.array[deleted]}),
        deleted_group=group[deleted],
        duplicates=np.bincount(group[~newest], minlength=count).tolist(),
    )


def _by_group(rows: BoolArray, groups: IntArray, count: int) -> IntArray:
    """The positions of ``rows``, those of dealership 0 first, then 1...; in input order within one."""
    idx = np.flatnonzero(rows)
    return idx if count == 1 else idx[np.argsort(groups[idx], kind="stable")]


def _split(frame: pd.DataFrame, groups: IntArray, count: int) -> list[pd.DataFrame]:
    """``frame`` (its rows ordered by ``groups``, 0 .. count-1) cut into one frame per group, each with
    a RangeIndex. A slice is a frame of its own (copy-on-write): setting its index changes no other."""
    if count == 1:
        return [frame]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(groups, minlength=count)))).tolist()
    empty = frame.iloc[0:0]
    parts = []
    for start, stop in itertools.pairwise(bounds):
        if start == stop:  # (most dealerships have no quarantine and no deletions: half the cost)
            parts.append(empty.copy(deep=False))
            continue
        part = frame.iloc[start:stop]
        part.index = pd.RangeIndex(stop - start)
        parts.append(part)
    return parts


def _newest(lead_ids: ObjArray, groups: IntArray, stamps: pd.Series) -> BoolArray:
    """The rows to keep: per lead of a dealership the newest stamp (on a tie the row read last). Rows
    without a lead id are all kept (they are quarantined)."""
    codes, uniques = pd.factorize(lead_ids)  # missing ids: -1
    keys = pd.Series(np.where(codes < 0, -1, groups * max(len(uniques), 1) + codes))
    keep = np.ones(len(keys), dtype=bool)
    if not keys.duplicated().any():
        return keep
    ticks = stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[us]").view(np.int64)  # NaT lowest
    order = np.argsort(ticks, kind="stable")
    in_order = keys.iloc[order]
    keep[order] = ~(in_order.duplicated(keep="last").to_numpy() & (in_order.to_numpy() >= 0))
    return keep


#: A lead type's column in the tables of :class:`_Dealers` (any other code: the last column, that of
#: no user and no contact settings).
_TYPE_INDEX: Final[Mapping[str, int]] = MappingProxyType({code: i for i, code in enumerate(LEAD_TYPES)})


@dataclass(frozen=True)
class _Dealers:
    """The contexts of a batch as small arrays: one row per dealership (in the order of ``codes``), for
    the per-lead-type ones a column per :data:`LEAD_TYPES` entry and a last one for an unknown type.
    A lead's settings are then one numpy lookup at (dealership, lead type), whatever the batch size."""

    contexts: tuple[DealerContext, ...]
    codes: tuple[str, ...]
    direct: BoolArray  # routing DIRECT (else DISTRIBUTION)
    has_user: BoolArray
    user_id: IntArray
    has_setting: BoolArray
    contact_type: ObjArray
    contact_subtype: ObjArray
    department_id: IntArray
    has_department: BoolArray

    @classmethod
    def of(cls, contexts: Mapping[str, DealerContext]) -> _Dealers:
        seen: dict[str, str] = {}
        for code, ctx in contexts.items():
            if code != ctx.dealer_code:
                raise ValueError(f"contexts: key {code!r} is not the dealer code of its context ({ctx.dealer_code!r})")
            other = seen.setdefault(code.casefold(), code)
            if other != code:
                raise ValueError(f"contexts: dealer codes {other!r} and {code!r} differ only in case")
        shape = (len(contexts), len(LEAD_TYPES) + 1)
        has_user, has_setting, has_department = (np.zeros(shape, dtype=bool) for _ in range(3))
        user_id, department_id = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        contact_type, contact_subtype = np.full(shape, None, dtype=object), np.full(shape, None, dtype=object)
        for row, ctx in enumerate(contexts.values()):
            for code, column in _TYPE_INDEX.items():
                user, setting = ctx.users.get(code), ctx.contact_settings.get(code)
                if user is not None:
                    has_user[row, column], user_id[row, column] = True, user.id
                if setting is not None:
                    has_setting[row, column] = True
                    contact_type[row, column] = setting.contact_type
                    contact_subtype[row, column] = setting.contact_subtype
                # The receiving user's department; for used vehicles the settings' one when set.
                department = user.department_id if user is not None else None
                if code == "USED_VEHICLE" and setting is not None and setting.department_id is not None:
                    department = setting.department_id
                if department is not None:
                    has_department[row, column], department_id[row, column] = True, department
        return cls(
            contexts=tuple(contexts.values()),
            codes=tuple(contexts),
            direct=np.array([ctx.routing == "DIRECT" for ctx in contexts.values()], dtype=bool),
            has_user=has_user,
            user_id=user_id,
            has_setting=has_setting,
            contact_type=contact_type,
            contact_subtype=contact_subtype,
            department_id=department_id,
            has_department=has_department,
        )

    def assign(self, dealer: _Coded) -> tuple[IntArray, BoolArray]:
        """Each row's dealership (an index into ``codes``) and whether its dealer code is that one's.
        One context takes every row (the others are its mismatches); with several, a row of no
        context's code is a ``ValueError``."""
        index = {code.casefold(): i for i, code in enumerate(self.codes)}
        matched = dealer.derive(lambda v: -1 if v is None else index.get(v.casefold(), -1), np.int64)
        if len(self.codes) == 1:
            return np.zeros(len(matched), dtype=np.int64), matched == 0
        unknown = matched < 0
        if unknown.any():
            given = sorted({repr(v) if v else "empty" for v in dealer.values[unknown]})
            shown = ", ".join(given[:20]) + (f" and {len(given) - 20} more" if len(given) > 20 else "")
            raise ValueError(
                f"{int(unknown.sum())} lead(s) of dealer codes that none of the {len(self.codes)} dealerships "
                f"has: {shown}; pass only the leads of the dealerships given"
            )
        return matched, np.ones(len(matched), dtype=bool)

    def routing(self, groups: IntArray) -> tuple[pd.api.extensions.ExtensionArray, BoolArray]:
        """Each row's new-contact status, and whether its dealership routes directly."""
        statuses = [ROUTING_TARGET[ctx.routing][0] for ctx in self.contexts]
        return pd.array(statuses, dtype="string").take(groups), self.direct[groups]


Problem = tuple[Reason, BoolArray, Callable[[int], str]]


class _Leads:
    """The cleaned columns of all rows, as object arrays, with presence masks and lengths; ``group``:
    each row's dealership (an index into ``dealers.codes``)."""

    def __init__(
        self,
        frame: pd.DataFrame,
        ids: ObjArray,
        ids_ok: BoolArray,
        dealer: _Coded,
        group: IntArray,
        dealer_ok: BoolArray,
        dealers: _Dealers,
        mapping: GmMapping,
    ):
        self.dealers = dealers
        self.mapping = mapping
        self.lead_id = ids
        self.id_ok = ids_ok
        self.group = group
        self.dealer_ok = dealer_ok
        # Few distinct values: cleaned, checked and mapped once per distinct value.
        few = ("lead_type", "stage", "substage", "model", "model_year", "trim", "lead_source")
        self.coded = {"dealer_code": dealer, **{name: _Coded.of(frame[name]) for name in few}}
        self.coded["first_name"] = _Coded.of(frame["first_name"], name=True)
        self.lengths = {
            name: column.derive(lambda v: 0 if v is None else len(v), np.int64) for name, column in self.coded.items()
        }
        # Mostly distinct values: once per value.
        cleaned = {
            name: _cleaned(frame[name], name=name == "last_name")
            for name in ("last_name", "email", "phone", "mobile_phone", "document", "comments")
        }
        self.text = {name: column.values for name, column in cleaned.items()}
        self.lengths.update({name: column.lengths for name, column in cleaned.items()})
        self.email_key, self.email_ok = _email_keys(cleaned["email"])
        self.phone_key, self.phone_ok = _phone_keys(cleaned["phone"])
        self.mobile_phone_key, self.mobile_ok = _phone_keys(cleaned["mobile_phone"])
        self.document, self.document_kind, self.document_ok = _document_keys(cleaned["document"])

        by_picklist = {picklist.strip().casefold(): code for picklist, code in mapping.lead_types.items()}
        by_type = self.coded["lead_type"]
        self.types = by_type.mapped(
            np.array([by_picklist.get(v.casefold()) if v else None for v in by_type.table], dtype=object)
        )
        # Each row's cell in the tables of _Dealers: (dealership, lead type), flattened.
        columns = len(LEAD_TYPES) + 1
        self.cell = group * columns + self.types.derive(lambda t: _TYPE_INDEX.get(t, columns - 1), np.int64)
        closed = {stage.casefold() for stage in mapping.closed_stages}
        self.is_open = self.coded["stage"].derive(lambda v: v is None or v.casefold() not in closed, bool)

    def values(self, name: str) -> ObjArray:
        """A cleaned column as GM gave it (trimmed)."""
        return self.coded[name].values if name in self.coded else self.text[name]

    def api(self, logical: str) -> str:
        """The GM API name of a logical field (what a person sees at GM)."""
        return self.mapping.lead_fields.get(logical, logical)

    def label(self, lead_type: str) -> str:
        """A DMS lead type as GM's picklist names it."""
        return next((gm for gm, code in self.mapping.lead_types.items() if code == lead_type), lead_type)

    # -- checks --------------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        """(code, failing rows, message for a failing row), in :class:`Reason` order."""
        codes, group = self.dealers.codes, self.group
        known = self.types.derive(lambda t: t is not None, bool)
        has_name = (self.lengths["first_name"] > 0) | (self.lengths["last_name"] > 0)
        reachable = self.email_ok | self.phone_ok | self.mobile_ok | self.document_ok
        picklist = ", ".join(self.mapping.lead_types)

        # Messages depend on a few distinct values (dealer code, lead type, length...): each is written
        # once, however many leads share it.
        @cache
        def dealer_text(given: str | None, dealership: str) -> str:
            return (
                f"{self.api('dealer_code')} is {repr(given) if given else 'empty'}, but the lead was read "
                f"for dealership {dealership}: correct the lead's dealer code at GM (it loads on its next change)"
            )

        def dealer(i: int) -> str:
            return dealer_text(self.coded["dealer_code"].at(i), codes[group[i]])

        def lead_id(i: int) -> str:
            given = self.lead_id[i]
            return (
                f"{self.api('lead_id')} {repr(given) + ' is not' if given else 'is empty, not'} a Salesforce "
                f"Id (15 or 18 letters and digits): report the record to GM, or correct the lead_id field in "
                f"gm_crm.yaml and run `gmcrm quarantine retry {codes[group[i]]} --reason {Reason.BAD_LEAD_ID}`"
            )

        @cache
        def lead_type_text(given: str | None, dealership: str) -> str:
            return (
                f"{f'Lead type {given!r}' if given else 'An empty lead type'} ({self.api('lead_type')}) is not "
                f"one of {picklist}: fix the lead at GM (it loads on its next change), or map the value in "
                f"gm_crm.yaml (lead.lead_types) and run `gmcrm quarantine retry {dealership} --reason "
                f"{Reason.UNKNOWN_LEAD_TYPE}`"
            )

        def lead_type(i: int) -> str:
            return lead_type_text(self.coded["lead_type"].at(i), codes[group[i]])

        nameless_text = (
            f"No customer name ({self.api('first_name')} and {self.api('last_name')} are empty) and no "
            f"valid e-mail, phone or CPF/CNPJ to reach the customer: complete the lead at GM (it loads on its "
            f"next change)"
        )

        def nameless(i: int) -> str:
            return nameless_text

        @cache
        def user_text(code: str, dealership: str) -> str:
            option = USER_SETTING[code].removesuffix("_user_id").replace("_", "-")
            return (
                f"Dealership {dealership} has no user for {self.label(code)} leads: set it with "
                f"`gmcrm dealership set {dealership} --{option}-user LOGIN` (logins: `gmcrm users list "
                f"{dealership}`) and the lead is tried again on the next run"
            )

        def user(i: int) -> str:
            return user_text(self.types.at(i), codes[group[i]])

        @cache
        def setting_text(code: str, dealership: str) -> str:
            # Only used-vehicle leads take their department from the settings (the others: their user's).
            department = (
                f" --department DEPARTMENT` (departments: `gmcrm departments list {dealership}`)"
                if code == "USED_VEHICLE"
                else "`"
            )
            return (
                f"Dealership {dealership} has no contact type and subtype for {self.label(code)} leads: set them "
                f"with `gmcrm contact-settings set {dealership} --lead-type {code} --contact-type TYPE "
                f"--contact-subtype SUBTYPE{department} and the lead is tried again on the next run"
            )

        def setting(i: int) -> str:
            return setting_text(self.types.at(i), codes[group[i]])

        @cache
        def too_long_text(logical: str, length: int) -> str:
            return (
                f"{self.api(logical)} has {length} characters, more than the {FIELD_LIMITS[logical]} the DMS "
                f"column holds: shorten it at GM (it loads on its next change)"
            )

        checks: list[Problem] = [
            (Reason.DEALER_MISMATCH, ~self.dealer_ok, dealer),
            (Reason.BAD_LEAD_ID, ~self.id_ok, lead_id),
            (Reason.UNKNOWN_LEAD_TYPE, ~known, lead_type),
            (Reason.NO_NAME_NO_CONTACT, ~has_name & ~reachable, nameless),
        ]
        for logical, limit in FIELD_LIMITS.items():
            lengths = self.lengths[logical]

            def too_long(i: int, logical: str = logical, lengths: IntArray = lengths) -> str:
                return too_long_text(logical, int(lengths[i]))

            checks.append((Reason.FIELD_TOO_LONG, lengths > limit, too_long))
        no_user = known & ~self.dealers.has_user.ravel()[self.cell]
        no_setting = known & ~self.dealers.has_setting.ravel()[self.cell]
        checks.append((Reason.NO_USER, no_user, user))
        checks.append((Reason.NO_CONTACT_SETTING, no_setting, setting))
        return checks

    # -- output --------------------------------------------------------------------------------

    def frame(self, idx: IntArray, stamps: pd.Series, created: pd.Series) -> pd.DataFrame:
        """The loadable leads (the rows at ``idx``, in that order), columns and dtypes of
        :data:`LEAD_COLUMNS`.

        Values are worked out for all rows in input order (where the values lie in memory in that
        order too), and each column is taken at ``idx`` once, at the end."""
        dealers = self.dealers
        every = idx.size == len(self.lead_id) and bool((idx[1:] > idx[:-1]).all())  # all rows, as they are

        def take(values: Any) -> Any:
            return values if every else values.take(idx)

        def text(values: ObjArray) -> pd.api.extensions.ExtensionArray:
            return take(_string(values))

        def coded(column: _Coded) -> pd.api.extensions.ExtensionArray:
            return _Coded(take(column.codes), column.table).array("string")

        group, cell = take(self.group), take(self.cell)
        # The dealership's settings for the lead's type (every loadable lead has a user and settings).
        servable = (dealers.has_user & dealers.has_setting).ravel()

        def per_type(table: ObjArray) -> pd.api.extensions.ExtensionArray:
            values = table.ravel().copy()
            values[~servable] = None
            return _Coded(cell, values).array("string")

        def per_type_int(table: IntArray, present: BoolArray) -> pd.api.extensions.ExtensionArray:
            return pd.arrays.IntegerArray(table.ravel()[cell], ~(servable & present.ravel())[cell])

        def per_dealer(values: list[Any]) -> pd.api.extensions.ExtensionArray:
            return pd.array(values, dtype="string").take(group)

        name = _joined(self.coded["first_name"].values, self.text["last_name"])
        first_length, last_length = self.lengths["first_name"], self.lengths["last_name"]
        nameless = np.flatnonzero(first_length + last_length == 0)
        name[nameless] = [NAMELESS_CUSTOMER.format(lead_id=i) for i in self.lead_id[nameless]]
        kind = self.document_kind
        only_last = (last_length > 0) & (first_length == 0)
        person = np.where(kind == "CNPJ", 1, np.where(kind == "CPF", 0, np.where(only_last, 1, 0)))

        status, direct = dealers.routing(group)
        receiving = dealers.user_id.ravel()[cell]
        unserved = ~servable[cell]
        columns: dict[str, Any] = {
            "lead_id": text(self.lead_id),
            "dealer_code": per_dealer(list(dealers.codes)),
            "lead_type": coded(self.types),
            "is_open": pd.arrays.BooleanArray(take(self.is_open), np.zeros(len(group), dtype=bool)),
            "customer_name": text(name),
            "person_type": pd.array(["F", "J"], dtype="string").take(take(person)),
            "document": text(self.document),
            "email": text(self.text["email"]),
            "email_key": text(self.email_key),
            "phone": text(self.text["phone"]),
            "phone_key": text(self.phone_key),
            "mobile_phone": text(self.text["mobile_phone"]),
            "mobile_phone_key": text(self.mobile_phone_key),
            "contact_type": per_type(dealers.contact_type),
            "contact_subtype": per_type(dealers.contact_subtype),
            "department_id": per_type_int(dealers.department_id, dealers.has_department),
            "traffic_origin": per_dealer([ctx.traffic_origin for ctx in dealers.contexts]),
            "status": status,
            "assigned_user_id": pd.arrays.IntegerArray(receiving, unserved | ~direct),
            "distribution_owner_user_id": pd.arrays.IntegerArray(receiving.copy(), unserved | direct),
            "description": text(self.description()),
            "interest_model": coded(self.coded["model"]),
            "interest_model_year": coded(self.coded["model_year"]),
            "interest_version": coded(self.coded["trim"]),
            "lead_source": coded(self.coded["lead_source"]),
            "lead_comments": text(self.text["comments"]),
            "gm_stage": coded(self.coded["stage"]),
            "gm_substage": coded(self.coded["substage"]),
            # The timestamps may be the caller's own (already UTC microseconds): taken or copied.
            "gm_modstamp": stamps.array.copy() if every else stamps.array.take(idx),
            "gm_created_at": created.array.copy() if every else created.array.take(idx),
        }
        # Every array above is new, or (untaken) one of this transform's own: no copying them again.
        return pd.DataFrame(columns, copy=False)

    def description(self) -> ObjArray:
        """Header by lead type, then product of interest, comments and an invalid document. The first
        two lines depend on low-cardinality columns only: built once per combination."""
        labels = DESCRIPTION_LABELS
        product = [self.coded[name] for name in ("model", "model_year", "trim")]

        def base(lead_type: str | None, *interest: str | None) -> str | None:
            header = DESCRIPTION_HEADERS.get(lead_type) if lead_type else None
            if header is None:
                return None
            shown = " ".join(v for v in interest if v is not None)
            return header + (f"\n{labels['interest']}{shown}" if shown else "")

        out = _combined([self.types, *product], base)
        has_comment = self.lengths["comments"] > 0
        has_invalid = (self.lengths["document"] > 0) & ~self.document_ok
        rows = np.flatnonzero(has_comment | has_invalid)
        comments = self.text["comments"][rows]
        invalid = self.text["document"][rows]
        invalid[~has_invalid[rows]] = None
        comment, document = f"\n{labels['comments']}", f"\n{labels['invalid_document']}"
        out[rows] = [
            f"{b}{comment}{c}"
            if d is None
            else f"{b}{comment}{c}{document}{d}"
            if c is not None
            else f"{b}{document}{d}"
            for b, c, d in zip(out[rows], comments, invalid, strict=True)
        ]
        return out


def _quarantine(
    frame: pd.DataFrame,
    leads: _Leads,
    stamps: pd.Series,
    problems: list[Problem],
    idx: IntArray,
    mapping: GmMapping,
) -> pd.DataFrame:
    """One row per lead that cannot load (the rows at ``idx``, in that order): all its problems in one
    reason, the first one's code."""
    if idx.size == 0:
        return _empty(QUARANTINE_COLUMNS)
    bad = np.zeros(len(frame), dtype=bool)
    bad[idx] = True
    found: dict[int, list[tuple[Reason, str]]] = {i: [] for i in idx.tolist()}
    for code, failing, message in problems:
        for i in np.flatnonzero(failing & bad).tolist():
            found[i].append((code, message(i)))
    records = frame["raw_record"].to_numpy(dtype=object) if "raw_record" in frame else np.full(len(frame), None)
    rows = idx.tolist()
    return pd.DataFrame(
        {
            "lead_id": _string(leads.lead_id[idx]),
            "dealer_code": pd.array(list(leads.dealers.codes), dtype="string").take(leads.group[idx]),
            "reason_code": pd.array([str(found[i][0][0]) for i in rows], dtype="string"),
            "reason": pd.array(["; ".join(m for _, m in found[i]) for i in rows], dtype="string"),
            "raw_record": pd.Series(
                [_record(frame, i, mapping) if _missing(records[i]) else records[i] for i in rows], dtype=object
            ),
            "gm_modstamp": stamps.array[idx],
        }
    )


def _record(frame: pd.DataFrame, i: int, mapping: GmMapping) -> dict[str, Any]:
    """A stand-in raw record (API names, JSON-ready) for a row that came without one."""
    record: dict[str, Any] = {}
    for logical in INPUT_COLUMNS:
        value = frame[logical].iloc[i]
        if _missing(value):
            value = None
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, np.generic):
            value = value.item()
        record[mapping.lead_fields.get(logical, logical)] = value
    return record
