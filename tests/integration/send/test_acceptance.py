"""Acceptance scenarios 1-7 of operations.md and the send half of scenario 10, end to end.

Leads are created at the GM CRM sandbox (real HTTPS), imported as the import DAG does, worked in the
DMS by plain SQL as the DMS screens do (``gmcrm_devtools.dms_actions``; the capture triggers record the
events), then sent as the send DAG does (``Sender.prepare`` + ``run_until_done``). Every test asserts on
both sides: the DMS tables (``gmcrm.trigger_outbox``, ``gmcrm.send_log``) and what GM received
(``admin.events``, the lead's stage).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gmcrm import dealerships, dms_catalogues
from gmcrm.sqlstates import CLOSE_LOST_WITHOUT_REASON, CLOSE_WON_REFUSED, is_closing_rule_error
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import fast_client
from tests.integration.helpers.send import (
    DAG_ID,
    assert_delivered_exactly_once_in_order,
    codes,
    contacts,
    gm_codes,
    gm_events,
    gm_stage,
    import_leads,
    outbox,
    send,
    send_log,
)

pytestmark = pytest.mark.integration


def _contact_row(conn: psycopg.Connection[Any], contact_id: int) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM dms.contact WHERE id = %s", (contact_id,))
    names = [d.name for d in cur.description or []]
    row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


# ---------------------------------------------------------------------------------------------
# Scenario 1: new-vehicle lead, routing DIRECT, from import to invoice


def test_scenario_1_new_vehicle_lead_direct_to_delivered(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
    [contact] = contacts(conn, [lead_id])
    row = _contact_row(conn, contact)
    seller = dealerships.user_id(conn, "BR0001", "vendedor.vn")
    department = conn.execute("SELECT department_id FROM dms.app_user WHERE id = %s", (seller,)).fetchone()
    assert department is not None
    assert (row["status"], row["assigned_user_id"], row["department_id"]) == ("IN_QUEUE", seller, department[0])
    assert (row["contact_type"], row["contact_subtype"]) == ("VENDA", "VEICULO_NOVO")
    assert str(row["description"]).startswith("Contato de Vendas criado a partir do Lead CRM")
    customer = conn.execute(
        "SELECT dealer_code, created_from_lead_id FROM dms.customer WHERE id = %s", (row["customer_id"],)
    ).fetchone()
    assert customer == ("BR0001", lead_id)

    dms.register_contact(conn, contact, "PHONE")
    drive = dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")
    dms.complete_test_drive(conn, drive)
    proposal = dms.save_proposal(conn, contact, "ONIX-10-LT-25", form="IN_PERSON", price=109990)
    dms.send_proposal_for_approval(conn, proposal)
    dms.approve_proposal(conn, proposal)
    dms.change_proposal_vehicle(conn, proposal, "ONIX-10T-PREMIER-25")
    dms.attach_trade_in(
        conn,
        proposal,
        dms.TradeIn(model_code="CRUZE-14T-LT-19", model_year="2019", mileage=85000, plate="ABC1D23", value=68500.50),
    )
    invoice = dms.send_invoice_to_cashier(conn, "VEHICLE", proposal_id=proposal)
    dms.issue_invoice(conn, invoice)

    expected = ["LIM", "LAT", "CRE", "TDA", "TDR", "VRE", "PAB", "PEA", "PAP", "IMA", "VTA", "PAP", "NFF"]
    assert codes(conn, lead_id) == expected
    report = send(conn)
    assert report.totals() == {"SENT": len(expected)} and report.stopped is None

    # The DMS side: every event SENT, one send_log row each, as sent and as answered.
    rows = outbox(conn, lead_id)
    assert {(r.status, r.attempts) for r in rows} == {("SENT", 1)}
    assert all(r.sent_at is not None and r.claimed_by is None for r in rows)
    log = send_log(conn, lead_id)
    assert [entry["outbox_id"] for entry in log] == [r.id for r in rows]
    for entry, r in zip(log, rows, strict=True):
        assert (entry["outcome"], entry["status_code"], entry["trigger_code"]) == ("SENT", 200, r.trigger_code)
        assert (entry["dag_id"], entry["run_id"], entry["try_number"]) == (DAG_ID, "test", 1)
        assert entry["request_body"]["DMS_Event_Id__c"] == r.event_id
        assert entry["request_body"]["Lead__c"] == lead_id
        assert entry["response_body"]["success"] is True and entry["response_body"]["created"] is True
        assert entry["error_code"] is None

    # GM's side: the events in order, with what each carries.
    events = gm_events(gm_sandbox, lead_id)
    assert [e["Trigger_Code__c"] for e in events] == expected
    assert [e["DMS_Event_Id__c"] for e in events] == [r.event_id for r in rows]
    assert all(e["receipts"] == 1 for e in events)
    assert [(e["Stage__c"], e["Substage__c"]) for e in events] == [
        ("New", None),
        ("Assigned", None),
        ("Experiencing", "InProgressPhone"),
        ("Deciding", "TestDriveScheduled"),
        ("Deciding", "TestDriveShowed"),
        ("Deciding", "ShowroomVisit"),
        ("Deciding", "OfferPresented"),
        ("Deciding", "OfferPresented"),
        ("Converted", "New"),
        ("WithoutStage", "WithoutSubstage"),
        ("WithoutStage", "WithoutSubstage"),
        ("Converted", "New"),
        ("Delivered", "New"),
    ]
    by_code = {e["Trigger_Code__c"]: e for e in events}  # the last of each code
    assert by_code["CRE"]["Contact_Channel__c"] == "Phone"
    assert by_code["VRE"]["Contact_Channel__c"] == "InPerson"
    ima = by_code["IMA"]
    assert ima["Communication__c"] == "CREATE_MODEL_OF_INTEREST" and not ima["applied"]
    # The TRIN apart from the model description.
    assert (ima["Vehicle_Model__c"], ima["Vehicle_Trim__c"], ima["Vehicle_Model_Year__c"]) == (
        "Onix", "1.0 Turbo Premier", "2025",
    )  # fmt: skip
    vta = by_code["VTA"]
    assert vta["Communication__c"] == "CREATE_TRADE_IN_DETAILS" and not vta["applied"]
    assert (vta["Trade_In_Model__c"], vta["Trade_In_Trim__c"], vta["Trade_In_Model_Year__c"]) == (
        "Cruze", "1.4 Turbo LT", "2019",
    )  # fmt: skip
    assert (float(vta["Trade_In_Mileage__c"]), vta["Trade_In_Plate__c"], float(vta["Trade_In_Value__c"])) == (
        85000.0, "ABC1D23", 68500.5,
    )  # fmt: skip
    first_pap, sale_pap = [e for e in events if e["Trigger_Code__c"] == "PAP"]
    assert (first_pap["Vehicle_Model__c"], first_pap["Vehicle_Trim__c"]) == ("Onix", "1.0 LT")
    assert (sale_pap["Vehicle_Model__c"], sale_pap["Vehicle_Trim__c"]) == ("Onix", "1.0 Turbo Premier")
    nff = by_code["NFF"]
    assert (nff["Vehicle_Model__c"], nff["Vehicle_Trim__c"], nff["Salesperson__c"]) == (
        "Onix", "1.0 Turbo Premier", "Carla Mendes",
    )  # fmt: skip
    # What GM received is what the send log says was sent, record for record.
    received = gm_sandbox.admin.receipts(lead_id)
    assert [r["record"] for r in received] == [
        {k: v for k, v in entry["request_body"].items() if k != "attributes"} for entry in log
    ]
    assert [entry["response_body"]["id"] for entry in log] == [r["event_id"] for r in received]
    assert gm_stage(gm_sandbox, lead_id) == ("Delivered", "New")

    # A second run has nothing to send.
    again = send(conn, run_id="test-2")
    assert again.totals() == {} and len(gm_sandbox.admin.receipts(lead_id)) == len(expected)


# ---------------------------------------------------------------------------------------------
# Scenario 2: service lead, routing DISTRIBUTION


def test_scenario_2_service_lead_distribution_to_service_complete(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0002", "SERVICE"))
    [contact] = contacts(conn, [lead_id])
    assert _contact_row(conn, contact)["status"] == "AWAITING_DISTRIBUTION"
    assert codes(conn, lead_id) == ["LIM"]
    # What is recorded so far can go before the contact is distributed.
    send(conn)
    assert gm_codes(gm_sandbox, lead_id) == ["LIM"]
    assert gm_stage(gm_sandbox, lead_id)[0] == "New"

    advisor = dealerships.user_id(conn, "BR0002", "consultor.oficina")
    assert dms.distribute_contacts(conn, [contact], ["consultor.oficina"]) == [(contact, advisor)]
    dms.register_contact(conn, contact, "EMAIL")
    dms.save_service_appointment(conn, contact, "AR")  # another type: nothing for GM
    assert codes(conn, lead_id) == ["LIM", "LAT", "CRE"]
    dms.save_service_appointment(conn, contact, "AE")
    order = dms.send_invoice_to_cashier(conn, "SERVICE_ORDER", contact_id=contact)
    dms.issue_invoice(conn, order)

    report = send(conn, run_id="test-2")
    assert report.totals() == {"SENT": 5}
    assert {r.status for r in outbox(conn, lead_id)} == {"SENT"}
    events = gm_events(gm_sandbox, lead_id)
    assert [(e["Trigger_Code__c"], e["Stage__c"], e["Substage__c"]) for e in events] == [
        ("LIM", "New", None),
        ("LAT", "Assigned", None),
        ("CRE", "Experiencing", "InProgressEmail"),
        ("ACO", "Deciding", "Contacted"),
        ("ACO", "Converted", "ServiceScheduled"),
        ("NFF", "Delivered", "ServiceComplete"),
    ]
    assert events[2]["Contact_Channel__c"] == "Email"
    assert events[1]["Salesperson__c"] == "Patrícia Souza"
    # The two ACO events are two records (two outbox rows), both applied, in that order.
    assert events[3]["DMS_Event_Id__c"] != events[4]["DMS_Event_Id__c"]
    assert all(e["applied"] for e in events)
    assert [entry["run_id"] for entry in send_log(conn, lead_id)] == ["test"] + ["test-2"] * 5
    assert gm_stage(gm_sandbox, lead_id) == ("Delivered", "ServiceComplete")


# ---------------------------------------------------------------------------------------------
# Scenario 3: parts leads


def test_scenario_3_parts_leads_counter_service(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    sold_lead, lost_lead = import_leads(dms_url, gm_sandbox, ("BR0002", "PARTS"), ("BR0002", "PARTS"))
    sold, lost = contacts(conn, [sold_lead, lost_lead])
    clerk, clerk2 = (dealerships.user_id(conn, "BR0002", login) for login in ("balcao.pecas", "balcao.pecas2"))
    assert dms.distribute_contacts(conn, [sold, lost], [clerk, clerk2]) == [(sold, clerk), (lost, clerk2)]

    # Distribution opened a counter service in the salesperson's name and told them by internal mail.
    counter = dms.counter_service_of(conn, sold)
    assert conn.execute(
        "SELECT salesperson_user_id, status FROM dms.parts_counter_service WHERE id = %s", (counter,)
    ).fetchone() == (clerk, "OPEN")
    mails = conn.execute("SELECT to_user_id, subject FROM dms.internal_mail WHERE contact_id = %s", (sold,)).fetchall()
    assert len(mails) == 1 and mails[0][0] == clerk and str(counter) in mails[0][1]

    dms.add_counter_service_item(conn, counter, "52100123", description="Pastilha de freio", form="PHONE")
    dms.add_counter_service_item(conn, counter, "93745811", description="Filtro de óleo", quantity=2)
    dms.send_counter_service_to_cashier(conn, counter)
    invoice = dms.send_invoice_to_cashier(conn, "PARTS", counter_service_id=counter)
    dms.issue_invoice(conn, invoice)
    dms.cancel_counter_service(conn, dms.counter_service_of(conn, lost), "P02")

    report = send(conn)
    assert report.totals() == {"SENT": 8}
    assert [(e["Trigger_Code__c"], e["Stage__c"], e["Substage__c"]) for e in gm_events(gm_sandbox, sold_lead)] == [
        ("LIM", "New", None),
        ("LAT", "Assigned", None),
        ("CRE", "Experiencing", "InProgressPhone"),
        ("PVR", "Converted", "PartsAndAccessoriesOrdered"),
        ("NFF", "Delivered", "PartsAndAccessories"),
    ]
    lost_events = gm_events(gm_sandbox, lost_lead)
    assert [e["Trigger_Code__c"] for e in lost_events] == ["LIM", "LAT", "VPE"]
    vpe = lost_events[-1]
    assert (vpe["Stage__c"], vpe["Substage__c"], vpe["Lost_Reason__c"]) == (
        "NotConverted", "VehicleUnavailable", "VehicleUnavailable",
    )  # fmt: skip
    assert vpe["Salesperson__c"] == "Marcos Lima"
    assert gm_stage(gm_sandbox, sold_lead) == ("Delivered", "PartsAndAccessories")
    assert gm_stage(gm_sandbox, lost_lead) == ("NotConverted", "VehicleUnavailable")
    assert {r.status for r in outbox(conn)} == {"SENT"}


# ---------------------------------------------------------------------------------------------
# Scenario 4: after-sales leads


def test_scenario_4_after_sales_closed_won_and_closed_lost(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    won_lead, lost_lead = import_leads(dms_url, gm_sandbox, ("BR0001", "AFTER_SALES"), ("BR0003", "AFTER_SALES"))
    won, lost = contacts(conn, [won_lead, lost_lead])
    dms.register_contact(conn, won, "IN_PERSON")
    dms.close_won(conn, won)
    dms.register_contact(conn, lost, "PHONE")
    dms.close_lost(conn, lost, "A02")

    report = send(conn)
    assert report.totals() == {"SENT": 9}
    events = gm_events(gm_sandbox, won_lead)
    assert [(e["Trigger_Code__c"], e["Stage__c"], e["Substage__c"]) for e in events] == [
        ("LIM", "New", None),
        ("LAT", "Assigned", None),
        ("CRE", "Experiencing", "InProgressInPerson"),
        ("VRE", "Deciding", "ShowroomVisit"),
        ("NFF", "Converted", "AfterSales"),
    ]
    assert events[2]["Contact_Channel__c"] == events[3]["Contact_Channel__c"] == "InPerson"
    assert gm_stage(gm_sandbox, won_lead) == ("Converted", "AfterSales")
    lost_events = gm_events(gm_sandbox, lost_lead)
    assert [e["Trigger_Code__c"] for e in lost_events] == ["LIM", "LAT", "CRE", "VPE"]
    assert (lost_events[-1]["Lost_Reason__c"], lost_events[-1]["Substage__c"]) == ("Unreachable", "Unreachable")
    assert lost_events[-1]["Dealer_Code__c"] == "BR0003"
    assert gm_stage(gm_sandbox, lost_lead) == ("NotConverted", "Unreachable")
    assert [_contact_row(conn, c)["status"] for c in (won, lost)] == ["CLOSED_WON", "CLOSED_LOST"]
    vpe_log = send_log(conn, lost_lead)[-1]
    assert (vpe_log["trigger_code"], vpe_log["stage"], vpe_log["substage"]) == ("VPE", "NotConverted", "Unreachable")
    assert vpe_log["request_body"]["Lost_Reason__c"] == "Unreachable"


# ---------------------------------------------------------------------------------------------
# Scenario 5: closing rules


def _refused(conn: psycopg.Connection[Any], action: Any, *args: Any) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        action(conn, *args)
    assert is_closing_rule_error(info.value)
    return info.value


def _written(conn: psycopg.Connection[Any], contact: int) -> tuple[int, int, int, int, str]:
    """What a refused action must not have changed: actions, proposals, counter services, outbox, status."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM dms.contact_action WHERE contact_id = c.id), "
        "(SELECT count(*) FROM dms.proposal WHERE contact_id = c.id AND approval_state <> 'DRAFT'), "
        "(SELECT count(*) FROM dms.parts_counter_service WHERE contact_id = c.id AND status <> 'OPEN'), "
        "(SELECT count(*) FROM gmcrm.trigger_outbox WHERE contact_id = c.id), c.status "
        "FROM dms.contact c WHERE c.id = %s",
        (contact,),
    ).fetchone()
    assert row is not None
    return row


