"""No echoes in the read plan: the integration's own changes are skipped, except at each dealership's
daily check, and never by ``since``; the SOQL says so with escaped values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from gmcrm.gm_mapping import load_mapping
from gmcrm.leads.reads import MAX_QUERY_CHARS, build_queries, own_check_due, plan_reads, query_chars

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
ME = "005SB0000000001AAA"
LOOKBACK = timedelta(seconds=600)
DAY = timedelta(hours=24)


def test_incremental_reads_skip_the_integration_s_own_changes() -> None:
    plan = plan_reads(["BR0001"], {"BR0001": T0}, LOOKBACK, own_users=[ME], own_checked={"BR0001": T0}, now=T0)
    assert plan.own_users == (ME,) and plan.own_changes_since == {}
    [(soql, covered)] = build_queries(plan, load_mapping())
    assert covered == ["BR0001"]
    assert (
        "(Dealer_Code__c IN ('BR0001') AND SystemModstamp >= 2026-11-30T09:50:00+00:00 "
        "AND (LastModifiedById NOT IN ('005SB0000000001AAA') OR IsDeleted = true))"
    ) in soql
    assert not plan.checks_own_changes("BR0001")


def test_a_due_check_takes_the_integration_s_changes_since_the_last_check() -> None:
    last = T0 - timedelta(hours=25)
    plan = plan_reads(
        ["BR0001", "BR0002"],
        {"BR0001": T0, "BR0002": T0},
        LOOKBACK,
        own_users=[ME],
        own_checked={"BR0001": last, "BR0002": T0},
        now=T0,
    )
    assert plan.own_changes_since == {"BR0001": last - LOOKBACK}
    assert plan.checks_own_changes("BR0001") and not plan.checks_own_changes("BR0002")
    [(soql, covered)] = build_queries(plan, load_mapping())
    assert sorted(covered) == ["BR0001", "BR0002"]
    # BR0002 skips them; BR0001 reads GM's changes since its watermark and ours since the last check.
    assert "(Dealer_Code__c IN ('BR0002') AND SystemModstamp >= 2026-11-30T09:50:00+00:00 AND (" in soql
    assert (
        "(Dealer_Code__c IN ('BR0001') AND SystemModstamp >= 2026-11-29T08:50:00+00:00 AND "
        "(SystemModstamp >= 2026-11-30T09:50:00+00:00 OR LastModifiedById IN ('005SB0000000001AAA')))"
    ) in soql


def test_never_checked_reads_them_since_the_watermark_and_full_reads_count_as_checks() -> None:
    plan = plan_reads(["A", "B"], {"A": T0}, LOOKBACK, own_users=[ME], own_checked={"A": None}, now=T0)
    assert plan.own_changes_since == {"A": T0 - LOOKBACK}
    assert plan.full == ["B"] and plan.checks_own_changes("B")


def test_since_and_an_unknown_user_read_everything() -> None:
    since = T0 - timedelta(days=2)
    plan = plan_reads(["A"], {"A": T0}, LOOKBACK, since=since, own_users=[ME], own_checked={"A": None}, now=T0)
    assert plan.own_users == () and not plan.checks_own_changes("A")
    [(soql, _)] = build_queries(plan, load_mapping())
    assert "LastModifiedById" not in soql
    unknown = plan_reads(["A"], {"A": T0}, LOOKBACK, now=T0)
    assert "LastModifiedById" not in build_queries(unknown, load_mapping())[0][0]


def test_several_own_users_and_quotes_are_escaped() -> None:
    plan = plan_reads(["A"], {"A": T0}, LOOKBACK, own_users=[ME, "005x'y"], own_checked={"A": T0}, now=T0)
    soql = build_queries(plan, load_mapping())[0][0]
    assert "LastModifiedById NOT IN ('005SB0000000001AAA','005x\\'y')" in soql


def test_the_modifier_field_comes_from_the_mapping() -> None:
    mapping = replace(load_mapping(), modified_by_field="Last_Changed_By__c")
    plan = plan_reads(["A"], {"A": T0}, LOOKBACK, own_users=[ME], own_checked={"A": T0}, now=T0)
    assert "Last_Changed_By__c NOT IN" in build_queries(plan, mapping)[0][0]


def test_each_dealership_checks_once_a_day_at_a_time_of_its_own() -> None:
    codes = [f"BR{i:04d}" for i in range(300)]
    start = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    checked = dict.fromkeys(codes, start)
    due_at: dict[str, list[int]] = {c: [] for c in codes}
    # Two days of 5-minute cycles; a check moves the dealership's last check to that cycle.
    for cycle in range(1, 2 * 288 + 1):
        now = start + timedelta(minutes=5 * cycle)
        for code in codes:
            if own_check_due(code, checked[code], now, DAY):
                due_at[code].append(cycle)
                checked[code] = now
    assert all(len(cycles) in (2, 3) for cycles in due_at.values())
    # Spread over the day: no cycle carries more than a few percent of the dealerships.
    per_cycle: dict[int, int] = {}
    for cycles in due_at.values():
        for cycle in cycles:
            per_cycle[cycle] = per_cycle.get(cycle, 0) + 1
    assert max(per_cycle.values()) <= 10  # 300 dealerships over 288 cycles: about one each
    # Between two checks of one dealership: a day (within a cycle).
    for cycles in due_at.values():
        gaps = {b - a for a, b in pairwise(cycles[1:])}  # the first check depends on where the day starts
        assert gaps <= {288}


def test_a_check_is_due_at_once_when_the_last_one_is_a_day_old() -> None:
    assert own_check_due("BR0001", T0 - timedelta(hours=24, seconds=1), T0, DAY)
    assert own_check_due("BR0001", T0, T0, timedelta(0))  # 0: every cycle


def test_the_filter_keeps_400_dealerships_per_query_under_the_url_limit() -> None:
    codes = [f"BR{i:04d}" for i in range(1000)]
    half = {c: T0 - timedelta(days=2) for c in codes[::2]}
    plan = plan_reads(codes, dict.fromkeys(codes, T0), LOOKBACK, own_users=[ME], own_checked=half, now=T0)
    queries = build_queries(plan, load_mapping())
    assert len(queries) == 3
    assert all(query_chars(q) <= MAX_QUERY_CHARS for q, _ in queries)
    assert sum(len(c) for _, c in queries) == 1000
