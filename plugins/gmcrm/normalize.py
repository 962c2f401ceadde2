"""Pure normalisation of Brazilian customer identifiers, and masking for logs.

The SQL functions ``gmcrm.digits``, ``gmcrm.phone_key`` (migration 0001) and ``gmcrm.email_key`` (0005)
implement the same rules inside the database; tests/integration/sql/test_normalize_sql.py keeps both
sides in agreement.
"""

from __future__ import annotations

import re
from enum import StrEnum

_NON_DIGITS = re.compile(r"[^0-9]")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class DocumentKind(StrEnum):
    CPF = "CPF"
    CNPJ = "CNPJ"


def digits(value: str | None) -> str | None:
    """Only the digits of ``value``; None when there are none."""
    if not value:
        return None
    only = _NON_DIGITS.sub("", value)
    return only or None


def _cpf_valid(d: str) -> bool:
    if len(d) != 11 or d == d[0] * 11:
        return False
    for size in (9, 10):
        total = sum(int(d[i]) * (size + 1 - i) for i in range(size))
        check = (total * 10) % 11 % 10
        if check != int(d[size]):
            return False
    return True


def _cnpj_valid(d: str) -> bool:
    if len(d) != 14 or d == d[0] * 14:
        return False
    weights_1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    weights_2 = [6, *weights_1]
    for weights, pos in ((weights_1, 12), (weights_2, 13)):
        total = sum(int(d[i]) * w for i, w in enumerate(weights))
        rest = total % 11
        check = 0 if rest < 2 else 11 - rest
        if check != int(d[pos]):
            return False
    return True


def document_key(value: str | None) -> tuple[str | None, DocumentKind | None]:
    """A CPF or CNPJ reduced to digits when its check digits are valid; (None, None) otherwise."""
    d = digits(value)
    if d is None:
        return None, None
    if len(d) == 11 and _cpf_valid(d):
        return d, DocumentKind.CPF
    if len(d) == 14 and _cnpj_valid(d):
        return d, DocumentKind.CNPJ
    return None, None


def email_key(value: str | None) -> str | None:
    """Case-insensitive, trimmed e-mail; None when empty."""
    if value is None:
        return None
    key = value.strip().lower()
    return key or None


def email_valid(value: str | None) -> bool:
    key = email_key(value)
    return key is not None and bool(_EMAIL_RE.match(key))


def phone_key(value: str | None) -> str | None:
    """Area code + number: digits only, country code 55 and a trunk 0 dropped."""
    d = digits(value)
    if d is None:
        return None
    if len(d) in (12, 13) and d.startswith("55"):
        return d[2:]
    if len(d) in (11, 12) and d.startswith("0"):
        return d[1:]
    return d


def phone_valid(value: str | None) -> bool:
    """A Brazilian number with area code: 10 (landline) or 11 (mobile) digits."""
    key = phone_key(value)
    return key is not None and len(key) in (10, 11)


# ---------------------------------------------------------------------------------------------
# Masking: logs never show a full CPF/CNPJ, e-mail or phone.

# Any run of digits and the separators people type (spaces, dots, dashes, slashes, parentheses, a
# plus) holding 8 or more digits: CPF, CNPJ and phone numbers in every format. ISO dates are kept.
# Not inside a word: Salesforce ids such as 0060S00000016QAA keep their digits.
_NUMBER_RUN = re.compile(r"(?<![A-Za-z0-9])\+?\(?\d[\d\s().\-/]{6,}\d(?![A-Za-z0-9])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# ISO dates, with a time of day or not (run ids, log timestamps), and UUIDs (Airflow's task instance
# ids): kept whole and kept apart, or their fractional seconds ("57.286220"), a number just before
# them ("tries=1 2026-...") or an all-digit UUID group would read as a number to mask.
_ISO_TIMESTAMP = re.compile(
    r"((?<![0-9])\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![0-9])"
    r"|(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f]))"
)
_EMAIL_IN_TEXT = re.compile(r"([\w.%+-])[\w.%+-]*@([\w-]+(?:\.[\w-]+)*\.\w{2,})", re.UNICODE)


def mask_document(value: str | None) -> str:
    d = digits(value) or ""
    return f"***{d[-2:]}" if d else ""


def mask_email(value: str | None) -> str:
    if not value or "@" not in value:
        return "***" if value else ""
    local, _, domain = value.strip().partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str | None) -> str:
    d = digits(value) or ""
    return f"***{d[-2:]}" if d else ""


def _mask_number(match: re.Match[str]) -> str:
    run = match.group(0)
    found = digits(run) or ""
    if len(found) < 8 or _ISO_DATE.match(run.lstrip("+(")):
        return run
    # Keep the separators' trailing whitespace so the text still reads.
    tail = run[len(run.rstrip()) :]
    return f"***{found[-2:]}{tail}"


def mask_text(text: str) -> str:
    """Mask anything in free text that looks like a CPF/CNPJ, e-mail or phone number."""
    text = _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    # re.split with a group: even items are the text between timestamps, odd items the timestamps.
    parts = _ISO_TIMESTAMP.split(text)
    parts[::2] = [_NUMBER_RUN.sub(_mask_number, part) for part in parts[::2]]
    return "".join(parts)
