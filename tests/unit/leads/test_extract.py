"""How the import decides what to read: pure planning and SOQL building."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gmcrm.gm_mapping import load_mapping
from gmcrm.leads.extract import build_queries, parse_sf_datetime, plan_reads

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_first_run_reads_open_leads_and_known_ones_read_from_watermark_minus_lookback() -> None:
    plan = plan_reads(["BR0001", "BR0002"], {"BR0001": T0}, timedelta(seconds=600))
    assert plan.full == ["BR0002"]
    assert plan.incremental == {"BR0001": T0 - timedelta(seconds=600)}


def test_full_resync_and_since_override_the_watermark() -> None:
    assert plan_reads(["A"], {"A": T0}, timedelta(0), full_resync=True).full == ["A"]
    since = T0 - timedelta(days=3)
    plan = plan_reads(["A", "B"], {"A": T0}, timedelta(0), since=since)
    assert plan.incremental == {"A": since, "B": since} and plan.full == []


def test_one_query_serves_many_dealerships_with_escaped_values() -> None:
    mapping = load_mapping()
    plan = plan_reads(["BR0001", "BR'02", "BR0003"], {"BR0001": T0, "BR'02": T0 + timedelta(hours=1)}, timedelta(0))
    queries = build_queries(plan, mapping)
    assert len(queries) == 1
    soql, covered = queries[0]
    assert sorted(covered) == ["BR'02", "BR0001", "BR0003"]
    assert "Dealer_Code__c IN ('BR'02'" not in soql and "'BR\\'02'" in soql  # escaped by format_soql
    assert "SystemModstamp >= 2026-11-27T10:00:00+00:00" in soql  # the earliest start of the chunk
    assert "StageName NOT IN ('Converted','Delivered','NotConverted')" in soql
    assert soql.endswith("ORDER BY SystemModstamp ASC, Id ASC")


def test_query_count_grows_only_with_chunks_of_dealerships() -> None:
    mapping = replace(load_mapping(), max_dealers_per_query=400)
    codes = [f"BR{i:04d}" for i in range(1000)]
    queries = build_queries(plan_reads(codes, {c: T0 for c in codes}, timedelta(0)), mapping)
    assert len(queries) == 3
    assert all(len(q) < 16_000 for q, _ in queries)
    assert sum(len(c) for _, c in queries) == 1000


def test_salesforce_datetimes_parse_to_utc() -> None:
    assert parse_sf_datetime("2026-11-27T10:00:00.000+0000") == T0
    assert parse_sf_datetime("2026-11-27T07:00:00.000-0300") == T0
    assert parse_sf_datetime(None) is None
