"""The runs' summaries and the date-time params, as pure functions: what a person reads in the UI."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException
from hypothesis import given
from hypothesis import strategies as st

from gmcrm.alerts import import_failures_text
from gmcrm.dag_params import DATETIME_PATTERN, datetime_value
from gmcrm.leads.failures import ImportFailure
from gmcrm.run_summary import ImportRunSummary, SendRunSummary, failed_task_names

CPF = "529.982.247-25"
EMAIL = "maria.silva@example.com"


def _failure(code: str, error: str, stage: str = "load") -> ImportFailure:
    return ImportFailure(code, stage, error, datetime(2026, 11, 30, tzinfo=UTC), 1)


def test_failed_tasks_are_named_as_the_ui_shows_them() -> None:
    states = {
        "extract_leads": "success",
        "load_dealerships_0": "success",
        "load_dealerships_1": "failed",
        "load_dealerships_7": "failed",  # a label the check does not know: its map index
        "announce_events": "upstream_failed",  # a consequence, not a cause
        "all_dealerships_imported": "running",
    }
    labels = {"load_dealerships": ["BR0001", "BR0003"]}
    assert failed_task_names(states, labels, "all_dealerships_imported") == [
        "load_dealerships[BR0003]",
        "load_dealerships[7]",
    ]
    assert failed_task_names({"extract_leads": "failed"}, labels, "x") == ["extract_leads"]


def test_an_import_summary_names_each_failed_dealership_stage_and_error_masked() -> None:
    summary = ImportRunSummary(
        imported=2,
        leads_read=9,
        contacts_created=8,
        quarantined=1,
        events_recorded=16,
        failures=[
            _failure("BR0003", f"CheckViolation: customer {CPF} refused; SQLSTATE 23514; constraint c"),
            _failure("BR0007", f"ConnectionError: GM connection gm_sp refused {EMAIL}", "extract"),
        ],
    )
    text = summary.text()
    assert summary.failed
    assert text.startswith("import failed for 2 dealerships: BR0003 (load: CheckViolation")
    assert "SQLSTATE 23514; constraint c" in text and "BR0007 (extract: ConnectionError" in text
    assert text.endswith(
        "2 dealerships imported: 9 leads read, 8 contacts created, 0 updated, 1 quarantined, 16 events recorded"
    )
    assert CPF not in text and EMAIL not in text


def test_a_clean_import_summary_and_a_stopped_one_are_not_failures() -> None:
    clean = ImportRunSummary(imported=1, leads_read=1, contacts_created=1, events_recorded=2)
    assert not clean.failed
    assert (
        clean.text()
        == "1 dealership imported: 1 lead read, 1 contact created, 0 updated, 0 quarantined, 2 events recorded"
    )
    stopped = ImportRunSummary(stopped="gm_crm: GM daily API limit reached")
    assert not stopped.failed and "stopped, everything left for the next run: gm_crm" in stopped.text()
    assert ImportRunSummary(failed_tasks=["extract_leads"]).failed


def test_a_send_summary_counts_outcomes_and_names_the_events_that_failed_for_good() -> None:
    summary = SendRunSummary(
        totals=Counter({"SENT": 6, "FAILED": 1, "RETRY": 2}),
        failed=[("BR0001", 7, "VPE", "UNMAPPED_REASON", f"reason V99 has no GM reason ({EMAIL})")],
        blocked_behind=1,
        failed_before=3,
    )
    text = summary.text()
    assert summary.is_failure
    assert text.startswith("6 sent, 2 retry, 1 failed. 1 event failed for good, waiting for a person: ")
    assert "BR0001 event 7 (VPE): UNMAPPED_REASON: reason V99" in text and "1 blocked behind them" in text
    assert "retry_failed" in text and "3 event(s) FAILED from earlier runs still wait" in text
    assert EMAIL not in text
    assert SendRunSummary().text() == "0 sent" and not SendRunSummary().is_failure
    assert SendRunSummary(totals=Counter({"DRY_RUN": 2})).text() == "0 sent, 2 dry run"


def test_the_import_alert_names_dealership_stage_error_and_how_long_it_keeps_failing() -> None:
    text = import_failures_text([("BR0003", "load", f"RaiseException: ask {CPF}", 3), ("BR0004", "extract", "x", 1)])
    assert "- BR0003 (load, 3 runs in a row): RaiseException" in text
    assert "- BR0004 (extract): x" in text


@pytest.mark.parametrize(
    "value",
    ["garbage", "2026-02-30T08:00:00Z", "2026-11-30T25:00:00Z", "P1D", "08:00:00"],
)
def test_a_task_refuses_a_bad_date_time_at_once_with_a_clear_message(value: str) -> None:
    with pytest.raises(AirflowFailException) as refused:
        datetime_value({"since": value}, "since")
    message = str(refused.value)
    assert message.startswith(f"param since: {value!r} is not a date and time")
    assert "2026-11-30T08:00:00Z" in message


def test_a_task_reads_iso_date_times_and_empty() -> None:
    assert datetime_value({}, "since") is None
    assert datetime_value({"since": None}, "since") is None
    assert datetime_value({"since": "2026-11-30T05:00:00-03:00"}, "since") == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert datetime_value({"since": "2026-11-30T08:00:00.000Z"}, "since") == datetime(2026, 11, 30, 8, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)))
def test_what_python_writes_in_iso_8601_passes_the_trigger_and_reads_back(moment: datetime) -> None:
    import re

    for text in (moment.isoformat(), moment.isoformat().replace("+00:00", "Z")):
        assert re.match(DATETIME_PATTERN, text), text
        assert datetime_value({"t": text}, "t") == moment
