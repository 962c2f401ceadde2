"""Which leads of a load share a matching key with another of their dealership: the rule the load's
one-at-a-time matching is for, checked against the rule written plainly (as the load's SQL had it)."""

from __future__ import annotations

from collections import Counter

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from gmcrm.leads.transform.shared import shared_key_leads

KEY = st.one_of(st.none(), st.sampled_from(["", "1", "2", "11987654321", "ana@x.com"]))
ROW = st.tuples(st.sampled_from(["BR0001", "BR0002"]), st.booleans(), KEY, KEY, KEY, KEY)


Row = tuple[str, bool, str | None, str | None, str | None, str | None]


def _frame(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": pd.array([f"L{i}" for i in range(len(rows))], dtype="string"),
            "dealer_code": pd.array([r[0] for r in rows], dtype="string"),
            "is_open": pd.array([r[1] for r in rows], dtype="boolean"),
            **{
                col: pd.array([r[2 + n] for r in rows], dtype="string")
                for n, col in enumerate(("document", "email_key", "phone_key", "mobile_phone_key"))
            },
        }
    )


def _plainly(frame: pd.DataFrame) -> set[tuple[str, str]]:
    """The SQL rule: each open lead's tokens ('D' document, 'E' e-mail, 'P' phone, 'P' mobile unless it
    is the phone), counted per dealership; a lead is picked when one of its tokens counts twice."""

    def value(row: pd.Series, col: str) -> str | None:
        v = row[col]
        return None if v is pd.NA else str(v)

    tokens: dict[str, list[str]] = {}
    for _, row in frame.iterrows():
        if not row["is_open"]:
            continue
        phone, mobile = value(row, "phone_key"), value(row, "mobile_phone_key")
        mine = [
            None if value(row, "document") is None else "D" + str(value(row, "document")),
            None if value(row, "email_key") is None else "E" + str(value(row, "email_key")),
            None if phone is None else "P" + phone,
            None if mobile is None or mobile == phone else "P" + mobile,
        ]
        tokens[str(row["lead_id"])] = [str(row["dealer_code"]) + "|" + t for t in mine if t is not None]
    counts = Counter(t for theirs in tokens.values() for t in theirs)
    dealer = dict(zip(frame["lead_id"], frame["dealer_code"], strict=True))
    return {(lead, str(dealer[lead])) for lead, theirs in tokens.items() if any(counts[t] > 1 for t in theirs)}


def test_a_mobile_equal_to_the_phone_counts_once_and_dealerships_stay_apart() -> None:
    frame = _frame(
        [
            ("BR0001", True, None, None, "9", "9"),  # its own phone and mobile: not shared
            ("BR0002", True, None, None, "9", None),  # the same phone at another dealership: not shared
            ("BR0001", False, None, None, "9", None),  # closed: not compared
            ("BR0001", True, "1", "", None, None),
            ("BR0001", True, "1", "", None, "8"),  # document and an empty e-mail key with the one above
        ]
    )
    got = set(map(tuple, shared_key_leads(frame).to_numpy().tolist()))
    assert got == {("L3", "BR0001"), ("L4", "BR0001")} == _plainly(frame)


@given(st.lists(ROW, max_size=25))
def test_the_shared_key_leads_are_those_the_rule_picks(rows: list[Row]) -> None:
    frame = _frame(rows)
    got = shared_key_leads(frame)
    assert list(got.columns) == ["lead_id", "dealer_code"]
    assert set(map(tuple, got.to_numpy().tolist())) == _plainly(frame)
    assert not got.duplicated().any()
