"""How a load task cuts its group into load statements: a few thousand rows each, dealerships whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gmcrm import settings
from gmcrm.leads.load import load_chunks
from gmcrm.settings import DEFAULT_LOAD_ROWS_PER_TRANSACTION


def test_a_group_of_100_lead_dealerships_loads_10_to_a_statement() -> None:
    codes = [f"BR{i:04d}" for i in range(45)]
    chunks = load_chunks(codes, dict.fromkeys(codes, 100), DEFAULT_LOAD_ROWS_PER_TRANSACTION)
    assert [len(c) for c in chunks] == [10, 10, 10, 10, 5] and DEFAULT_LOAD_ROWS_PER_TRANSACTION == 1_000


def test_zero_loads_each_dealership_in_its_own_transaction() -> None:
    assert load_chunks(["A", "B", "C"], {"A": 0, "B": 0, "C": 5}, 0) == [["A"], ["B"], ["C"]]


def test_a_dealership_bigger_than_a_chunk_loads_alone_and_quiet_ones_fill_in() -> None:
    chunks = load_chunks(["A", "B", "C", "D"], {"A": 10, "B": 5_000, "C": 0}, limit=100)
    assert chunks == [["A"], ["B"], ["C", "D"]]


@given(
    sizes=st.lists(st.integers(0, 300), max_size=60),
    limit=st.integers(0, 1_000),
)
def test_chunks_keep_the_order_and_stay_under_the_limit(sizes: list[int], limit: int) -> None:
    codes = [f"D{i}" for i in range(len(sizes))]
    rows = dict(zip(codes, sizes, strict=True))
    chunks = load_chunks(codes, rows, limit)
    assert [code for chunk in chunks for code in chunk] == codes
    assert all(chunk for chunk in chunks)
    for i, chunk in enumerate(chunks):
        total = sum(rows[c] for c in chunk)
        assert total <= limit or len(chunk) == 1
        if limit == 0:
            assert len(chunk) == 1
            continue
        if i + 1 < len(chunks):  # greedy: the next dealership did not fit
            assert total + rows[chunks[i + 1][0]] > limit


@pytest.mark.parametrize(
    ("value", "rows"),
    [(None, 1_000), ("0", 0), ("1", 1), ("5000", 5_000), ("-1", 1_000), ("many", 1_000), ("", 1_000)],
)
def test_rows_per_transaction_setting(monkeypatch: pytest.MonkeyPatch, value: str | None, rows: int) -> None:
    if value is None:
        monkeypatch.delenv(settings.LOAD_ROWS_PER_TRANSACTION, raising=False)
    else:
        monkeypatch.setenv(settings.LOAD_ROWS_PER_TRANSACTION, value)
    assert settings.load_rows_per_transaction() == rows
