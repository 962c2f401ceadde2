"""Identifier keys, vectorised: lead ids in their 18-character form, and the match keys of e-mails,
phones and CPF/CNPJ documents.

These are the rules of ``gmcrm.normalize`` (``email_key``/``email_valid``, ``phone_key``/
``phone_valid``, ``document_key``) re-expressed for whole columns, because once per value in Python
they would cost more than the whole rest of the transform. The database computes the same keys for
the DMS's own customers (``gmcrm.email_key``, ``gmcrm.phone_key``, ``gmcrm.digits``). Two tests keep
the three in agreement on thousands of generated values: ``tests/unit/leads/transform/test_keys.py``
(these functions against ``normalize``) and ``tests/integration/sql/test_normalize_sql.py`` (``normalize``
against the SQL functions).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from gmcrm import normalize
from gmcrm.leads.transform.kernels import (
    ALNUM,
    BoolArray,
    Bytes,
    ObjArray,
    Text,
    cleaned,
    digit_runs,
    digit_strings,
)
from gmcrm.leads.transform.schema import FIELD_LIMITS

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


def lead_ids(column: pd.Series) -> tuple[ObjArray, BoolArray]:
    """Trimmed lead ids (15-character ones in their 18-character form) and which are well formed:
    15 or 18 ASCII letters and digits."""
    text = cleaned(column)
    ids, lengths = text.values, text.lengths
    data = Bytes.of(text.texts) if text.texts else None
    if data is None:
        ok = np.fromiter(
            (v is not None and len(v) in (15, 18) and v.isascii() and v.isalnum() for v in ids), bool, len(ids)
        )
    else:
        size = data.ends - data.starts  # bytes: as many as characters when all are ASCII letters and digits
        ok = (data.count(~ALNUM[data.buffer] & (data.buffer != 0)) == 0) & ((size == 15) | (size == 18))
    short = np.flatnonzero(ok & (lengths == 15))
    if short.size:
        ids[short] = [salesforce_id18(v) for v in ids[short]]
    return ids, ok


def email_keys(emails: Text) -> tuple[ObjArray, BoolArray]:
    """``normalize.email_key`` of the e-mails that ``normalize.email_valid`` accepts (else None), and
    which those are. Validity (one '@', something before it, a dot inside the domain, no whitespace) is
    checked on the bytes for ASCII addresses; the others go through ``normalize.email_valid``."""
    n = len(emails.values)
    data = Bytes.of(emails.texts) if n else None
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


def phone_keys(phones: Text) -> tuple[ObjArray, BoolArray]:
    """Area code + number (``normalize.phone_key``) where ``normalize.phone_valid`` (else None), and
    which those are."""
    digits, starts, counts = digit_runs(phones, FIELD_LIMITS["phone"])
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
        keys[rows] = digit_strings(digits, starts[rows] + skip[rows], starts[rows] + counts[rows], 11)
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


def document_keys(documents: Text) -> tuple[ObjArray, ObjArray, BoolArray]:
    """``normalize.document_key`` of every document: the digits where the CPF/CNPJ check digits are
    valid (else None), the kind ('CPF', 'CNPJ' or None), and which are valid."""
    digits, starts, counts = digit_runs(documents, FIELD_LIMITS["document"])
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
            keys[good] = digit_strings(digits, starts[good], starts[good] + size, size)
        kinds[good] = str(kind)
        valid[good] = True
    return keys, kinds, valid
