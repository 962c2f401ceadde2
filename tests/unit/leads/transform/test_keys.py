"""The vectorised identifier keys (``gmcrm.leads.transform.keys``) agree with ``gmcrm.normalize`` on
thousands of generated values; ``tests/integration/sql/test_normalize_sql.py`` keeps ``normalize`` equal to
the SQL key functions (it needs PostgreSQL, so it stays with the integration tests)."""

from __future__ import annotations

import random

import pandas as pd

from gmcrm import normalize
from gmcrm.leads.transform import kernels
from gmcrm.leads.transform.keys import document_keys, email_keys, phone_keys, salesforce_id18


def _random_documents(rng: random.Random, count: int) -> list[str | None]:
    def cpf() -> str:
        d = [rng.randint(0, 9) for _ in range(9)]
        for size in (9, 10):
            d.append(sum(d[i] * (size + 1 - i) for i in range(size)) * 10 % 11 % 10)
        return "".join(map(str, d))

    def cnpj() -> str:
        d = [rng.randint(0, 9) for _ in range(12)]
        for w in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
            rest = sum(x * y for x, y in zip(d, w, strict=False)) % 11
            d.append(0 if rest < 2 else 11 - rest)
        return "".join(map(str, d))

    values: list[str | None] = [
        None,
        "",
        "   ",
        "abc",
        "000.000.000-00",
        "99999999999999",
        "١٢٣٤٥٦٧٨٩٠١",
        "5299822\x0072 5",
    ]
    for _ in range(count):
        digits = rng.choice([cpf, cnpj, lambda: "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 16)))])()
        if rng.random() < 0.3:  # break a digit
            i = rng.randrange(len(digits))
            digits = digits[:i] + str((int(digits[i]) + 1) % 10) + digits[i + 1 :]
        sep = rng.choice(["", ".", "-", " ", "/", "a"])
        values.append(sep.join([digits[:3], digits[3:6], digits[6:]]) if sep else digits)
    return values


def _random_phones(rng: random.Random, count: int) -> list[str | None]:
    values: list[str | None] = [None, "", "abc", "+", "0", "55", "5511", "(55) 3222-1234", "Tel: 11 98765-4321 (casa)"]
    for _ in range(count):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 15)))
        digits = rng.choice(["", "55", "0", "055", "00"]) + digits
        fmt = rng.choice(["{}", "+{}", "({}) {}", "{} {}-{}", "{}.{}", "＋{}", "{}\u00a0{}"])
        parts = [digits[:2], digits[2:7], digits[7:]][: fmt.count("{}")]
        if fmt.count("{}") == 1:
            parts = [digits]
        values.append(fmt.format(*parts))
    return values


def test_vectorised_document_keys_agree_with_normalize() -> None:
    values = _random_documents(random.Random(7), 3000)
    keys, kinds, valid = document_keys(kernels.cleaned(pd.Series(values, dtype=object)))
    for value, key, kind, ok in zip(values, keys, kinds, valid, strict=True):
        expected_key, expected_kind = normalize.document_key(value.strip() if value else value)
        assert (key, kind, ok) == (expected_key, expected_kind and str(expected_kind), expected_key is not None), value
    assert valid.sum() > 500  # the sample does hold valid numbers


def test_vectorised_email_keys_agree_with_normalize() -> None:
    rng = random.Random(5)
    alphabet = "ab.@@-_+1 \t\x1cçé\u00a0\u2003X"
    values: list[str | None] = [None, "", "a@b.c", "@b.com", "a@.com", "a@b.", "a@b..c", "a@.b.c", "a@b.c.", "a@b"]
    values += ["joão@exemplo.com.br", "Maria.Souza@Example.COM", "a@b@c.com", "a\u00a0b@c.com", "a@b.c\u2003d"]

    def part() -> str:
        return "" if rng.random() < 0.7 else "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))

    for _ in range(4000):  # local@domain.tld shapes, each piece possibly empty or with junk in it
        values.append(f"{part()}x{part()}@{part()}y{rng.choice(['.', '', '..'])}{part()}z{part()}")
    keys, valid = email_keys(kernels.cleaned(pd.Series(values, dtype=object)))
    for value, key, ok in zip(values, keys, valid, strict=True):
        cleaned = value.strip() if value else None
        expected = normalize.email_key(cleaned) if normalize.email_valid(cleaned) else None
        assert (key, ok) == (expected, expected is not None), repr(value)
    assert 300 < valid.sum() < len(values) - 300


def test_vectorised_phone_keys_agree_with_normalize() -> None:
    values = _random_phones(random.Random(11), 3000)
    keys, valid = phone_keys(kernels.cleaned(pd.Series(values, dtype=object)))
    for value, key, ok in zip(values, keys, valid, strict=True):
        expected = normalize.phone_key(value) if normalize.phone_valid(value) else None
        assert (key, ok) == (expected, expected is not None), value
    assert valid.sum() > 300


def test_salesforce_id18() -> None:
    assert salesforce_id18("006WD00000H4eBa") == "006WD00000H4eBaYAJ"  # the manual's example
    assert salesforce_id18("006WD00000H4eBaYAJ") == "006WD00000H4eBaYAJ"
    assert salesforce_id18("001000000000000") == "001000000000000AAA"
