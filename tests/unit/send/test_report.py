"""The outbox statuses as one enum, with the moves between them written down (gmcrm.send.report)."""

from __future__ import annotations

from gmcrm.send.report import FINAL_STATUSES, TRANSITIONS, OutboxStatus, can_move


def test_final_statuses_have_no_way_out_and_the_others_have_one() -> None:
    sources = {source for source, _ in TRANSITIONS}
    assert sources.isdisjoint(FINAL_STATUSES)
    assert sources == set(OutboxStatus) - FINAL_STATUSES


def test_every_status_but_pending_is_reached_and_failed_events_go_back_only_by_a_requeue() -> None:
    assert {target for _, target in TRANSITIONS} == set(OutboxStatus)
    assert can_move("FAILED", "PENDING") and "retry_failed" in TRANSITIONS[(OutboxStatus.FAILED, OutboxStatus.PENDING)]
    assert not can_move("FAILED", "SENT") and not can_move("BLOCKED", "SENT") and not can_move("SENT", "PENDING")