def test_scenario_5_closing_rules_refused_and_nothing_written(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    types = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")
    lead_ids = import_leads(dms_url, gm_sandbox, *(("BR0001", t) for t in types))
    by_type = dict(zip(types, contacts(conn, lead_ids), strict=True))
    for contact in by_type.values():
        dms.register_contact(conn, contact, "PHONE")
    proposal = dms.save_proposal(conn, by_type["NEW_VEHICLE"], "TRACKER-12T-RS-25")
    before = {t: _written(conn, c) for t, c in by_type.items()}

    # Closing a vehicle (or service, or parts) lead as won by a contact action.
    for lead_type in ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS"):
        error = _refused(conn, dms.close_won, by_type[lead_type])
        assert error.sqlstate == CLOSE_WON_REFUSED
        message = str(error)
        assert "não pode ser fechado como ganho" in message and "register a lost sale with a reason" in message
        assert lead_type in message and lead_ids[types.index(lead_type)] in message
    # Closing any lead as lost without a reason, from every screen that can.
    for contact in by_type.values():
        for action in (dms.close_lost, dms.register_lost_sale):
            error = _refused(conn, action, contact, None)
            assert error.sqlstate == CLOSE_LOST_WITHOUT_REASON
            assert "sem motivo" in str(error) and "without a reason" in str(error)
    assert _refused(conn, dms.cancel_proposal, proposal, None).sqlstate == CLOSE_LOST_WITHOUT_REASON
    assert _refused(conn, dms.reject_proposal, proposal, None).sqlstate == CLOSE_LOST_WITHOUT_REASON
    counter = dms.counter_service_of(conn, by_type["PARTS"])
    assert _refused(conn, dms.cancel_counter_service, counter, None).sqlstate == CLOSE_LOST_WITHOUT_REASON

    # Nothing was written by any attempt: no activity row, no outbox row, the contacts untouched.
    assert {t: _written(conn, c) for t, c in by_type.items()} == before
    send(conn)
    for lead_type, lead_id in zip(types, lead_ids, strict=True):
        expected = ["LIM", "LAT", "CRE"] + (["PAB"] if lead_type == "NEW_VEHICLE" else [])
        assert gm_codes(gm_sandbox, lead_id) == expected
        assert gm_stage(gm_sandbox, lead_id)[0] in ("Experiencing", "Deciding")
    assert {r.status for r in outbox(conn)} == {"SENT"}

    # The after-sales lead may be closed as won: that is its sale.
    dms.close_won(conn, by_type["AFTER_SALES"])
    send(conn, run_id="test-2")
    assert gm_stage(gm_sandbox, lead_ids[-1]) == ("Converted", "AfterSales")


# ---------------------------------------------------------------------------------------------
# Scenario 6: a lost sale whose reason has no GM reason


def test_scenario_6_unmapped_reason_fails_then_retry_sends_it_and_nothing_after_the_close(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    lead_id, other_lead = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0001", "USED_VEHICLE"))
    contact, other = contacts(conn, [lead_id, other_lead])
    dms.register_contact(conn, contact, "PHONE")
    proposal = dms.save_proposal(conn, contact, "MONTANA-12T-PREMIER-25")
    dms.cancel_proposal(conn, proposal, "V99")  # "Desistiu da compra", deliberately unmapped
    # The customer comes back after the lost sale: the DMS keeps it, the lead is closed for GM
    # (triggers.md "Closing a lead", last point): no outbox row, never sent.
    dms.register_contact(conn, contact, "EMAIL")
    dms.register_contact(conn, other, "PHONE")
    assert codes(conn, lead_id) == ["LIM", "LAT", "CRE", "PAB", "VPE"]
    not_sent = conn.execute(
        "SELECT trigger_code, reason_code FROM gmcrm.activity_not_sent WHERE lead_id = %s", (lead_id,)
    ).fetchall()
    assert not_sent == [("CRE", "AFTER_CLOSE")]

    report = send(conn)
    assert report.totals() == {"SENT": 7, "FAILED": 1}
    rows = outbox(conn, lead_id)
    vpe = rows[4]
    # What the run alerts a person to: its own failures, from its report.
    assert [(a.outbox_id, a.error_code) for a in report.failed] == [(vpe.id, "UNMAPPED_REASON")]
    assert [r.status for r in rows] == ["SENT", "SENT", "SENT", "SENT", "FAILED"]
    # The failure names the reason, its type and what to do.
    assert vpe.last_error_code == "UNMAPPED_REASON"
    assert vpe.last_error is not None
    for part in ("V99", "Desistiu da compra", "type V", "BR0001", "Map it under Motivos", "retry"):
        assert part in vpe.last_error, part
    [failed_log] = [entry for entry in send_log(conn, lead_id) if entry["outbox_id"] == vpe.id]
    assert (failed_log["outcome"], failed_log["error_code"], failed_log["status_code"]) == (
        "FAILED", "UNMAPPED_REASON", None,
    )  # fmt: skip
    assert failed_log["request_body"] is None and "V99" in failed_log["error_message"]
    assert gm_codes(gm_sandbox, lead_id) == ["LIM", "LAT", "CRE", "PAB"]
    # Other leads are never held up.
    assert gm_codes(gm_sandbox, other_lead) == ["LIM", "LAT", "CRE"]

    # A run without retry_failed leaves it as it is.
    assert send(conn, run_id="test-2").totals() == {}
    assert [r.status for r in outbox(conn, lead_id)][4:] == ["FAILED"]

    dms_catalogues.map_reason(conn, "BR0001", "V99", "NotInterested")
    report = send(conn, retry_failed=True, run_id="test-3")
    assert report.totals() == {"SENT": 1}
    assert {r.status for r in outbox(conn, lead_id)} == {"SENT"}
    events = gm_events(gm_sandbox, lead_id)
    assert [e["Trigger_Code__c"] for e in events] == ["LIM", "LAT", "CRE", "PAB", "VPE"]
    assert [e["DMS_Event_Id__c"] for e in events] == [r.event_id for r in rows]
    assert (events[4]["Lost_Reason__c"], events[4]["Substage__c"]) == ("NotInterested", "NotInterested")
    assert gm_stage(gm_sandbox, lead_id) == ("NotConverted", "NotInterested")
    log = [e for e in send_log(conn, lead_id) if e["outbox_id"] == vpe.id]
    assert [(e["outcome"], e["run_id"]) for e in log] == [("FAILED", "test"), ("SENT", "test-3")]
    assert log[1]["request_body"]["Lost_Reason__c"] == "NotInterested"


def test_scenario_6_a_later_event_waits_behind_a_failed_one_then_both_go_in_order(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    """The waiting half of scenario 6, on an event that is not a close: GM refuses a contact for good,
    the test drive scheduled after it waits, a retry sends both in order."""
    [lead_id] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
    [contact] = contacts(conn, [lead_id])
    assert send(conn).totals() == {"SENT": 2}
    dms.register_contact(conn, contact, "PHONE")
    dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")
    gm_sandbox.admin.record_errors(1, status_code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")

    report = send(conn, run_id="test-2")
    # Both went in the lead's one graph: GM rolled the test drive back with the refused contact.
    assert report.totals() == {"FAILED": 1, "ROLLED_BACK": 1}
    cre, later = outbox(conn, lead_id)[2:]
    assert [(r.trigger_code, r.status) for r in (cre, later)] == [("CRE", "FAILED"), ("TDA", "BLOCKED")]
    assert later.last_error is not None and f"waiting behind event {cre.id} (CRE, FAILED)" in later.last_error
    assert send(conn, run_id="test-3").totals() == {}

    report = send(conn, retry_failed=True, run_id="test-4")
    assert report.totals() == {"SENT": 2}
    receipts = [r["dms_event_id"] for r in gm_sandbox.admin.receipts(lead_id) if r["success"]]
    assert receipts[2:] == [cre.event_id, later.event_id]
    assert gm_stage(gm_sandbox, lead_id) == ("Deciding", "TestDriveScheduled")


# ---------------------------------------------------------------------------------------------
# Scenario 7: a contact the dealership created itself


def test_scenario_7_dealership_contacts_record_and_send_nothing(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    [control_lead] = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"))
    [control] = contacts(conn, [control_lead])
    dms.register_contact(conn, control, "PHONE")

    vehicle = dms.create_own_contact(conn, "BR0001", "NEW_VEHICLE", user="vendedor.vn", form="IN_PERSON")
    dms.register_contact(conn, vehicle, "IN_PERSON")
    dms.register_no_contact(conn, vehicle)
    drive = dms.schedule_test_drive(conn, vehicle, "SPIN-18-PREMIER-24")
    dms.complete_test_drive(conn, drive)
    dms.delete_test_drive(conn, dms.schedule_test_drive(conn, vehicle))
    proposal = dms.save_proposal(conn, vehicle, "SPIN-18-PREMIER-24", form="IN_PERSON")
    dms.send_proposal_for_approval(conn, proposal)
    dms.approve_proposal(conn, proposal)
    dms.change_proposal_vehicle(conn, proposal, "ONIXPLUS-10T-LTZ-25")
    dms.attach_trade_in(conn, proposal, dms.TradeIn(model="Celta", version="1.0 LT", model_year="2012"))
    dms.issue_invoice(conn, dms.send_invoice_to_cashier(conn, "VEHICLE", proposal_id=proposal))

    service = dms.create_own_contact(conn, "BR0001", "SERVICE", user="consultor.oficina")
    dms.register_contact(conn, service, "EMAIL")
    dms.save_service_appointment(conn, service, "AE")
    dms.issue_invoice(conn, dms.send_invoice_to_cashier(conn, "SERVICE_ORDER", contact_id=service))

    parts = dms.create_own_contact(conn, "BR0001", "PARTS", user="balcao.pecas")
    counter = dms.open_counter_service(conn, parts, form="PHONE")
    dms.add_counter_service_item(conn, counter, "24105963")
    dms.send_counter_service_to_cashier(conn, counter)
    other_parts = dms.create_own_contact(conn, "BR0001", "PARTS", user="balcao.pecas")
    dms.cancel_counter_service(conn, dms.open_counter_service(conn, other_parts), None)  # no reason needed

    after_sales = dms.create_own_contact(conn, "BR0001", "AFTER_SALES", user="consultor.as")
    dms.register_contact(conn, after_sales, "IN_PERSON")
    dms.close_won(conn, after_sales)
    lost = dms.create_own_contact(conn, "BR0001", "USED_VEHICLE", user="vendedor.vu")
    dms.close_lost(conn, lost, None)  # the closing rules guard GM leads only
    discarded = dms.create_own_contact(conn, "BR0001", None)
    dms.register_lost_sale(conn, discarded, "D01", kind="DISCARD")

    own = [vehicle, service, parts, other_parts, after_sales, lost, discarded]
    statuses = dict(conn.execute("SELECT id, status FROM dms.contact WHERE id = ANY (%s)", (own,)).fetchall())
    assert statuses == {
        vehicle: "CLOSED_WON", service: "CLOSED_WON", parts: "IN_PROGRESS", other_parts: "CLOSED_LOST",
        after_sales: "CLOSED_WON", lost: "CLOSED_LOST", discarded: "CLOSED_LOST",
    }  # fmt: skip
    # Not one outbox row for the dealership's own contacts; the lead contact's are all there.
    assert conn.execute(
        "SELECT count(*) FROM gmcrm.trigger_outbox WHERE contact_id = ANY (%s) OR lead_id IS NULL", (own,)
    ).fetchone() == (0,)
    assert [(r.lead_id, r.trigger_code) for r in outbox(conn)] == [
        (control_lead, "LIM"), (control_lead, "LAT"), (control_lead, "CRE"),
    ]  # fmt: skip

    report = send(conn)
    assert report.totals() == {"SENT": 3}
    assert [e["Lead__c"] for e in gm_sandbox.admin.events()] == [control_lead] * 3
    assert {entry["lead_id"] for entry in send_log(conn)} == {control_lead}


# ---------------------------------------------------------------------------------------------
# Scenario 10, the send half: faults at GM during sends


def _log_of(conn: psycopg.Connection[Any], run_id: str) -> list[dict[str, Any]]:
    return [e for e in send_log(conn) if e["run_id"] == run_id]


def _time_passes(conn: psycopg.Connection[Any]) -> None:
    """The backoff has run out: RETRY events are due now."""
    conn.execute("UPDATE gmcrm.trigger_outbox SET next_attempt_at = now() WHERE status = 'RETRY'")


def _wait_for_receipts(sandbox: SandboxProcess, event_ids: set[str], receipts: int, seconds: float = 10.0) -> None:
    """Until GM has received each of ``event_ids`` ``receipts`` times (a timed-out call lands late)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts = {e["DMS_Event_Id__c"]: e["receipts"] for e in sandbox.admin.events()}
        if all(counts.get(i, 0) >= receipts for i in event_ids):
            return
        time.sleep(0.1)
    raise AssertionError(f"GM never received {sorted(event_ids)} {receipts} times")


def test_scenario_10_faults_during_sends_every_event_arrives_once_in_order(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    admin = gm_sandbox.admin
    lead_ids = import_leads(
        dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0003", "NEW_VEHICLE"), ("BR0001", "USED_VEHICLE"),
        ("BR0003", "USED_VEHICLE"),
    )  # fmt: skip
    lead_contacts = contacts(conn, lead_ids)
    # One client for every run, as a long-lived worker would have: its session can expire.
    client = fast_client(timeout=1.0)

    # 503 with an HTML body (Salesforce's edge), twice: the client's own retries get through.
    admin.fail_next(503, count=2, applies_to="collection", html=True)
    report = send(conn, client, run_id="html-503")
    assert report.totals() == {"SENT": 8}
    assert client.stats.retries >= 2
    assert {e["outcome"] for e in _log_of(conn, "html-503")} == {"SENT"}
    assert admin.faults() == []

    # 503 longer than the client's retries: RETRY with a backoff, nothing lost, nothing failed.
    for contact in lead_contacts:
        dms.register_contact(conn, contact, "PHONE")
    admin.fail_next(503, count=client.retry_attempts, applies_to="collection")
    report = send(conn, client, run_id="503")
    assert report.totals() == {"RETRY": 4}
    cre = [r for r in outbox(conn) if r.trigger_code == "CRE"]
    assert {(r.status, r.attempts) for r in cre} == {("RETRY", 1)}
    due = conn.execute("SELECT bool_and(next_attempt_at > now()) FROM gmcrm.trigger_outbox WHERE status = 'RETRY'")
    assert due.fetchone() == (True,)
    log = _log_of(conn, "503")
    assert {(e["outcome"], e["error_code"]) for e in log} == {("RETRY", "TRANSIENT")}
    assert all("503" in e["error_message"] and e["request_body"]["Trigger_Code__c"] == "CRE" for e in log)
    assert not any(e["Trigger_Code__c"] == "CRE" for e in admin.events())
    assert send(conn, client, run_id="too-early").totals() == {}  # still backing off
    _time_passes(conn)
    assert send(conn, client, run_id="503-later").totals() == {"SENT": 4}

    # A timeout: the call takes longer than the client waits. GM did save it (it only answered late);
    # the client's retry is an upsert of the same external id, so GM still has each event once.
    for contact in lead_contacts:
        dms.register_no_contact(conn, contact)
    admin.add_latency(2.5, count=1, applies_to="collection")
    report = send(conn, client, run_id="timeout")
    assert report.totals() == {"SENT": 4}
    cnr = {r.event_id for r in outbox(conn) if r.trigger_code == "CNR"}
    _wait_for_receipts(gm_sandbox, cnr, receipts=2)
    late = [r for r in admin.receipts() if r["dms_event_id"] in cnr]
    assert len(late) == 8 and sorted(r["created"] for r in late) == [False] * 4 + [True] * 4

    # An expired session: one fresh sign-in, then the same call again.
    for contact in lead_contacts:
        dms.schedule_test_drive(conn, contact, "TRACKER-12T-RS-25")
    sign_ins = client.stats.sign_ins
    admin.expire_sessions()
    assert send(conn, client, run_id="expired").totals() == {"SENT": 4}
    assert client.stats.sign_ins == sign_ins + 1

    # The daily limit: the run stops, everything stays pending, nothing is marked failed.
    drives = conn.execute("SELECT id FROM dms.test_drive ORDER BY id").fetchall()
    for (drive,) in drives:
        dms.complete_test_drive(conn, drive)
    admin.exhaust_daily_limit()
    report = send(conn, client, run_id="limit")
    assert report.stopped is not None and "daily" in report.stopped
    tdr = [r for r in outbox(conn) if r.trigger_code == "TDR"]
    assert {(r.status, r.attempts) for r in tdr} == {("PENDING", 0)}
    assert not any(r.status == "FAILED" for r in outbox(conn))
    log = _log_of(conn, "limit")
    assert log and {(e["outcome"], e["status_code"], e["error_code"]) for e in log} == {
        ("DEFERRED", 403, "REQUEST_LIMIT_EXCEEDED")
    }
    admin.set_limits(used=0)  # the next day
    assert send(conn, client, run_id="next-day").totals() == {"SENT": 4}

    # UNABLE_TO_LOCK_ROW on some records: those retry later; their leads' later events wait for them.
    for contact in lead_contacts:
        dms.send_proposal_for_approval(conn, dms.save_proposal(conn, contact, "S10-28D-HIGHCOUNTRY-25"))
    locked_leads = {lead_ids[0], lead_ids[2]}
    locked = [r for r in outbox(conn) if r.trigger_code == "PAB" and r.lead_id in locked_leads]
    admin.record_errors(dms_event_ids=[r.event_id for r in locked], status_code="UNABLE_TO_LOCK_ROW")
    report = send(conn, client, run_id="lock")
    # Each lead's PAB and PEA go as one graph: GM rolls a locked lead's PEA back with its PAB.
    assert report.totals() == {"RETRY": 2, "SENT": 4, "ROLLED_BACK": 2}
    state = {(r.lead_id, r.trigger_code): r for r in outbox(conn) if r.trigger_code in ("PAB", "PEA")}
    for lead_id in lead_ids:
        if lead_id in locked_leads:
            assert (state[lead_id, "PAB"].status, state[lead_id, "PAB"].last_error_code) == (
                "RETRY", "UNABLE_TO_LOCK_ROW",
            )  # fmt: skip
            assert state[lead_id, "PAB"].next_attempt_at is not None
            assert state[lead_id, "PEA"].status == "PENDING"
            assert gm_codes(gm_sandbox, lead_id)[-1] == "TDR"
        else:
            assert (state[lead_id, "PAB"].status, state[lead_id, "PEA"].status) == ("SENT", "SENT")
    retried = [e for e in _log_of(conn, "lock") if e["outcome"] == "RETRY"]
    assert {(e["status_code"], e["error_code"]) for e in retried} == {(200, "UNABLE_TO_LOCK_ROW")}
    assert all(e["response_body"]["success"] is False for e in retried)
    assert send(conn, client, run_id="lock-early").totals() == {}
    _time_passes(conn)
    assert send(conn, client, run_id="lock-later").totals() == {"SENT": 4}

    # After the faults: every event arrived exactly once, applied once, in order per lead.
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)
    for lead_id in lead_ids:
        assert gm_codes(gm_sandbox, lead_id) == ["LIM", "LAT", "CRE", "CNR", "TDA", "TDR", "PAB", "PEA"]
        assert gm_stage(gm_sandbox, lead_id) == ("Deciding", "OfferPresented")
    assert not any(e["outcome"] == "FAILED" for e in send_log(conn))
    assert {(e["dag_id"], e["try_number"]) for e in send_log(conn)} == {(DAG_ID, 1)}


# ---------------------------------------------------------------------------------------------
# A dry run: payloads in the send log, nothing else changes


def test_a_dry_run_changes_nothing_but_the_send_log(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    first, second = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0001", "NEW_VEHICLE"))
    [contact] = contacts(conn, [second])
    dms.register_contact(conn, contact, "PHONE")
    dms.register_lost_sale(conn, contact, "V99")  # unmapped: its VPE cannot be built
    # The second lead's earlier events went out; the first lead's LIM failed once and waits, due now.
    conn.execute(
        "UPDATE gmcrm.trigger_outbox SET status = 'SENT', sent_at = now() WHERE lead_id = %s AND trigger_code <> 'VPE'",
        (second,),
    )
    lim = next(e for e in outbox(conn, first) if e.trigger_code == "LIM")
    conn.execute(
        "UPDATE gmcrm.trigger_outbox SET status = 'RETRY', attempts = 1, next_attempt_at = now() - interval '1 s', "
        "last_error = 'GM was busy', last_error_code = 'TRANSIENT' WHERE id = %s",
        (lim.id,),
    )
    before = outbox(conn)

    report = send(conn, fast_client(), dry_run=True, retry_failed=True)

    assert outbox(conn) == before  # statuses, attempts, backoff, errors and claims as they were
    logged = {row["trigger_code"]: row for row in send_log(conn)}
    assert sorted(logged) == ["LAT", "LIM", "VPE"]  # what a real run would send next: each lead's events in order
    assert {row["outcome"] for row in logged.values()} == {"DRY_RUN"}
    assert logged["LIM"]["outbox_id"] == lim.id and logged["LIM"]["request_body"] is not None
    assert logged["VPE"]["error_code"] == "UNMAPPED_REASON" and logged["VPE"]["request_body"] is None
    assert report.failed == [] and report.totals() == {"DRY_RUN": 3}
    assert gm_events(gm_sandbox, first) == [] and gm_events(gm_sandbox, second) == []
