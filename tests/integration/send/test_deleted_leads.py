"""A lead deleted at GM sends nothing more (issue 8, item 4).

Its unsent events end ``CANCELLED`` with a reason, whether the import learns of the deletion first
(``dms.contact.gm_deleted_at``) or GM answers a send with ``ENTITY_IS_DELETED``; they are not failures,
they block nothing, and the lead log shows them. Real sandbox, real PostgreSQL, the DMS screen actions.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from gmcrm import lead_log
from gmcrm.cli import app
from gmcrm.send.outbox import skip_event
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import fast_client, one_client, run_import
from tests.integration.helpers.send import codes, contacts, gm_codes, import_leads, outbox, send, send_log

pytestmark = pytest.mark.integration

runner = CliRunner()


def _import(dms_url: str) -> None:
    _, _, failed = run_import(dms_url, one_client(fast_client()))
    assert not failed, failed


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_events_waiting_when_the_import_sees_the_deletion_are_cancelled_and_block_nothing(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    deleted, live = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0001", "NEW_VEHICLE"))
    gone, kept = contacts(conn, [deleted, live])
    dms.register_contact(conn, gone, "PHONE")
    assert send(conn).totals() == {"SENT": 5}
    # Waiting events of every kind: a FAILED one (GM refused it for good), a BLOCKED one behind it,
    # and a PENDING one left claimed by a worker that died.
    dms.schedule_test_drive(conn, gone, "ONIX-10-LT-25")
    dms.register_no_contact(conn, gone)
    gm_sandbox.admin.record_errors(1, status_code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    # TDA and CNR go as the lead's one graph: GM rolls CNR back with the refused TDA.
    assert send(conn, run_id="fails").totals() == {"FAILED": 1, "ROLLED_BACK": 1}
    dms.save_proposal(conn, gone, "ONIX-10-LT-25", form="PHONE")
    conn.execute(
        "UPDATE gmcrm.trigger_outbox SET claimed_by = 'a-dead-worker', claimed_until = now() + interval '1 hour' "
        "WHERE lead_id = %s AND trigger_code = 'PAB'",
        (deleted,),
    )
    dms.register_no_contact(conn, kept)
    before = [(r.trigger_code, r.status, r.claimed_by) for r in outbox(conn, deleted) if r.status != "SENT"]
    assert before == [("TDA", "FAILED", None), ("CNR", "BLOCKED", None), ("PAB", "PENDING", "a-dead-worker")]

    gm_sandbox.admin.delete_lead(deleted)
    _import(dms_url)

    unsent = [r for r in outbox(conn, deleted) if r.status != "SENT"]
    assert [(r.trigger_code, r.status, r.claimed_by) for r in unsent] == [
        ("TDA", "CANCELLED", None), ("CNR", "CANCELLED", None), ("PAB", "CANCELLED", None),
    ]  # fmt: skip
    reasons = conn.execute(
        "SELECT DISTINCT cancelled_reason FROM gmcrm.trigger_outbox WHERE lead_id = %s AND status = 'CANCELLED'",
        (deleted,),
    ).fetchall()
    assert len(reasons) == 1 and "lead deleted at GM" in reasons[0][0]

    # Nothing of it is sent, nothing waits, nothing counts as failed; the other lead moves on.
    report = send(conn, run_id="after", retry_failed=True)
    assert report.totals() == {"SENT": 1} and not report.failed
    assert gm_codes(gm_sandbox, live)[-1] == "CNR"
    # GM received TDA once (and refused it), before the deletion; nothing after.
    assert [r["record"]["Trigger_Code__c"] for r in gm_sandbox.admin.receipts(deleted)] == ["LIM", "LAT", "CRE", "TDA"]
    assert "0 event(s) FAILED" in _cli("events", "list", "--status", "FAILED", "--dms-url", dms_url)
    listed = _cli("events", "list", "--status", "cancelled", "--dms-url", dms_url)
    assert "3 event(s) CANCELLED" in listed and "lead deleted at GM" in listed
    bogus = runner.invoke(app, ["events", "list", "--status", "GONE", "--dms-url", dms_url])
    assert bogus.exit_code != 0 and "CANCELLED" in bogus.output
    # A cancelled event is final: no retry, no skip.
    assert not skip_event(conn, unsent[0].id, "by hand")
    # The lead log shows the cancellation and why.
    created = [e for e in lead_log.timeline(conn, deleted) if e.kind == "EVENT_CREATED"]
    assert [e.detail["status"] for e in created][-3:] == ["CANCELLED"] * 3
    assert all("lead deleted at GM" in e.summary for e in created[-3:])
    assert "lead deleted at GM" in _cli("lead-log", deleted, "--dms-url", dms_url)


def test_gm_answering_entity_is_deleted_cancels_the_leads_unsent_events(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    deleted, live = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0003", "NEW_VEHICLE"))
    gone, kept = contacts(conn, [deleted, live])
    assert send(conn).totals() == {"SENT": 4}
    dms.register_contact(conn, gone, "PHONE")
    dms.schedule_test_drive(conn, gone, "ONIX-10-LT-25")
    dms.register_contact(conn, kept, "PHONE")
    gm_sandbox.admin.delete_lead(deleted)  # the import has not seen it yet

    report = send(conn, run_id="gm-says-deleted")
    # CRE and TDA went as one graph: TDA, rolled back with CRE, is then cancelled with the lead.
    assert report.totals() == {"SENT": 1, "CANCELLED": 1, "ROLLED_BACK": 1} and not report.failed
    assert [(r.trigger_code, r.status) for r in outbox(conn, deleted)][2:] == [
        ("CRE", "CANCELLED"),
        ("TDA", "CANCELLED"),
    ]
    [attempt] = [e for e in send_log(conn, deleted) if e["outcome"] not in ("SENT", "ROLLED_BACK")]
    assert (attempt["trigger_code"], attempt["outcome"], attempt["error_code"]) == (
        "CRE",
        "CANCELLED",
        "ENTITY_IS_DELETED",
    )
    reasons = {r[0] for r in conn.execute(
        "SELECT cancelled_reason FROM gmcrm.trigger_outbox WHERE lead_id = %s AND status = 'CANCELLED'", (deleted,)
    ).fetchall()}  # fmt: skip
    assert len(reasons) == 1 and "ENTITY_IS_DELETED" in next(iter(reasons))
    assert send(conn, run_id="again").totals() == {}
    assert [r["record"]["Trigger_Code__c"] for r in gm_sandbox.admin.receipts(deleted)][2:] == ["CRE"]


def test_activity_on_a_lead_known_deleted_is_shown_as_not_sent(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
    [contact] = contacts(conn, [lead_id])
    gm_sandbox.admin.delete_lead(lead_id)
    _import(dms_url)
    dms.register_contact(conn, contact, "PHONE")

    assert codes(conn, lead_id) == ["LIM", "LAT"]
    assert {r.status for r in outbox(conn, lead_id)} == {"CANCELLED"}
    rows = conn.execute(
        "SELECT trigger_code, reason_code, reason FROM gmcrm.activity_not_sent WHERE lead_id = %s", (lead_id,)
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("CRE", "LEAD_DELETED_AT_GM")]
    assert "lead deleted at GM" in rows[0][2]
    assert "lead deleted at GM" in _cli("lead-log", lead_id, "--dms-url", dms_url)
