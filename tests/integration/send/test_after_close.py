"""Nothing reaches GM after a lead is closed (issue 8, item 10; triggers.md "Closing a lead", last point).

Once a lead is closed in the DMS by a lost sale (``VPE`` recorded) or by its final sale event (``NFF``),
later activity on its contact records no outbox row and nothing more reaches GM; the DMS keeps the
activity; the lead log shows it as "after the close, not sent". Leads are created at the sandbox,
imported, worked through the DMS screen actions and sent as the send DAG sends them.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from gmcrm import lead_log
from gmcrm.cli import app
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.send import codes, contacts, gm_codes, gm_stage, import_leads, seed, send

pytestmark = pytest.mark.integration


def _not_sent(conn: psycopg.Connection[Any], lead_id: str) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT trigger_code, source_table, reason_code FROM gmcrm.activity_not_sent WHERE lead_id = %s ORDER BY id",
        (lead_id,),
    ).fetchall()


def _count(conn: psycopg.Connection[Any], table: str, contact: int) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE contact_id = %s", (contact,)).fetchone()
    assert row is not None
    return int(row[0])


def test_activity_after_a_lost_sale_is_kept_in_the_dms_and_never_sent(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
    [contact] = contacts(conn, [lead_id])
    dms.register_contact(conn, contact, "PHONE")
    dms.register_lost_sale(conn, contact, "V01")
    assert send(conn).totals() == {"SENT": 4}
    assert gm_stage(gm_sandbox, lead_id) == ("NotConverted", "BoughtElsewhere")

    # The customer calls again and comes for a test drive: the DMS records it, GM hears nothing.
    dms.register_contact(conn, contact, "PHONE")
    drive = dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")
    dms.complete_test_drive(conn, drive)

    assert codes(conn, lead_id) == ["LIM", "LAT", "CRE", "VPE"]
    assert _count(conn, "dms.contact_action", contact) == 3 and _count(conn, "dms.test_drive", contact) == 1
    assert _not_sent(conn, lead_id) == [
        ("CRE", "dms.contact_action", "AFTER_CLOSE"),
        ("TDA", "dms.test_drive", "AFTER_CLOSE"),
        ("TDR", "dms.test_drive", "AFTER_CLOSE"),
    ]
    assert send(conn, run_id="later").totals() == {}
    assert gm_codes(gm_sandbox, lead_id) == ["LIM", "LAT", "CRE", "VPE"]
    assert gm_stage(gm_sandbox, lead_id) == ("NotConverted", "BoughtElsewhere")
    status = conn.execute("SELECT status FROM dms.contact WHERE id = %s", (contact,)).fetchone()
    assert status == ("CLOSED_LOST",)

    # The lead log says so, on the command line and in the timeline the page shows.
    entries = [e for e in lead_log.timeline(conn, lead_id) if e.kind == "NOT_SENT"]
    assert [e.trigger_code for e in entries] == ["CRE", "TDA", "TDR"]
    assert all("after the close, not sent" in e.summary for e in entries)
    assert all("VPE" in e.summary for e in entries)  # which event closed it
    out = CliRunner().invoke(app, ["lead-log", lead_id, "--dms-url", dms_url])
    assert out.exit_code == 0, out.output
    assert out.output.count("after the close, not sent") == 3


def test_an_after_sales_lead_closed_as_won_twice_sends_one_nff(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "AFTER_SALES"))
    [contact] = contacts(conn, [lead_id])
    dms.register_contact(conn, contact, "PHONE")
    dms.close_won(conn, contact)
    dms.close_won(conn, contact)  # the DMS lets a user close it again
    dms.close_lost(conn, contact, "A02")  # and a lost sale after the sale

    assert codes(conn, lead_id) == ["LIM", "LAT", "CRE", "NFF"]
    assert _not_sent(conn, lead_id) == [
        ("NFF", "dms.contact_action", "AFTER_CLOSE"),
        ("VPE", "dms.contact_action", "AFTER_CLOSE"),
    ]
    assert send(conn).totals() == {"SENT": 4}
    assert gm_codes(gm_sandbox, lead_id).count("NFF") == 1
    assert gm_stage(gm_sandbox, lead_id) == ("Converted", "AfterSales")


def test_a_vehicle_lead_delivered_by_its_invoice_sends_nothing_after(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
    [contact] = contacts(conn, [lead_id])
    proposal = dms.save_proposal(conn, contact, "ONIX-10-LT-25", form="PHONE")
    invoice = dms.send_invoice_to_cashier(conn, "VEHICLE", proposal_id=proposal)
    dms.issue_invoice(conn, invoice)
    dms.register_contact(conn, contact, "PHONE")  # the delivery follow-up call
    dms.cancel_proposal(conn, proposal, "V01")  # a late cancel of the sold proposal

    assert codes(conn, lead_id) == ["LIM", "LAT", "PAB", "PAP", "NFF"]
    assert [r[0] for r in _not_sent(conn, lead_id)] == ["CRE", "VPE"]
    assert send(conn).totals() == {"SENT": 5}
    assert gm_stage(gm_sandbox, lead_id) == ("Delivered", "New")


def test_the_lead_log_page_shows_activity_not_sent_and_cancelled_events(
    dms_conn_env: str, gm_sandbox: SandboxProcess
) -> None:
    from fastapi.testclient import TestClient

    from gmcrm.web.app import create_app
    from tests.integration.web.test_lead_log_page import dom, lanes_of, mounted

    dms_url = dms_conn_env
    with psycopg.connect(dms_url, autocommit=True) as conn:
        seed(conn)
        closed, deleted = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0001", "NEW_VEHICLE"))
        contact, gone = contacts(conn, [closed, deleted])
        dms.register_lost_sale(conn, contact, "V01")
        dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")
        dms.register_contact(conn, gone, "PHONE")
        gm_sandbox.admin.delete_lead(deleted)
        report = send(conn)
        # LIM, LAT, VPE; the other's LIM: GM says deleted, its LAT and CRE roll back with it (then cancelled).
        assert report.totals() == {"SENT": 3, "CANCELLED": 1, "ROLLED_BACK": 2}
        vpe = conn.execute("SELECT id FROM gmcrm.trigger_outbox WHERE trigger_code = 'VPE'").fetchone()
        assert vpe is not None

    with TestClient(mounted(create_app(lane_counts=lanes_of(1)))) as client:
        page = dom(client.get(f"/gmcrm/lead-log/lead/{closed}").text)
        [entry] = page.one("ol", "timeline").all("li", "NOT_SENT")
        assert entry.one("span", "code").text() == "TDA"
        assert "Not sent" in entry.one("span", "kind").text()
        facts = entry.facts()
        assert (facts["Reason"], facts["Closed by event"]) == ("AFTER_CLOSE", str(vpe[0]))
        assert facts["DMS record"].startswith("dms.test_drive ")
        assert "after the close, not sent" in facts["Why not sent"]

        response = client.get(f"/gmcrm/lead-log/lead/{deleted}")
        assert response.status_code == 200
        page = dom(response.text)
        created = page.one("ol", "timeline").all("li", "EVENT_CREATED")
        assert [e.facts()["Status now"] for e in created] == ["CANCELLED"] * 3
        assert all("lead deleted at GM" in e.facts()["Why not sent"] for e in created)
        # One graph: GM answered the LIM "deleted", its LAT and CRE rolled back with it.
        attempts = page.one("ol", "timeline").all("li", "SEND_ATTEMPT")
        assert sorted(a.facts()["Outcome"] for a in attempts) == [
            "Cancelled (lead deleted at GM)",
            "Rolled back (another event of its lead failed)",
            "Rolled back (another event of its lead failed)",
        ]
        assert "failed" not in page.one("p", "counts").text()  # no failure counted
        search = client.get("/gmcrm/lead-log", params={"lead_id": deleted, "outcome": "CANCELLED"})
        assert search.status_code == 200 and deleted in search.text
