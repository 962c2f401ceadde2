"""The DMS side of trigger events: DMS actions done with plain SQL, as a DMS screen would, and the
outbox rows the capture triggers write in the same transaction (triggers.md; operations.md
scenarios 1-7 on the DMS side). Also the closing rules and contact distribution.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gmcrm import db, dms_catalogues
from gmcrm.catalogue import UnmappedReasonError, load_catalogue, sync_catalogue
from gmcrm.send.outbox import fetch_outbox_events
from gmcrm.send.payload import build_event
from gmcrm.sqlstates import (
    CATALOGUE_NOT_LOADED,
    CLOSE_LOST_WITHOUT_REASON,
    CLOSE_WON_REFUSED,
    DISTRIBUTION_BAD_CONTACTS,
    DISTRIBUTION_BAD_USERS,
    GM_REASON_NOT_IN_LIST,
    is_closing_rule_error,
)
from gmcrm_devtools import demo_seed
from tests.integration.helpers.dms_world import DmsWorld, seeded_database

pytestmark = pytest.mark.integration

ALL_LEAD_TYPES = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")
# Who works each lead type at BR0001 (demo_dealerships.yaml).
LOGIN = {
    "NEW_VEHICLE": "vendedor.vn",
    "USED_VEHICLE": "vendedor.vu",
    "SERVICE": "consultor.oficina",
    "PARTS": "balcao.pecas",
    "AFTER_SALES": "consultor.as",
}


@pytest.fixture(scope="module")
def seeded_url(pg_server_url: str, dms_template: str) -> Iterator[str]:
    """One migrated and seeded database for the module; each test runs in a transaction rolled back."""
    url = seeded_database(pg_server_url, dms_template)
    yield url
    db.drop_database(pg_server_url, str(psycopg.conninfo.conninfo_to_dict(url)["dbname"]))


@pytest.fixture
def world(seeded_url: str) -> Iterator[DmsWorld]:
    # Rolled back at the end, so tests never see each other's rows. A statement that must fail runs
    # in a savepoint (_refused), like a DMS screen's own transaction: nothing of it stays behind.
    with psycopg.connect(seeded_url) as conn:
        yield DmsWorld(conn=conn)
        conn.rollback()


@pytest.fixture
def committing_world(dms_url: str) -> Iterator[DmsWorld]:
    """A fresh database where every statement commits on its own (autocommit), for tests that need it."""
    with psycopg.connect(dms_url, autocommit=True) as conn:
        yield DmsWorld.seed(conn)


def _exec(world: DmsWorld, query: str, params: tuple[Any, ...] = ()) -> int:
    """Run a statement; the id it returns (for INSERT ... RETURNING id) or 0."""
    cur = world.conn.execute(query, params)
    row = cur.fetchone() if cur.description else None
    return int(row[0]) if row else 0


def _test_drive(world: DmsWorld, contact_id: int, status: str = "SCHEDULED", model: str = "ONIX-10-LT-25") -> int:
    return _exec(
        world,
        "INSERT INTO dms.test_drive (contact_id, vehicle_model_id, scheduled_at, status, user_id) "
        "VALUES (%s, %s, now() + interval '1 day', %s, %s) RETURNING id",
        (contact_id, world.model(model), status, world.user("vendedor.vn")),
    )


def _proposal(
    world: DmsWorld, contact_id: int, form_type: str | bool | None = "PHONE", model: str = "ONIX-10-LT-25", **cols: Any
) -> int:
    values: dict[str, Any] = {
        "contact_id": contact_id,
        "vehicle_model_id": world.model(model),
        "vehicle_model_year": "2025",
        "user_id": world.user("vendedor.vn"),
        **cols,
    }
    if form_type is not False:
        values["contact_form_id"] = world.form(form_type if isinstance(form_type, str) else None)
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return _exec(world, f"INSERT INTO dms.proposal ({names}) VALUES ({marks}) RETURNING id", tuple(values.values()))


def _refused(world: DmsWorld, query: str, params: tuple[Any, ...] = ()) -> psycopg.Error:
    """Run a statement that the database must refuse, in its own savepoint; the error it raised."""
    with pytest.raises(psycopg.Error) as info, world.conn.transaction():
        world.conn.execute(query, params)
    return info.value


# ---------------------------------------------------------------------------------------------
# Contact actions (providências): CRE, VRE, CNR


@pytest.mark.parametrize("lead_type", ALL_LEAD_TYPES)
@pytest.mark.parametrize("form_type", ["EMAIL", "PHONE", None])
def test_contact_action_records_cre_with_its_contact_form(
    world: DmsWorld, lead_type: str, form_type: str | None
) -> None:
    login = LOGIN[lead_type]
    contact = world.contact(lead_type, assigned_login=login)
    action = world.action(contact, "CONTACT", form_type=form_type, login=login)

    rows = world.outbox(contact)
    assert [(r.trigger_code, r.step) for r in rows] == [("CRE", 1)]
    row = rows[0]
    assert row.contact_form_id == world.form(form_type)
    assert row.user_id == world.user(login)
    assert (row.source_table, row.source_id) == ("dms.contact_action", action)
    assert row.dealer_code == "BR0001" and row.lead_id.startswith("006")
    assert row.status == "PENDING"
    assert world.contact_status(contact) == "IN_PROGRESS"


def test_contact_without_a_form_takes_the_contacts_form(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE", contact_form_type="EMAIL")
    world.action(contact, "CONTACT")  # no form given
    [row] = world.outbox(contact)
    assert (row.trigger_code, row.contact_form_id) == ("CRE", world.form("EMAIL"))


def test_after_sales_in_person_contact_is_cre_then_showroom_visit(world: DmsWorld) -> None:
    contact = world.contact("AFTER_SALES", assigned_login="consultor.as")
    world.action(contact, "CONTACT", form_type="IN_PERSON", login="consultor.as")
    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == ["CRE", "VRE"]
    assert rows[0].id < rows[1].id
    assert {r.contact_form_id for r in rows} == {world.form("IN_PERSON")}


@pytest.mark.parametrize(
    ("lead_type", "form_type"),
    [
        ("AFTER_SALES", None),  # a form with no type counts as in person, but is no showroom visit
        ("AFTER_SALES", "PHONE"),
        ("NEW_VEHICLE", "IN_PERSON"),  # vehicles: the showroom visit comes from the proposal
        ("SERVICE", "IN_PERSON"),
    ],
)
def test_showroom_visit_only_for_in_person_after_sales_contacts(
    world: DmsWorld, lead_type: str, form_type: str | None
) -> None:
    contact = world.contact(lead_type, assigned_login=LOGIN[lead_type])
    world.action(contact, "CONTACT", form_type=form_type, login=LOGIN[lead_type])
    assert world.codes(contact) == ["CRE"]


def test_no_contact_records_cnr_whatever_the_reason(world: DmsWorld) -> None:
    contact = world.contact("USED_VEHICLE", assigned_login="vendedor.vu")
    action = world.action(contact, "NO_CONTACT", form_type="PHONE", reason="C01", login="vendedor.vu")
    world.action(contact, "NO_CONTACT", login="vendedor.vu")
    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == ["CNR", "CNR"]
    assert (rows[0].reason_id, rows[0].source_id) == (world.reason("C01"), action)
    assert rows[1].reason_id is None
    assert world.contact_status(contact) == "IN_PROGRESS"


def test_follow_up_action_records_nothing(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    world.action(contact, "FOLLOW_UP")
    assert world.outbox(contact) == []
    assert world.count("dms.contact_action", "contact_id = %s", (contact,)) == 1


# ---------------------------------------------------------------------------------------------
# Test drives: TDA, TDR, TDE


def test_test_drive_scheduled_done_and_deleted(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    done = _test_drive(world, contact)
    _exec(world, "UPDATE dms.test_drive SET status = 'DONE', done_at = now() WHERE id = %s", (done,))
    deleted = _test_drive(world, contact, model="TRACKER-12T-RS-25")
    _exec(world, "DELETE FROM dms.test_drive WHERE id = %s", (deleted,))
    # Deleting one that was done is not "a scheduled test drive deleted".
    _exec(world, "DELETE FROM dms.test_drive WHERE id = %s", (done,))

    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == ["TDA", "TDR", "TDA", "TDE"]
    assert [r.source_id for r in rows] == [done, done, deleted, deleted]
    assert rows[3].vehicle_model_id == world.model("TRACKER-12T-RS-25")
    assert all(r.source_table == "dms.test_drive" for r in rows)


def test_test_drive_recorded_directly_as_done_is_tdr(world: DmsWorld) -> None:
    contact = world.contact("USED_VEHICLE", assigned_login="vendedor.vu")
    _test_drive(world, contact, status="DONE")
    assert world.codes(contact) == ["TDR"]


@pytest.mark.parametrize("lead_type", ["SERVICE", "PARTS", "AFTER_SALES"])
def test_test_drives_are_vehicle_triggers_only(world: DmsWorld, lead_type: str) -> None:
    contact = world.contact(lead_type, assigned_login=LOGIN[lead_type])
    drive = _test_drive(world, contact)
    _exec(world, "DELETE FROM dms.test_drive WHERE id = %s", (drive,))
    assert world.outbox(contact) == []


# ---------------------------------------------------------------------------------------------
# Scenario 1: a new-vehicle lead from first contact to invoice


def test_vehicle_lead_from_contact_to_invoice(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    seller = world.user("vendedor.vn")
    premier = world.model("ONIX-10T-PREMIER-25")
    cruze = world.model("CRUZE-14T-LT-19")

    world.action(contact, "CONTACT", form_type="PHONE")
    drive = _test_drive(world, contact)
    _exec(world, "UPDATE dms.test_drive SET status = 'DONE' WHERE id = %s", (drive,))
    proposal = _proposal(world, contact, form_type="IN_PERSON")
    _exec(world, "UPDATE dms.proposal SET approval_state = 'SENT_FOR_APPROVAL' WHERE id = %s", (proposal,))
    _exec(world, "UPDATE dms.proposal SET approval_state = 'APPROVED' WHERE id = %s", (proposal,))
    _exec(world, "UPDATE dms.proposal SET vehicle_model_id = %s WHERE id = %s", (premier, proposal))
    _exec(
        world,
        "UPDATE dms.proposal SET trade_in_model_id = %s, trade_in_model_year = '2019', trade_in_mileage = 85000, "
        "trade_in_plate = 'ABC1D23', trade_in_value = 68500.50 WHERE id = %s",
        (cruze, proposal),
    )
    # Saving the proposal again without touching the trade-in does not repeat VTA.
    _exec(world, "UPDATE dms.proposal SET price = 149990 WHERE id = %s", (proposal,))
    invoice = _exec(
        world,
        "INSERT INTO dms.invoice (kind, proposal_id, user_id) VALUES ('VEHICLE', %s, %s) RETURNING id",
        (proposal, seller),
    )
    _exec(world, "UPDATE dms.invoice SET status = 'ISSUED' WHERE id = %s", (invoice,))

    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == [
        "CRE", "TDA", "TDR", "VRE", "PAB", "PEA", "PAP", "IMA", "VTA", "PAP", "NFF",
    ]  # fmt: skip
    by_code = {(r.trigger_code, r.source_table): r for r in rows}
    assert by_code[("VRE", "dms.proposal")].contact_form_id == world.form("IN_PERSON")
    assert by_code[("PAB", "dms.proposal")].vehicle_model_id == world.model("ONIX-10-LT-25")
    assert by_code[("IMA", "dms.proposal")].vehicle_model_id == premier
    assert by_code[("IMA", "dms.proposal")].vehicle_model_year == "2025"
    assert by_code[("VTA", "dms.proposal")].trade_in == {
        "model_id": cruze,
        "model": "Cruze",
        "model_year": "2019",
        "trim": "1.4 Turbo LT",
        "mileage": 85000,
        "plate": "ABC1D23",
        "value": 68500.50,
    }
    sale = by_code[("PAP", "dms.invoice")]
    assert (sale.source_id, sale.vehicle_model_id, sale.user_id) == (invoice, premier, seller)
    assert by_code[("NFF", "dms.invoice")].vehicle_model_id == premier
    assert all(r.user_id == seller for r in rows)
    assert world.contact_status(contact) == "CLOSED_WON"
    # The invoice took its contact from the proposal.
    assert world.count("dms.invoice", "id = %s AND contact_id = %s", (invoice, contact)) == 1

    # The same rows, read back with their references, become GM's events (the send side's view).
    events = [build_event(e) for e in fetch_outbox_events(world.conn, [r.id for r in rows])]
    assert [(e["stage"], e["substage"]) for e in events] == [
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
    ima, vta, nff = events[7], events[8], events[10]
    assert (ima["communication"], ima["vehicle_model"], ima["vehicle_trim"]) == (
        "CREATE_MODEL_OF_INTEREST", "Onix", "1.0 Turbo Premier",
    )  # fmt: skip
    assert (vta["trade_in_model"], vta["trade_in_trim"], vta["trade_in_value"]) == ("Cruze", "1.4 Turbo LT", 68500.5)
    assert (nff["vehicle_model"], nff["vehicle_model_year"], nff["salesperson"]) == ("Onix", "2025", "Carla Mendes")


def test_proposal_not_in_person_has_no_showroom_visit(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    untyped = _proposal(world, contact, form_type=None)
    _proposal(world, contact, form_type="EMAIL")
    assert world.codes(contact) == ["PAB", "PAB"]
    # Saved again with the in-person form: the customer came to the showroom.
    _exec(world, "UPDATE dms.proposal SET contact_form_id = %s WHERE id = %s", (world.form("IN_PERSON"), untyped))
    assert world.codes(contact) == ["PAB", "PAB", "VRE"]


def test_proposal_defaults_to_the_contacts_form(world: DmsWorld) -> None:
    contact = world.contact("USED_VEHICLE", assigned_login="vendedor.vu", contact_form_type="IN_PERSON")
    proposal = _proposal(world, contact, form_type=False)
    assert world.codes(contact) == ["VRE", "PAB"]
    assert world.count("dms.proposal", "id = %s AND contact_form_id = %s", (proposal, world.form("IN_PERSON"))) == 1


def test_trade_in_typed_on_a_new_proposal(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    _proposal(
        world,
        contact,
        trade_in_model="Celta",
        trade_in_version="1.0 LT",
        trade_in_model_year="2012",
        trade_in_mileage=140000,
        trade_in_plate="XYZ9A87",
        trade_in_value=18000,
    )
    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == ["PAB", "VTA"]
    assert rows[1].trade_in is not None
    assert (rows[1].trade_in["model"], rows[1].trade_in["trim"], rows[1].trade_in["mileage"]) == (
        "Celta", "1.0 LT", 140000,
    )  # fmt: skip


def test_proposal_rejected_or_cancelled_is_a_lost_sale(world: DmsWorld) -> None:
    rejected_contact = world.contact("NEW_VEHICLE")
    rejected = _proposal(world, rejected_contact)
    _exec(world, "UPDATE dms.proposal SET approval_state = 'SENT_FOR_APPROVAL' WHERE id = %s", (rejected,))
    _exec(
        world,
        "UPDATE dms.proposal SET approval_state = 'REJECTED', reason_id = %s WHERE id = %s",
        (world.reason("V03"), rejected),
    )
    cancelled_contact = world.contact("USED_VEHICLE", assigned_login="vendedor.vu")
    cancelled = _proposal(world, cancelled_contact)
    _exec(
        world,
        "UPDATE dms.proposal SET approval_state = 'CANCELLED', reason_id = %s WHERE id = %s",
        (world.reason("V01"), cancelled),
    )

    assert world.codes(rejected_contact) == ["PAB", "PEA", "VPE"]
    assert world.outbox(rejected_contact)[-1].reason_id == world.reason("V03")
    assert world.codes(cancelled_contact) == ["PAB", "VPE"]
    assert world.outbox(cancelled_contact)[-1].reason_id == world.reason("V01")
    assert world.contact_status(rejected_contact) == world.contact_status(cancelled_contact) == "CLOSED_LOST"


def test_proposal_cancelled_without_reason_is_refused(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    proposal = _proposal(world, contact)
    error = _refused(world, "UPDATE dms.proposal SET approval_state = 'CANCELLED' WHERE id = %s", (proposal,))
    assert error.sqlstate == CLOSE_LOST_WITHOUT_REASON
    assert world.count("dms.proposal", "id = %s AND approval_state = 'DRAFT'", (proposal,)) == 1
    assert world.codes(contact) == ["PAB"]


def test_vehicle_invoice_sent_to_cashier_and_issued_without_proposal(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    invoice = _exec(
        world,
        "INSERT INTO dms.invoice (contact_id, kind, vehicle_model_id, user_id) VALUES (%s, 'VEHICLE', %s, %s) "
        "RETURNING id",
        (contact, world.model("S10-28D-HIGHCOUNTRY-25"), world.user("vendedor.vn")),
    )
    _exec(world, "UPDATE dms.invoice SET status = 'ISSUED' WHERE id = %s", (invoice,))
    _exec(world, "UPDATE dms.invoice SET total = 300000 WHERE id = %s", (invoice,))  # no status change: nothing
    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == ["PAP", "NFF"]
    # The model year comes from the model when neither invoice nor proposal gives one.
    assert {(r.vehicle_model_id, r.vehicle_model_year) for r in rows} == {
        (world.model("S10-28D-HIGHCOUNTRY-25"), "2025")
    }


def test_vehicle_invoice_year_and_model_override_the_proposals(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    proposal = _proposal(world, contact, vehicle_model_year="2024")
    tracker = world.model("TRACKER-12T-RS-25")
    _exec(
        world,
        "INSERT INTO dms.invoice (kind, proposal_id) VALUES ('VEHICLE', %s)",
        (proposal,),
    )
    _exec(
        world,
        "INSERT INTO dms.invoice (kind, proposal_id, vehicle_model_id) VALUES ('VEHICLE', %s, %s)",
        (proposal, tracker),
    )
    _exec(
        world,
        "INSERT INTO dms.invoice (kind, proposal_id, vehicle_model_id, model_year) VALUES ('VEHICLE', %s, %s, '2026')",
        (proposal, tracker),
    )
    sales = [
        (r.vehicle_model_id, r.vehicle_model_year) for r in world.outbox(contact) if r.source_table == "dms.invoice"
    ]
    assert sales == [(world.model("ONIX-10-LT-25"), "2024"), (tracker, "2025"), (tracker, "2026")]


# ---------------------------------------------------------------------------------------------
# Scenario 2: a service lead under routing DISTRIBUTION


def test_service_lead_distribution_contact_appointment_invoice(world: DmsWorld) -> None:
    contact = world.contact("SERVICE", dealer_code="BR0002", status="AWAITING_DISTRIBUTION", owner_login="gestor.leads")
    advisor = world.user("consultor.oficina", "BR0002")
    [(got_contact, got_user)] = world.conn.execute(
        "SELECT contact_id, user_id FROM dms.distribute_contacts(%s, %s)", ([contact], [advisor])
    ).fetchall()
    assert (got_contact, got_user) == (contact, advisor)
    world.action(contact, "CONTACT", form_type="EMAIL", login="consultor.oficina", dealer_code="BR0002")
    other = _exec(
        world,
        "INSERT INTO dms.service_appointment (contact_id, type, scheduled_for, user_id) "
        "VALUES (%s, 'AR', now() + interval '2 days', %s) RETURNING id",
        (contact, advisor),
    )
    assert world.codes(contact) == ["LAT", "CRE"]  # an appointment of another type sends nothing
    appointment = _exec(
        world,
        "INSERT INTO dms.service_appointment (contact_id, type, scheduled_for, user_id) "
        "VALUES (%s, 'AE', now() + interval '3 days', %s) RETURNING id",
        (contact, advisor),
    )
    # Rescheduling the confirmed appointment sends nothing new.
    _exec(world, "UPDATE dms.service_appointment SET scheduled_for = now() + interval '4 days' WHERE id = %s",
          (appointment,))  # fmt: skip
    invoice = _exec(
        world,
        "INSERT INTO dms.invoice (contact_id, kind, status, user_id) VALUES (%s, 'SERVICE_ORDER', 'ISSUED', %s) "
        "RETURNING id",
        (contact, advisor),
    )

    rows = world.outbox(contact)
    assert [(r.trigger_code, r.step) for r in rows] == [
        ("LAT", 1), ("CRE", 1), ("ACO", 1), ("ACO", 2), ("NFF", 1),
    ]  # fmt: skip
    aco = [r for r in rows if r.trigger_code == "ACO"]
    assert {(r.source_table, r.source_id, r.user_id) for r in aco} == {
        ("dms.service_appointment", appointment, advisor)
    }
    assert aco[0].id < aco[1].id
    assert (rows[-1].source_table, rows[-1].source_id) == ("dms.invoice", invoice)
    assert rows[1].contact_form_id == world.form("EMAIL", "BR0002")
    assert other not in {r.source_id for r in aco}

    events = [build_event(e) for e in fetch_outbox_events(world.conn, [r.id for r in rows])]
    assert [(e["stage"], e["substage"]) for e in events[1:]] == [
        ("Experiencing", "InProgressEmail"),
        ("Deciding", "Contacted"),
        ("Converted", "ServiceScheduled"),
        ("Delivered", "ServiceComplete"),
    ]


def test_appointment_changed_to_ae_records_aco(world: DmsWorld) -> None:
    contact = world.contact("SERVICE", assigned_login="consultor.oficina")
    appointment = _exec(
        world,
        "INSERT INTO dms.service_appointment (contact_id, type, scheduled_for) VALUES (%s, 'AR', now()) RETURNING id",
        (contact,),
    )
    assert world.outbox(contact) == []
    _exec(world, "UPDATE dms.service_appointment SET type = 'AE' WHERE id = %s", (appointment,))
    assert world.steps(contact) == [("ACO", 1), ("ACO", 2)]


@pytest.mark.parametrize("lead_type", ["NEW_VEHICLE", "PARTS", "AFTER_SALES"])
def test_aco_only_for_service_leads(world: DmsWorld, lead_type: str) -> None:
    contact = world.contact(lead_type, assigned_login=LOGIN[lead_type])
    _exec(
        world,
        "INSERT INTO dms.service_appointment (contact_id, type, scheduled_for) VALUES (%s, 'AE', now())",
        (contact,),
    )
    assert world.outbox(contact) == []


@pytest.mark.parametrize(
    ("lead_type", "kind"),
    [("SERVICE", "VEHICLE"), ("NEW_VEHICLE", "SERVICE_ORDER"), ("PARTS", "SERVICE_ORDER"), ("AFTER_SALES", "PARTS")],
)
def test_an_invoice_of_another_kind_does_not_deliver_the_lead(world: DmsWorld, lead_type: str, kind: str) -> None:
    contact = world.contact(lead_type, assigned_login=LOGIN[lead_type])
    _exec(world, "INSERT INTO dms.invoice (contact_id, kind) VALUES (%s, %s)", (contact, kind))
    _exec(world, "UPDATE dms.invoice SET status = 'ISSUED' WHERE contact_id = %s", (contact,))
    assert world.outbox(contact) == []


# ---------------------------------------------------------------------------------------------
# Scenario 3: parts leads


def _distribute(world: DmsWorld, contacts: list[int], users: list[int]) -> list[tuple[int, int]]:
    rows = world.conn.execute(
        "SELECT contact_id, user_id FROM dms.distribute_contacts(%s, %s)", (contacts, users)
    ).fetchall()
    return [(int(c), int(u)) for c, u in rows]


def test_parts_lead_counter_service_items_cashier_invoice(world: DmsWorld) -> None:
    contact = world.contact(
        "PARTS", dealer_code="BR0002", status="AWAITING_DISTRIBUTION", owner_login="gestor.leads",
        contact_form_type="PHONE",
    )  # fmt: skip
    clerk = world.user("balcao.pecas", "BR0002")
    _distribute(world, [contact], [clerk])

    pcs = world.conn.execute(
        "SELECT id, salesperson_user_id, status, contact_form_id FROM dms.parts_counter_service WHERE contact_id = %s",
        (contact,),
    ).fetchall()
    assert len(pcs) == 1
    pcs_id, salesperson, status, form_id = pcs[0]
    assert (salesperson, status, form_id) == (clerk, "OPEN", world.form("PHONE", "BR0002"))
    mails = world.conn.execute(
        "SELECT to_user_id, subject FROM dms.internal_mail WHERE contact_id = %s", (contact,)
    ).fetchall()
    assert len(mails) == 1 and mails[0][0] == clerk and str(pcs_id) in mails[0][1]
    assert world.codes(contact) == ["LAT"]

    # The first item(s) are the contact: one CRE even for a multi-row insert, none for later items.
    _exec(
        world,
        "INSERT INTO dms.parts_counter_service_item (parts_counter_service_id, part_code, description, quantity, "
        "unit_price) VALUES (%s, '52100123', 'Pastilha de freio', 1, 189.90), (%s, '93745811', 'Filtro de óleo', 2, "
        "39.90)",
        (pcs_id, pcs_id),
    )
    _exec(
        world,
        "INSERT INTO dms.parts_counter_service_item (parts_counter_service_id, part_code, quantity) "
        "VALUES (%s, '24105963', 1)",
        (pcs_id,),
    )
    assert world.codes(contact) == ["LAT", "CRE"]
    _exec(world, "UPDATE dms.parts_counter_service SET status = 'SENT_TO_CASHIER' WHERE id = %s", (pcs_id,))
    _exec(
        world,
        "INSERT INTO dms.invoice (kind, parts_counter_service_id, status, user_id) VALUES ('PARTS', %s, 'ISSUED', %s)",
        (pcs_id, clerk),
    )

    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == ["LAT", "CRE", "PVR", "NFF"]
    cre, pvr = rows[1], rows[2]
    assert (cre.source_table, cre.source_id, cre.user_id) == ("dms.parts_counter_service", pcs_id, clerk)
    assert cre.contact_form_id == world.form("PHONE", "BR0002")
    assert (pvr.source_table, pvr.source_id) == ("dms.parts_counter_service", pcs_id)
    assert world.contact_status(contact) == "CLOSED_WON"
    events = [build_event(e) for e in fetch_outbox_events(world.conn, [r.id for r in rows])]
    assert [(e["stage"], e["substage"]) for e in events] == [
        ("Assigned", None),
        ("Experiencing", "InProgressPhone"),
        ("Converted", "PartsAndAccessoriesOrdered"),
        ("Delivered", "PartsAndAccessories"),
    ]


def _parts_contact_with_counter(world: DmsWorld) -> tuple[int, int]:
    contact = world.contact("PARTS", assigned_login="balcao.pecas")
    pcs = _exec(
        world,
        "INSERT INTO dms.parts_counter_service (dealer_code, contact_id, customer_id, salesperson_user_id) "
        "SELECT dealer_code, id, customer_id, assigned_user_id FROM dms.contact WHERE id = %s RETURNING id",
        (contact,),
    )
    return contact, pcs


def test_parts_counter_service_cancelled_230_with_reason_is_vpe(world: DmsWorld) -> None:
    contact, pcs = _parts_contact_with_counter(world)
    _exec(
        world,
        "UPDATE dms.parts_counter_service SET status = 'CANCELLED', reason_id = %s WHERE id = %s",
        (world.reason("P01"), pcs),
    )
    [row] = world.outbox(contact)
    assert (row.trigger_code, row.reason_id, row.source_table, row.source_id) == (
        "VPE", world.reason("P01"), "dms.parts_counter_service", pcs,
    )  # fmt: skip
    assert world.contact_status(contact) == "CLOSED_LOST"
    assert world.count("dms.parts_counter_service", "id = %s AND cancelled_at IS NOT NULL", (pcs,)) == 1


def test_parts_counter_service_cancelled_without_reason_is_refused(world: DmsWorld) -> None:
    contact, pcs = _parts_contact_with_counter(world)
    error = _refused(world, "UPDATE dms.parts_counter_service SET status = 'CANCELLED' WHERE id = %s", (pcs,))
    assert error.sqlstate == CLOSE_LOST_WITHOUT_REASON
    assert world.count("dms.parts_counter_service", "id = %s AND status = 'OPEN'", (pcs,)) == 1
    assert world.outbox(contact) == []
    assert world.contact_status(contact) == "IN_QUEUE"


# ---------------------------------------------------------------------------------------------
# Scenario 4: after-sales leads


def test_after_sales_closed_won_is_nff_converted_after_sales(world: DmsWorld) -> None:
    contact = world.contact("AFTER_SALES", assigned_login="consultor.as")
    world.action(contact, "CONTACT", form_type="IN_PERSON", login="consultor.as")
    closing = world.action(contact, "CLOSING", result="WON", login="consultor.as")
    rows = world.outbox(contact)
    assert [r.trigger_code for r in rows] == ["CRE", "VRE", "NFF"]
    assert (rows[2].source_table, rows[2].source_id) == ("dms.contact_action", closing)
    assert world.contact_status(contact) == "CLOSED_WON"
    [nff] = [build_event(e) for e in fetch_outbox_events(world.conn, [rows[2].id])]
    assert (nff["stage"], nff["substage"], nff["salesperson"]) == ("Converted", "AfterSales", "Eduardo Nunes")


def test_after_sales_closed_lost_with_mapped_reason_is_vpe(world: DmsWorld) -> None:
    contact = world.contact("AFTER_SALES", assigned_login="consultor.as")
    world.action(contact, "CLOSING", result="LOST", reason="A01", login="consultor.as")
    [row] = world.outbox(contact)
    assert (row.trigger_code, row.reason_id) == ("VPE", world.reason("A01"))
    assert world.contact_status(contact) == "CLOSED_LOST"
    [event] = [build_event(e) for e in fetch_outbox_events(world.conn, [row.id])]
    assert (event["stage"], event["substage"], event["lost_reason"]) == (
        "NotConverted", "CustomerNoshow", "CustomerNoshow",
    )  # fmt: skip


@pytest.mark.parametrize(("kind", "reason"), [("LOST_SALE", "V02"), ("DISCARD", "D01"), ("INACTIVATION", "I01")])
def test_lost_sale_discard_and_inactivation_actions_are_vpe(world: DmsWorld, kind: str, reason: str) -> None:
    contact = world.contact("NEW_VEHICLE")
    world.action(contact, kind, reason=reason)
    [row] = world.outbox(contact)
    assert (row.trigger_code, row.reason_id) == ("VPE", world.reason(reason))
    assert world.contact_status(contact) == "CLOSED_LOST"


# ---------------------------------------------------------------------------------------------
# Scenario 5: closing rules


@pytest.mark.parametrize("lead_type", ["NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS"])
def test_closing_a_lead_as_won_by_a_contact_action_is_refused(world: DmsWorld, lead_type: str) -> None:
    contact = world.contact(lead_type, assigned_login=LOGIN[lead_type])
    error = _refused(
        world,
        "INSERT INTO dms.contact_action (contact_id, kind, result, user_id) VALUES (%s, 'CLOSING', 'WON', %s)",
        (contact, world.user(LOGIN[lead_type])),
    )
    assert error.sqlstate == CLOSE_WON_REFUSED
    assert is_closing_rule_error(error)
    message = str(error)
    assert "não pode ser fechado como ganho" in message
    assert "register a lost sale with a reason" in message
    assert lead_type in message
    assert error.diag.message_hint is not None
    # Nothing was written: no action, no outbox row, the contact untouched.
    assert world.count("dms.contact_action", "contact_id = %s", (contact,)) == 0
    assert world.outbox(contact) == []
    assert world.contact_status(contact) == "IN_QUEUE"


@pytest.mark.parametrize("lead_type", ALL_LEAD_TYPES)
@pytest.mark.parametrize(("kind", "result"), [("CLOSING", "LOST"), ("LOST_SALE", None), ("DISCARD", None)])
def test_closing_a_lead_as_lost_without_a_reason_is_refused(
    world: DmsWorld, lead_type: str, kind: str, result: str | None
) -> None:
    contact = world.contact(lead_type, assigned_login=LOGIN[lead_type])
    world.action(contact, "CONTACT", form_type="PHONE", login=LOGIN[lead_type])
    before = world.outbox(contact)
    error = _refused(
        world,
        "INSERT INTO dms.contact_action (contact_id, kind, result) VALUES (%s, %s, %s)",
        (contact, kind, result),
    )
    assert error.sqlstate == CLOSE_LOST_WITHOUT_REASON
    assert "sem motivo" in str(error) and "without a reason" in str(error)
    assert world.count("dms.contact_action", "contact_id = %s", (contact,)) == 1  # only the CONTACT
    assert world.outbox(contact) == before
    assert world.contact_status(contact) == "IN_PROGRESS"


def test_a_refused_closing_aborts_the_whole_transaction(committing_world: DmsWorld) -> None:
    world = committing_world
    contact = world.contact("NEW_VEHICLE")
    # One screen saving a contact and a won closing together: neither stays.
    with pytest.raises(psycopg.Error) as info, world.conn.transaction():
        world.action(contact, "CONTACT", form_type="PHONE")
        world.action(contact, "CLOSING", result="WON")
    assert info.value.sqlstate == CLOSE_WON_REFUSED
    assert world.count("dms.contact_action", "contact_id = %s", (contact,)) == 0
    assert world.outbox(contact) == []
    assert world.contact_status(contact) == "IN_QUEUE"


# ---------------------------------------------------------------------------------------------
# Scenario 7: contacts the dealership created itself (and leads deleted at GM) record nothing


def _everything(world: DmsWorld, contact: int, lead_type: str) -> None:
    """Every DMS action of the catalogue on one contact."""
    login = LOGIN[lead_type]
    world.action(contact, "CONTACT", form_type="IN_PERSON", login=login)
    world.action(contact, "NO_CONTACT", login=login)
    drive = _test_drive(world, contact)
    _exec(world, "UPDATE dms.test_drive SET status = 'DONE' WHERE id = %s", (drive,))
    _exec(world, "DELETE FROM dms.test_drive WHERE id = %s", (_test_drive(world, contact),))
    proposal = _proposal(world, contact, form_type="IN_PERSON", trade_in_model="Celta")
    for state in ("SENT_FOR_APPROVAL", "APPROVED"):
        _exec(world, "UPDATE dms.proposal SET approval_state = %s WHERE id = %s", (state, proposal))
    _exec(world, "UPDATE dms.proposal SET vehicle_model_id = %s WHERE id = %s", (world.model("SPIN-18-PREMIER-24"),
                                                                                 proposal))  # fmt: skip
    # Without a reason: the closing rules only guard GM leads.
    _exec(world, "UPDATE dms.proposal SET approval_state = 'CANCELLED' WHERE id = %s", (proposal,))
    invoice = _exec(world, "INSERT INTO dms.invoice (contact_id, kind) VALUES (%s, 'VEHICLE') RETURNING id", (contact,))
    _exec(world, "UPDATE dms.invoice SET status = 'ISSUED' WHERE id = %s", (invoice,))
    _exec(world, "INSERT INTO dms.invoice (contact_id, kind, status) VALUES (%s, 'SERVICE_ORDER', 'ISSUED')",
          (contact,))  # fmt: skip
    _exec(world, "INSERT INTO dms.service_appointment (contact_id, type, scheduled_for) VALUES (%s, 'AE', now())",
          (contact,))  # fmt: skip
    pcs = _exec(
        world,
        "INSERT INTO dms.parts_counter_service (dealer_code, contact_id, customer_id, salesperson_user_id) "
        "SELECT dealer_code, id, customer_id, %s FROM dms.contact WHERE id = %s RETURNING id",
        (world.user("balcao.pecas"), contact),
    )
    _exec(world, "INSERT INTO dms.parts_counter_service_item (parts_counter_service_id, part_code) VALUES (%s, 'X')",
          (pcs,))  # fmt: skip
    _exec(world, "UPDATE dms.parts_counter_service SET status = 'SENT_TO_CASHIER' WHERE id = %s", (pcs,))
    _exec(world, "UPDATE dms.parts_counter_service SET status = 'CANCELLED' WHERE id = %s", (pcs,))
    world.action(contact, "LOST_SALE", login=login)
    world.action(contact, "CLOSING", result="WON", login=login)


@pytest.mark.parametrize("lead_type", [*ALL_LEAD_TYPES, None])
def test_contact_created_by_the_dealership_records_nothing(world: DmsWorld, lead_type: str | None) -> None:
    contact = world.contact(lead_type, with_lead=False)
    _everything(world, contact, lead_type or "NEW_VEHICLE")
    assert world.count("dms.contact_action", "contact_id = %s", (contact,)) == 4
    assert world.outbox() == []
    # The DMS's own status still moves.
    assert world.contact_status(contact) == "CLOSED_WON"


def test_lead_deleted_at_gm_records_nothing(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    _exec(world, "UPDATE dms.contact SET gm_deleted_at = now() WHERE id = %s", (contact,))
    _everything(world, contact, "NEW_VEHICLE")
    assert world.outbox() == []


def test_same_actions_on_a_lead_contact_do_record(committing_world: DmsWorld) -> None:
    # The control for the two tests above: the same script on a live lead fills the outbox.
    world = committing_world
    contact = world.contact("NEW_VEHICLE")
    with pytest.raises(psycopg.Error) as info:  # ... until the closing rules stop the reasonless cancel
        _everything(world, contact, "NEW_VEHICLE")
    assert info.value.sqlstate == CLOSE_LOST_WITHOUT_REASON
    assert world.codes(contact) == [
        "CRE", "CNR", "TDA", "TDR", "TDA", "TDE", "VRE", "PAB", "VTA", "PEA", "PAP", "IMA",
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Distribution


def _awaiting(world: DmsWorld, n: int, lead_type: str = "NEW_VEHICLE", with_lead: bool = True) -> list[int]:
    return [
        world.contact(
            lead_type,
            dealer_code="BR0002",
            status="AWAITING_DISTRIBUTION",
            owner_login="gestor.leads",
            with_lead=with_lead,
        )
        for _ in range(n)
    ]


def test_distribution_spreads_evenly_in_contact_order_and_records_lat(world: DmsWorld) -> None:
    leads = _awaiting(world, 5)
    own = _awaiting(world, 1, with_lead=False)
    contacts = sorted(leads + own)
    u1, u2 = world.user("vendedor.vn2", "BR0002"), world.user("vendedor.vn", "BR0002")
    result = _distribute(world, list(reversed(contacts)), [u1, u2, u1])  # order of ids and repeats do not matter

    assert result == [(c, (u1, u2)[i % 2]) for i, c in enumerate(contacts)]
    assert Counter(u for _, u in result) == Counter({u1: 3, u2: 3})
    state = {
        c: (status, user)
        for c, status, user in world.conn.execute(
            "SELECT id, status, assigned_user_id FROM dms.contact WHERE id = ANY (%s)", (contacts,)
        )
    }
    assert {c: state[c] for c in contacts} == {c: ("IN_QUEUE", u) for c, u in result}
    lat = [r for r in world.outbox() if r.trigger_code == "LAT"]
    assert sorted((r.contact_id, r.user_id) for r in lat) == sorted((c, u) for c, u in result if c in leads)
    assert all(r.source_table == "dms.contact" and r.source_id == r.contact_id for r in lat)
    # Departments follow the receiving user (new vehicles: VN).
    assert world.count(
        "dms.contact c JOIN dms.department d ON d.id = c.department_id", "c.id = ANY (%s) AND d.code = 'VN'",
        (contacts,),
    ) == len(contacts)  # fmt: skip
    # No parts contacts: no counter service, no mail.
    assert world.count("dms.parts_counter_service") == 0
    assert world.count("dms.internal_mail") == 0


def test_distributing_parts_contacts_opens_counter_services_and_mails(world: DmsWorld) -> None:
    contacts = _awaiting(world, 3, lead_type="PARTS")
    clerks = [world.user("balcao.pecas", "BR0002"), world.user("balcao.pecas2", "BR0002")]
    result = _distribute(world, contacts, clerks)
    services = world.conn.execute(
        "SELECT contact_id, salesperson_user_id, customer_id = (SELECT customer_id FROM dms.contact c "
        "WHERE c.id = s.contact_id) FROM dms.parts_counter_service s ORDER BY contact_id"
    ).fetchall()
    assert [(c, u, True) for c, u in result] == [tuple(s) for s in services]
    mails = world.conn.execute(
        "SELECT contact_id, to_user_id, body FROM dms.internal_mail ORDER BY contact_id"
    ).fetchall()
    assert [(c, u) for c, u, _ in mails] == result
    assert all("Atendimento Balcão" in body for _, _, body in mails)
    assert world.codes() == ["LAT", "LAT", "LAT"]


def test_distribution_refuses_contacts_not_awaiting_distribution(world: DmsWorld) -> None:
    waiting = _awaiting(world, 2)
    queued = world.contact("NEW_VEHICLE", dealer_code="BR0002", assigned_login="vendedor.vn")
    error = _refused(
        world,
        "SELECT * FROM dms.distribute_contacts(%s, %s)",
        ([*waiting, queued, 999999], [world.user("vendedor.vn", "BR0002")]),
    )
    assert error.sqlstate == DISTRIBUTION_BAD_CONTACTS
    assert f"{queued} (IN_QUEUE)" in str(error) and "999999" in str(error)
    assert world.count("dms.contact", "id = ANY (%s) AND status = 'AWAITING_DISTRIBUTION'", (waiting,)) == 2
    assert world.outbox() == []


@pytest.mark.parametrize("bad_user", ["other_dealership", "inactive", "missing"])
def test_distribution_refuses_users_it_cannot_give_contacts_to(world: DmsWorld, bad_user: str) -> None:
    waiting = _awaiting(world, 2)
    good = world.user("vendedor.vn", "BR0002")
    if bad_user == "other_dealership":
        bad = world.user("vendedor.vn2", "BR0001")
    elif bad_user == "inactive":
        bad = world.user("vendedor.vn2", "BR0002")
        _exec(world, "UPDATE dms.app_user SET active = false WHERE id = %s", (bad,))
    else:
        bad = 999999
    error = _refused(world, "SELECT * FROM dms.distribute_contacts(%s, %s)", (waiting, [good, bad]))
    assert error.sqlstate == DISTRIBUTION_BAD_USERS
    assert str(bad) in str(error)
    assert world.count("dms.contact", "id = ANY (%s) AND status = 'AWAITING_DISTRIBUTION'", (waiting,)) == 2
    assert world.outbox() == []


def test_distribution_by_sales_team_and_seller_origin(world: DmsWorld) -> None:
    waiting = _awaiting(world, 4)
    team_a = {world.user("vendedor.vn", "BR0002"), world.user("vendedor.vn2", "BR0002")}
    result = world.conn.execute(
        "SELECT contact_id, user_id FROM dms.distribute_contacts_by(%s, p_sales_team => 'Equipe A')", (waiting,)
    ).fetchall()
    assert {u for _, u in result} == team_a
    assert Counter(u for _, u in result) == Counter(dict.fromkeys(team_a, 2))

    more = _awaiting(world, 2)
    result = world.conn.execute(
        "SELECT contact_id, user_id FROM dms.distribute_contacts_by(%s, 'Equipe A', 'Internet')", (more,)
    ).fetchall()
    assert {u for _, u in result} == {world.user("vendedor.vn2", "BR0002")}
    error = _refused(world, "SELECT * FROM dms.distribute_contacts_by(%s, 'Nenhum Time')", (_awaiting(world, 1),))
    assert error.sqlstate == DISTRIBUTION_BAD_USERS


# ---------------------------------------------------------------------------------------------
# The catalogue drives the capture


def test_sync_catalogue_is_idempotent_and_complete(world: DmsWorld) -> None:
    # The fixture synced already (through seed_demo_catalogues): a second sync changes nothing.
    assert sync_catalogue(world.conn) == 0
    cat = load_catalogue()
    rows = world.conn.execute(
        "SELECT code, lead_types, step_count, communication FROM gmcrm.trigger_catalogue ORDER BY code"
    ).fetchall()
    assert {r[0] for r in rows} == set(cat.triggers)
    assert {r[0]: (list(r[1]), r[2], r[3]) for r in rows} == {
        t.code: (list(t.lead_types), t.step_count, t.communication) for t in cat.triggers.values()
    }
    reasons = [r[0] for r in world.conn.execute("SELECT code FROM gmcrm.gm_reason WHERE active ORDER BY position")]
    assert reasons == list(cat.gm_reasons)


def test_capture_follows_the_catalogue_rows(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    # GM stops wanting CNR for new vehicles: the database follows the catalogue, no code change.
    _exec(world, "UPDATE gmcrm.trigger_catalogue SET lead_types = array_remove(lead_types, 'NEW_VEHICLE') "
                 "WHERE code = 'CNR'")  # fmt: skip
    world.action(contact, "NO_CONTACT")
    _exec(world, "DELETE FROM gmcrm.trigger_catalogue WHERE code = 'CRE'")
    world.action(contact, "CONTACT", form_type="PHONE")
    assert world.outbox(contact) == []
    # A sync puts the YAML back.
    assert sync_catalogue(world.conn) == 2
    world.action(contact, "NO_CONTACT")
    world.action(contact, "CONTACT", form_type="PHONE")
    assert world.codes(contact) == ["CNR", "CRE"]


# Where a trigger is recorded: lead type, DMS source (``invoice:VEHICLE`` falls back to ``invoice``)
# and contact-form type, decided by gmcrm.record_trigger from the synced catalogue rows.
RECORDED_WHERE = [
    ("VRE", "NEW_VEHICLE", "proposal", "IN_PERSON", True),
    ("VRE", "NEW_VEHICLE", "contact_action", "IN_PERSON", False),
    ("VRE", "AFTER_SALES", "contact_action", "IN_PERSON", True),
    ("VRE", "AFTER_SALES", "contact_action", None, False),  # no form at all
    ("VRE", "AFTER_SALES", "contact_action", "untyped", False),  # a form with no type
    ("VRE", "AFTER_SALES", "contact_action", "PHONE", False),
    ("NFF", "NEW_VEHICLE", "invoice:VEHICLE", None, True),
    ("NFF", "NEW_VEHICLE", "invoice:SERVICE_ORDER", None, False),
    ("NFF", "AFTER_SALES", "contact_action", None, True),
    ("NFF", "AFTER_SALES", "invoice:PARTS", None, False),
    ("CRE", "PARTS", "parts_counter_service", None, True),
    ("CRE", "SERVICE", "parts_counter_service", None, False),
    ("PAP", "USED_VEHICLE", "invoice:VEHICLE", None, True),
    ("PAP", "USED_VEHICLE", "proposal", None, True),
    ("TDA", "SERVICE", "test_drive", None, False),
]


@pytest.mark.parametrize(("code", "lead_type", "source", "form", "recorded"), RECORDED_WHERE)
def test_sources_and_form_types_decide_where_a_trigger_is_recorded(
    world: DmsWorld, code: str, lead_type: str, source: str, form: str | None, recorded: bool
) -> None:
    contact = world.contact(lead_type)
    form_id = None if form is None else world.form(None if form == "untyped" else form)
    written = _exec(
        world,
        "SELECT gmcrm.record_trigger(%s, %s, %s, 'dms.test', 0, %s)",
        (code, contact, source, form_id),
    )
    assert (written > 0) is recorded
    assert world.codes(contact) == ([code] if recorded else [])


def test_an_empty_catalogue_refuses_lead_activity_loudly(world: DmsWorld) -> None:
    _exec(world, "DELETE FROM gmcrm.trigger_catalogue")
    lead = world.contact("NEW_VEHICLE")
    error = _refused(world, "INSERT INTO dms.contact_action (contact_id, kind) VALUES (%s, 'NO_CONTACT')", (lead,))
    assert error.sqlstate == CATALOGUE_NOT_LOADED
    assert "sync_catalogue" in (error.diag.message_hint or "")
    assert world.count("dms.contact_action") == 0
    # The dealership's own contacts are not affected.
    own = world.contact("NEW_VEHICLE", with_lead=False)
    world.action(own, "NO_CONTACT")
    assert world.count("dms.contact_action") == 1


# ---------------------------------------------------------------------------------------------
# Reasons and GM's list (scenario 6, DMS side)


def test_gm_reason_must_be_in_gms_list(world: DmsWorld) -> None:
    error = _refused(world, "UPDATE dms.reason SET gm_reason = 'BoughtSomewhere' WHERE id = %s", (world.reason("V99"),))
    assert error.sqlstate == GM_REASON_NOT_IN_LIST
    assert "BoughtElsewhere" in (error.diag.message_hint or "")
    assert world.count("dms.reason", "id = %s AND gm_reason IS NULL", (world.reason("V99"),)) == 1


def test_unmapped_lost_sale_is_recorded_and_fails_at_send_until_mapped(world: DmsWorld) -> None:
    contact = world.contact("NEW_VEHICLE")
    world.action(contact, "LOST_SALE", reason="V99")
    [row] = world.outbox(contact)
    assert (row.trigger_code, row.reason_id) == ("VPE", world.reason("V99"))
    assert [r.code for r in dms_catalogues.unmapped_reasons(world.conn, ["BR0001"])] == ["V99"]

    [event] = fetch_outbox_events(world.conn, [row.id])
    with pytest.raises(UnmappedReasonError) as info:
        build_event(event)
    assert "V99" in str(info.value) and "Desistiu da compra" in str(info.value)
    assert "gmcrm reasons map BR0001 V99" in str(info.value)

    dms_catalogues.map_reason(world.conn, "BR0001", "V99", "NotInterested")
    [event] = fetch_outbox_events(world.conn, [row.id])  # the mapping is read when sending
    assert build_event(event)["substage"] == "NotInterested"
    assert dms_catalogues.unmapped_reasons(world.conn, ["BR0001"]) == []
    with pytest.raises(ValueError, match="not one of GM's reasons"):
        dms_catalogues.map_reason(world.conn, "BR0001", "V99", "Whatever")
    with pytest.raises(ValueError, match="no reason"):
        dms_catalogues.map_reason(world.conn, "BR0001", "NOPE", "Other")


def test_demo_catalogues_seed_is_idempotent_and_keeps_mappings(world: DmsWorld) -> None:
    counts = [world.count(t) for t in ("dms.contact_form", "dms.reason", "dms.vehicle_model")]
    assert counts == [4 * 4, 15 * 4, 8 * 4]  # BR0001-BR0003, and BR0042 (in the DMS, not integrated yet)
    dms_catalogues.map_reason(world.conn, "BR0002", "V99", "Other")
    summary = demo_seed.seed_demo_catalogues(world.conn)
    assert summary.dealer_codes == ("BR0001", "BR0002", "BR0003")
    assert [world.count(t) for t in ("dms.contact_form", "dms.reason", "dms.vehicle_model")] == counts
    mapped = world.conn.execute(
        "SELECT dealer_code, gm_reason FROM dms.reason WHERE code = 'V99' ORDER BY dealer_code"
    ).fetchall()
    assert mapped == [("BR0001", None), ("BR0002", "Other"), ("BR0003", None), ("BR0042", None)]
    types = {r[0] for r in world.conn.execute("SELECT DISTINCT reason_type FROM dms.reason")}
    assert types == {t for t, rt in load_catalogue().reason_types.items() if rt.needs_gm_reason}
    forms = world.conn.execute(
        "SELECT type, presence_indicator FROM dms.contact_form WHERE dealer_code = 'BR0001' ORDER BY id"
    ).fetchall()
    assert forms == [("EMAIL", 2), ("PHONE", 3), ("IN_PERSON", 1), (None, 2)]
