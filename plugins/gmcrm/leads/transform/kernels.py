"""The vectorised text kernels: whole columns cleaned, coded and examined with numpy and pandas.

Speed (about 100,000 leads a second on one core of the 2-core dev machine): every column is handled as
a whole. Python touches each value once, to trim it; low-cardinality columns (lead type, stage, model,
dealer code...) are worked out once per distinct value (:class:`Coded`); lead-id, e-mail, phone and
CPF/CNPJ checks (``keys``) run in numpy over the column's bytes (:class:`Bytes`). Rows are never
dropped mid-way (indexing costs a pass per column): all rows are worked out, and the loadable ones
taken at the end.

Cleaned text columns are object arrays of str, None where missing. Every pass over 100,000 strings
costs ~10 ms here in memory latency alone, so passes are counted: each column is cleaned in one pass,
and presence and lengths are computed once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.extensions import ExtensionArray

from gmcrm.leads.transform.schema import UTC_TIMESTAMP

ObjArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Digits = npt.NDArray[np.uint8]
#: A pandas column (``string``, ``Int64``... dtypes), as the output frames hold them.
StringColumn: TypeAlias = ExtensionArray


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str | None:
    """A trimmed string, None when empty or missing (non-strings: their text, 2025.0 as 2025)."""
    if isinstance(value, str):
        return value.strip() or None
    if missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


@dataclass(frozen=True)
class Text:
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


def cleaned(column: pd.Series, name: bool = False) -> Text:
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
    return Text(out, lengths, texts)


def strings(column: pd.Series, name: bool = False) -> ObjArray:
    return cleaned(column, name).values


def present(values: ObjArray) -> BoolArray:
    return np.asarray(pd.notna(values), dtype=np.bool_)


def joined(first: ObjArray, second: ObjArray) -> ObjArray:
    """Element-wise ``first second`` of the present parts; None where neither is."""
    out = np.empty(len(first), dtype=object)
    out[:] = [f"{a} {b}" if a is not None and b is not None else a or b for a, b in zip(first, second, strict=True)]
    return out


@dataclass(frozen=True)
class Coded:
    """A low-cardinality column: each row's code into ``table``, the cleaned distinct values (its last
    entry, None, for code -1: missing). Anything derived from it is computed once per distinct value."""

    codes: IntArray
    table: ObjArray

    @classmethod
    def of(cls, column: pd.Series, name: bool = False) -> Coded:
        codes, uniques = pd.factorize(column.to_numpy(dtype=object))
        table = np.empty(len(uniques) + 1, dtype=object)
        table[:-1] = strings(pd.Series(uniques, dtype=object), name=name)
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

    def mapped(self, table: ObjArray) -> Coded:
        """The same rows over another table (one entry per entry of this one)."""
        return Coded(self.codes, table)

    def array(self, dtype: str) -> pd.api.extensions.ExtensionArray:
        """As a pandas array: the table converted (and checked) once, then taken row by row."""
        return pd.array(self.table.tolist(), dtype=dtype).take(self.codes)

    @property
    def positions(self) -> IntArray:
        """Codes as positions in ``table`` (missing: the last one)."""
        return np.where(self.codes < 0, len(self.table) - 1, self.codes)


def combined(parts: list[Coded], func: Callable[..., Any]) -> ObjArray:
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

ALNUM = np.zeros(256, dtype=bool)
ALNUM[[ord(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"]] = True
ASCII_SPACE = np.zeros(256, dtype=bool)
ASCII_SPACE[[*range(9, 14), *range(28, 33)]] = True  # what str.isspace() (and re's \s) finds in ASCII


@dataclass(frozen=True)
class Bytes:
    buffer: npt.NDArray[np.uint8]
    starts: IntArray  # each text's first byte
    ends: IntArray  # one past each text's last byte

    @classmethod
    def of(cls, texts: list[str]) -> Bytes | None:
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
        mask[low] = ASCII_SPACE[self.buffer[low]]
        return mask


def digit_runs(text: Text, width: int) -> tuple[Digits, IntArray, IntArray]:
    """The ASCII digits (0-9) of all values, concatenated, with each value's start and count. Values
    longer than ``width`` (quarantined as too long anyway) count as having none."""
    texts = text.within(width)
    data = Bytes.of(texts) if texts else None
    if data is None:
        if not texts:
            return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return digit_runs(cleaned(pd.Series([t.replace("\x00", "") for t in texts], dtype=object)), width)
    is_digit = (data.buffer - ord("0")) < 10
    seen = data.cumulative(is_digit)
    starts = seen[data.starts].astype(np.int64)
    digits = data.buffer[is_digit] - np.uint8(ord("0"))
    return digits, starts, seen[data.ends].astype(np.int64) - starts


def digit_strings(digits: Digits, starts: IntArray, stops: IntArray, width: int) -> ObjArray:
    """``digits[start:stop]`` of every row as a string (at most ``width`` digits), built in numpy."""
    positions = starts[:, None] + np.arange(width)
    chars = digits[np.minimum(positions, max(len(digits) - 1, 0))].astype(np.uint32) + ord("0")
    chars[positions >= stops[:, None]] = 0  # NUL padding: dropped when numpy makes the str objects
    return np.asarray(chars.view(f"<U{width}").reshape(-1).astype(object), dtype=object)


def timestamps(column: pd.Series) -> pd.Series:
    """UTC timestamps in microseconds (naive values are taken as UTC)."""
    return pd.to_datetime(column, utc=True).astype(UTC_TIMESTAMP)


def flags(column: pd.Series) -> BoolArray:
    return np.asarray(column.astype("boolean").fillna(False), dtype=bool)


def string_array(values: ObjArray) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype="string")


def empty_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


def positions(mask: BoolArray) -> IntArray:
    """The rows where ``mask`` is true, in order."""
    return np.flatnonzero(mask)


def mask(rows: IntArray, size: int) -> BoolArray:
    """A mask of ``size`` rows, true at ``rows``."""
    out = np.zeros(size, dtype=bool)
    out[rows] = True
    return out


def select(conditions: list[BoolArray], choices: list[int], default: int) -> IntArray:
    """Per row, the choice of the first condition that holds (else ``default``)."""
    return np.asarray(np.select(conditions, choices, default), dtype=np.int64)


def per_row(values: list[Any], rows: IntArray) -> StringColumn:
    """A string array of ``values[rows[i]]``: a small table (one entry per dealership...) spread over rows."""
    return pd.array(values, dtype="string").take(rows)
