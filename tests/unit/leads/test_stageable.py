"""Pure rules of staging: cleaning what PostgreSQL refuses, dates the DMS stores, odd dealer codes."""

from __future__ import annotations

import json
import string
import sys
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import stageable
from gmcrm.leads.dealer_codes import UNICODE_SPACES, dealer_key, odd_code_condition
from gmcrm.leads.extract import MAX_QUERY_CHARS, ReadPlan, build_queries, query_chars

FIELDS = load_mapping().lead_fields


def test_unicode_spaces_are_every_space_ascii_whitespace_leaves_out() -> None:
    computed = "".join(ch for ch in map(chr, range(sys.maxunicode + 1)) if ch.isspace() and ch not in string.whitespace)
    assert UNICODE_SPACES == computed


def test_dealer_key_is_what_the_transform_compares() -> None:
    assert dealer_key("\u3000br0001\u00a0") == dealer_key("BR0001") == "br0001"


def test_clean_text_removes_nul_and_replaces_lone_surrogates_only() -> None:
    assert stageable.clean_text("Jo\x00ana") == "Joana"
    assert stageable.clean_text("a\ud83db") == "a\ufffdb"
    assert stageable.clean_text("\ud83d\ude00") == "\U0001f600"  # a pair split in two code points is joined
    assert stageable.clean_text("Conceição 🚗 שלום") == "Conceição 🚗 שלום"


@given(st.recursive(st.text() | st.none() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_storable_json_is_always_utf8_without_nul(value: object) -> None:
    text, _ = stageable.storable_json({"v": value})
    text.encode("utf-8")
    assert "\\u0000" not in text.replace("\\\\", "")
    json.loads(text)


def test_storable_json_leaves_a_clean_record_as_it_is() -> None:
    record = {"Id": "006x", "First_Name__c": "José", "Comments__c": 'aspas " e \\ barra'}
    assert stageable.storable_json(record) == (json.dumps(record, ensure_ascii=False), False)


def test_dates_outside_what_the_dms_stores_are_a_problem() -> None:
    ok = {"CreatedDate": "2026-11-27T10:00:00.000+0000", "SystemModstamp": None}
    assert stageable.date_problem(ok, FIELDS) is None
    for bad in ("0001-01-01T00:00:00.000+0000", "9999-12-31T23:59:59.000+0000", "2026-02-30T00:00:00.000+0000"):
        problem = stageable.date_problem({"CreatedDate": bad}, FIELDS)
        assert problem is not None and "CreatedDate" in problem and "correct the lead at GM" in problem
    assert stageable.parse_stamp("2026-11-27T10:00:00.000-0300") == datetime(2026, 11, 27, 13, tzinfo=UTC)


def test_odd_code_condition_escapes_like_wildcards_and_quotes() -> None:
    condition = odd_code_condition("Dealer_Code__c")
    assert condition.count(" LIKE ") == 2 * len(UNICODE_SPACES)
    assert "Dealer_Code__c LIKE '%\u00a0'" in condition and "Dealer_Code__c LIKE '\u3000%'" in condition


def _plan(incremental: list[str], full: list[str]) -> ReadPlan:
    return ReadPlan(incremental=dict.fromkeys(incremental, datetime(2026, 1, 1, tzinfo=UTC)), full=full)


def test_the_odd_code_condition_rides_on_the_shortest_query() -> None:
    codes = [f"BR{i:04d}" for i in range(1, 1001)]
    queries = build_queries(_plan(codes, []), load_mapping())
    assert len(queries) == 3  # as many as without it: 400 codes a query
    assert ["LIKE" in q for q, _ in queries] == [False, False, True]
    assert all(query_chars(q) <= MAX_QUERY_CHARS for q, _ in queries)


def test_a_query_with_no_room_left_gets_a_query_of_its_own() -> None:
    # 400 incremental and 400 first-read dealerships with 10-character codes fill one query.
    codes = [f"BRXXXX{i:04d}" for i in range(800)]
    queries = build_queries(_plan(codes[:400], codes[400:]), load_mapping())
    assert len(queries) == 2 and queries[1][1] == []
    assert "LIKE" in queries[1][0] and "LIKE" not in queries[0][0]
    assert all(query_chars(q) <= MAX_QUERY_CHARS for q, _ in queries)
