"""The log lines a person reads at a glance: one short line per dealership saying what changed, and the
GM connection's API calls once per connection (not repeated on each of its dealerships' lines)."""

from __future__ import annotations

from collections import Counter

from gmcrm.leads.load import LoadResult
from gmcrm.leads.pipeline import connection_line
from gmcrm.send.report import SendReport

#: What Airflow's log viewer shows on one line without wrapping, with its timestamp and logger name.
LINE_LIMIT = 160
BIG = 999_999


def test_a_load_line_says_what_changed_and_what_was_left() -> None:
    result = LoadResult("BR0001", 12, 3, 1, 2, 1, quarantined=2, deleted=1, skipped_closed=1, events_recorded=5,
                        api_calls=7, api_remaining=14993, seconds=0.054)  # fmt: skip
    assert result.line() == (
        "BR0001: 12 leads read: 3 new contacts (customers: 2 new, 1 existing), 1 updated, 1 deleted at GM, "
        "5 events; 2 in quarantine; 1 closed at GM; 0.05s"
    )


def test_a_quiet_load_says_no_changes() -> None:
    assert LoadResult("BR0001", 12, seconds=0.011).line() == "BR0001: 12 leads read, no changes; 0.01s"
    assert LoadResult("BR0001", 1, quarantined=1, seconds=0).line() == (
        "BR0001: 1 lead read, no changes; 1 in quarantine; 0.00s"
    )
    assert LoadResult("BR0002", seconds=0.004).line() == "BR0002: no new or changed leads at GM; 0.00s"


def test_a_dealership_loaded_with_others_gives_its_share_of_their_transaction_s_time() -> None:
    shared = LoadResult("BR0001", 1, quarantined=1, seconds=0.214, loaded_with=10)
    assert shared.line() == "BR0001: 1 lead read, no changes; 1 in quarantine; ~0.21s"
    assert LoadResult("BR0002", seconds=0.2, loaded_with=10).line() == "BR0002: no new or changed leads at GM; ~0.20s"


def test_new_contacts_name_their_customers() -> None:
    assert "(1 new customer)" in LoadResult("BR0001", 1, 1, customers_created=1, events_recorded=2).line()
    assert "(2 existing customers)" in LoadResult("BR0001", 2, 2, customers_matched=2).line()
    # Two leads of one person in one load: one customer made, the second lead joins it.
    assert "2 new contacts (1 new customer)" in LoadResult("BR0001", 2, 2, customers_created=1).line()


def test_lines_stay_short_and_carry_no_api_calls_of_the_connection() -> None:
    first_run = LoadResult("BR0001", 5000, 4800, 0, 4500, 300, quarantined=150, skipped_closed=50,
                           events_recorded=9600, api_calls=4, seconds=12.34)  # fmt: skip
    # A busy cycle with every kind of change at once.
    busy = LoadResult("BR0001", 600, 200, 300, 150, 50, 40, 10, 30, 380, api_calls=BIG, seconds=9.87)
    for result in (first_run, busy):
        assert len(result.line()) < LINE_LIMIT, (len(result.line()), result.line())
        assert "API" not in result.line() and str(BIG) not in result.line()
    # Every count at six digits at once still fits a wide viewer.
    extreme = LoadResult("BR0001", BIG, BIG, BIG, BIG, BIG, BIG, BIG, BIG, 2 * BIG, seconds=999.99)
    assert len(extreme.line()) < LINE_LIMIT + 40
    extract = connection_line("gm_crm", 1000, 100_000, quarantined=120, cleaned=3, unmatched=40,
                              calls="50 API calls (14950 of 15000 left today)")  # fmt: skip
    assert extract == (
        "GM connection gm_crm: 100000 leads staged for 1000 dealerships, 120 quarantined at extract, "
        "3 with characters cleaned, 40 of other dealerships; 50 API calls (14950 of 15000 left today)"
    )
    assert len(extract) < LINE_LIMIT + 30  # the connection's line: once per run
    healed = connection_line("gm_crm", 3, 6, quarantined=0, cleaned=0, unmatched=0, calls="1 API call", retried=2)
    assert healed == "GM connection gm_crm: 6 leads staged for 3 dealerships, 2 of them from quarantine; 1 API call"
    quiet = connection_line("gm_crm", 3, 6, quarantined=0, cleaned=0, unmatched=0, calls="1 API calls")
    assert quiet == "GM connection gm_crm: 6 leads staged for 3 dealerships; 1 API calls"


def test_send_lines_per_dealership_then_the_connection_with_its_calls() -> None:
    report = SendReport(api_calls=5, api_remaining=14995, seconds=1.23)
    report.per_dealer["BR0002"] = Counter({"SENT": 9})
    report.per_dealer["BR0001"] = Counter({"FAILED": 1, "SENT": 22, "RETRY": 0})
    assert report.lines() == ["BR0001: 22 sent, 1 failed", "BR0002: 9 sent"]
    assert report.connection_line("gm_crm") == (
        "GM connection gm_crm: 31 sent, 1 failed for 2 dealerships in 1.2s; 5 API calls (14995 left today)"
    )
    assert SendReport().connection_line("gm_crm") == "GM connection gm_crm: nothing to send in 0.0s; 0 API calls"
