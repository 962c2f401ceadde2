"""Per-lead order when DMS transactions overlap (issue 8, item 9).

Two DMS screens work one lead at once: the first records a no-contact (CNR) in a transaction it keeps
open, the second records a test drive (TDA) and commits. A send run falls between them. GM must still
receive the lead's events in the order the DMS recorded them: recording a trigger takes a per-lead
lock, so the second transaction waits for the first and its event commits after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.send import contacts, gm_stage, import_leads, outbox, seed, send

pytestmark = pytest.mark.integration


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll a condition (no sleeping on a guess: it returns as soon as the condition holds)."""
    stop = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        stop.wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting_on_a_lock(conn: psycopg.Connection[Any], pid: int) -> bool:
    row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row is not None and row[0] == "Lock"


def test_overlapping_transactions_on_one_lead_reach_gm_in_dms_order(dms_url: str, gm_sandbox: SandboxProcess) -> None:
    with psycopg.connect(dms_url, autocommit=True) as conn:
        seed(conn)
        [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
        [contact] = contacts(conn, [lead_id])
        dms.register_contact(conn, contact, "PHONE")
        assert send(conn).totals() == {"SENT": 3}  # LIM, LAT, CRE

        # Screen 1: a no-contact, in a transaction left open.
        first = psycopg.connect(dms_url)
        try:
            dms.register_no_contact(first, contact)

            # Screen 2, from another connection: a test drive, committed as soon as the DMS lets it.
            second_pid: list[int] = []
            second_done = threading.Event()
            errors: list[BaseException] = []

            def second_screen() -> None:
                try:
                    with psycopg.connect(dms_url) as c2:
                        second_pid.append(c2.info.backend_pid)
                        dms.schedule_test_drive(c2, contact, "ONIX-10-LT-25")
                        c2.commit()
                except BaseException as exc:  # reported by the main thread
                    errors.append(exc)
                finally:
                    second_done.set()

            thread = threading.Thread(target=second_screen, daemon=True)
            thread.start()
            # Either it committed at once (the defect) or it waits for the first screen's lead lock.
            _wait_for(
                lambda: second_done.is_set() or (bool(second_pid) and _waiting_on_a_lock(conn, second_pid[0])),
                "the second screen to commit or to wait for the first",
            )
            waited = not second_done.is_set()

            # A send run between the two: it must not send TDA ahead of the uncommitted CNR.
            send(conn, run_id="between")

            first.commit()
        finally:
            first.close()
        thread.join(timeout=30)
        assert not thread.is_alive() and not errors, errors

        assert send(conn, run_id="after").stopped is None
        received = [r["record"]["Trigger_Code__c"] for r in gm_sandbox.admin.receipts(lead_id) if r["success"]]
        assert received == ["LIM", "LAT", "CRE", "CNR", "TDA"]
        assert [r.trigger_code for r in outbox(conn, lead_id)] == ["LIM", "LAT", "CRE", "CNR", "TDA"]
        assert {r.status for r in outbox(conn, lead_id)} == {"SENT"}
        assert gm_stage(gm_sandbox, lead_id) == ("Deciding", "TestDriveScheduled")
        assert waited, "the second transaction committed while the first, earlier one on its lead was open"


def test_two_screens_closing_one_lead_at_once_wait_for_each_other_and_never_deadlock(
    dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    """The lead lock is taken before the contact's row lock: a screen closing the lead while another
    transaction on it is open waits for it without holding the contact, so that transaction can go on
    to close the contact itself."""
    with psycopg.connect(dms_url, autocommit=True) as conn:
        seed(conn)
        [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
        [contact] = contacts(conn, [lead_id])
        dms.register_contact(conn, contact, "PHONE")  # IN_PROGRESS from here on

        first = psycopg.connect(dms_url)
        try:
            dms.register_no_contact(first, contact)  # holds the lead
            second_pid: list[int] = []
            second_done = threading.Event()
            errors: list[BaseException] = []

            def second_screen() -> None:
                try:
                    with psycopg.connect(dms_url) as c2:
                        second_pid.append(c2.info.backend_pid)
                        dms.register_lost_sale(c2, contact, "V02")
                        c2.commit()
                except BaseException as exc:
                    errors.append(exc)
                finally:
                    second_done.set()

            thread = threading.Thread(target=second_screen, daemon=True)
            thread.start()
            _wait_for(
                lambda: second_done.is_set() or (bool(second_pid) and _waiting_on_a_lock(conn, second_pid[0])),
                "the second screen to wait for the first",
            )
            dms.register_lost_sale(first, contact, "V01")  # the first screen closes it too, then commits
            first.commit()
        finally:
            first.close()
        thread.join(timeout=30)
        assert not thread.is_alive() and not errors, errors

        assert [r.trigger_code for r in outbox(conn, lead_id)] == ["LIM", "LAT", "CRE", "CNR", "VPE"]
        row = conn.execute(
            "SELECT trigger_code, reason_code FROM gmcrm.activity_not_sent WHERE lead_id = %s", (lead_id,)
        ).fetchone()
        assert row == ("VPE", "AFTER_CLOSE")  # the second close: after the first, not sent
