"""A GM session refused again right after signing in again (issue 8, item 11).

The sandbox expires every session and refuses the token of the next sign-in from its first use: the
client's one fresh sign-in does not help. Nothing is wrong with the events or the leads, so, like the
daily limit, the send run stops for that connection with a clear reason and leaves every event pending
(nothing FAILED, nothing waiting for a person), and the import leaves the watermark where it was. The
next cycle, with a working session, sends and imports everything.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gmcrm.gm_client import SessionRefused
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, one_client, run_import, scalar
from tests.integration.helpers.send import (
    assert_delivered_exactly_once_in_order,
    contacts,
    import_leads,
    outbox,
    seed,
    send,
    send_log,
)

pytestmark = pytest.mark.integration


def test_send_leaves_events_pending_when_the_new_session_is_refused_too(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    lead_ids = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0003", "USED_VEHICLE"))
    for contact in contacts(conn, lead_ids):
        dms.register_contact(conn, contact, "PHONE")
    client = fast_client()
    client.limits()  # signed in: a long-lived worker's client whose session is then refused
    gm_sandbox.admin.refuse_sessions(count=1)

    report = send(conn, client, run_id="refused")

    assert report.stopped is not None and "session" in report.stopped
    assert "FAILED" not in report.totals() and report.failed == []
    rows = outbox(conn)
    assert {(r.status, r.attempts) for r in rows} == {("PENDING", 0)}, [(r.id, r.status, r.last_error) for r in rows]
    log = [e for e in send_log(conn) if e["run_id"] == "refused"]
    assert log and {(e["outcome"], e["status_code"], e["error_code"]) for e in log} == {
        ("DEFERRED", 401, "SESSION_REFUSED")
    }
    assert gm_sandbox.admin.events() == []

    # The next cycle signs in with a session GM accepts: everything goes, once, in order.
    assert send(conn, client, run_id="next").totals() == {"SENT": len(rows)}
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)


def test_import_keeps_the_watermark_when_the_new_session_is_refused_too(
    dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    with psycopg.connect(dms_url, autocommit=True) as connection:
        seed(connection)
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0003"))
    client = fast_client()
    client.limits()
    gm_sandbox.admin.refuse_sessions(count=1)

    summary, done, failed = run_import(dms_url, one_client(client))

    assert summary.stopped is not None and "session" in summary.stopped
    assert (summary.groups, done, failed) == ([], [], [])
    assert scalar(dms_url, "SELECT count(*) FROM gmcrm.import_watermark") == 0
    assert scalar(dms_url, "SELECT count(*) FROM gmcrm.import_failure") == 0

    _summary, done, failed = run_import(dms_url, one_client(client))
    assert not failed
    assert scalar(dms_url, "SELECT count(*) FROM dms.contact WHERE lead_id IS NOT NULL") == 2


def test_the_client_names_the_refusal() -> None:
    """The exception says what happened and what was done (no secret, no token in it)."""
    exc = SessionRefused("gm_crm")
    assert "signing in again" in str(exc) and "left pending" in str(exc)
