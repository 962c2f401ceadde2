"""The match keys computed in SQL (customers' generated columns) agree with gmcrm.normalize (GM's leads)."""

from __future__ import annotations

import random

import psycopg
import pytest

from gmcrm import normalize

pytestmark = pytest.mark.integration

WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
PHONE_BITS = ["+55 ", "55", "0", "(11) ", "11", "9", "3", "-", ".", " ", "ramal ", "x", "/"]


def _values(seed: int, count: int = 3000) -> list[str]:
    rng = random.Random(seed)
    values: list[str] = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:  # phones of every shape: country code, trunk 0, punctuation, stray letters
            values.append(
                "".join(rng.choice(PHONE_BITS) + str(rng.randrange(10 ** rng.randrange(1, 9))) for _ in range(3))
            )
        elif kind == 1:  # documents, punctuated or not
            d = "".join(str(rng.randrange(10)) for _ in range(rng.choice((11, 14, 9))))
            values.append(rng.choice([d, f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}", f" {d} "]))
        else:  # e-mails with any case and any whitespace around them
            local = "".join(rng.choice("abcXYZ09._éÇ") for _ in range(rng.randrange(1, 12)))
            pad = "".join(rng.choice(WHITESPACE) for _ in range(rng.randrange(3)))
            values.append(f"{pad}{local}@Exemplo.COM.br{pad[::-1]}")
    return [*values, "", " ", "abc", "\u00a0", "55", "0"]


def test_sql_keys_agree_with_python(dms_url: str) -> None:
    values = _values(2026)
    with psycopg.connect(dms_url) as conn:
        got = conn.execute(
            "SELECT gmcrm.digits(v), gmcrm.phone_key(v), gmcrm.email_key(v) FROM unnest(%s::text[]) WITH ORDINALITY "
            "AS t(v, i) ORDER BY i",
            (values,),
        ).fetchall()
    expected = [(normalize.digits(v), normalize.phone_key(v), normalize.email_key(v)) for v in values]
    mismatches = [(v, g, e) for v, g, e in zip(values, got, expected, strict=True) if g != e]
    assert not mismatches, mismatches[:5]


def test_a_customer_email_with_a_tab_matches_the_lead(dms_url: str) -> None:
    with psycopg.connect(dms_url) as conn:
        key = conn.execute(
            "INSERT INTO dms.customer (dealer_code, name, email) VALUES ('BR0001', 'Ana', %s) RETURNING email_key",
            ("Ana.Souza@Exemplo.com.br\t\u00a0",),
        ).fetchone()
    assert key is not None and key[0] == normalize.email_key(" ana.souza@exemplo.COM.BR ")
