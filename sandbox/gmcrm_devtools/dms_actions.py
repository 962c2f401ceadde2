"""DMS screen actions, done by plain SQL exactly as a DMS screen writes them.

Each function is one thing a dealership user does on a screen of the DMS: register a contact
(providência), schedule a test drive, save a proposal, send an invoice to the cashier, distribute
contacts, and so on. It writes the DMS tables only (``dms.*``); the capture triggers of migration
``0002.activity`` do the rest in the same transaction: they record GM's trigger events in
``gmcrm.trigger_outbox`` (only for contacts that came from a GM lead) and enforce the closing rules.
Nothing here writes the outbox or decides a trigger code: that is the database's job, as it is for
the real DMS.

Conventions
-----------
- Every function takes a psycopg connection and **commits nothing**: the caller owns the transaction
  (use an autocommit connection, ``conn.commit()``, or ``with conn.transaction():``). Most actions are a
  single statement; :func:`create_own_contact` and :func:`add_counter_service_item` with a ``form`` are two.
- A refused action raises the database's error: :class:`psycopg.Error` with ``sqlstate`` ``GMC01``
  (a vehicle/service/parts lead closed as won by a contact action) or ``GMC02`` (a lead closed as lost,
  or a lost sale, without a reason); see :func:`gmcrm.sqlstates.is_closing_rule_error`. The statement
  wrote nothing, and a connection's open transaction is then aborted: roll it back (or run the action
  inside ``with conn.transaction():``, a savepoint when a transaction is open, to keep the rest).
- Catalogue entries are given by code and looked up in the contact's own dealership with
  :mod:`gmcrm.dms_catalogues`: contact forms by type, reasons by code (``V01``, ``P01``, ...), vehicle
  models by code (``ONIX-10T-PREMIER-25``, ...). An unknown code raises :class:`ValueError`.
- ``form``: ``"EMAIL"``, ``"PHONE"``, ``"IN_PERSON"`` (the dealership's form of that type), ``None``
  (its form with no type, which counts as in person but is no showroom visit) or :data:`CONTACT_FORM`
  (no form given: the DMS uses the contact's own form).
- ``user``: the DMS user acting (GM's ``Salesperson__c``): an ``app_user`` id, a login in the contact's
  dealership (``"vendedor.vn"``), or ``None`` for the user whose queue holds the contact.
- Functions return the id of the row they created, where they create one.

Example (a new-vehicle lead, contact ``c``, from first contact to invoice)::

    from gmcrm_devtools import dms_actions as dms

    dms.register_contact(conn, c, "PHONE")                       # CRE  Experiencing/InProgressPhone
    drive = dms.schedule_test_drive(conn, c, "ONIX-10-LT-25")     # TDA
    dms.complete_test_drive(conn, drive)                          # TDR
    p = dms.save_proposal(conn, c, "ONIX-10-LT-25", form="IN_PERSON")   # VRE, PAB
    dms.send_proposal_for_approval(conn, p)                       # PEA
    dms.approve_proposal(conn, p)                                 # PAP
    dms.change_proposal_vehicle(conn, p, "ONIX-10T-PREMIER-25")   # IMA (the version goes as the TRIN)
    dms.attach_trade_in(conn, p, dms.TradeIn(model_code="CRUZE-14T-LT-19", mileage=85000))  # VTA
    inv = dms.send_invoice_to_cashier(conn, "VEHICLE", proposal_id=p)  # PAP (sale confirmed)
    dms.issue_invoice(conn, inv)                                  # NFF  Delivered/New
    conn.commit()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

import psycopg

from gmcrm import dealerships, dms_catalogues

Conn = psycopg.Connection[Any]

FormType = Literal["EMAIL", "PHONE", "IN_PERSON"]
#: ``form=CONTACT_FORM``: no contact form given; the DMS takes the contact's own form.
CONTACT_FORM: Final = "CONTACT_FORM"
FormChoice = FormType | Literal["CONTACT_FORM"] | None
UserRef = int | str | None
LostKind = Literal["LOST_SALE", "DISCARD", "INACTIVATION"]
InvoiceKind = Literal["VEHICLE", "SERVICE_ORDER", "PARTS"]
LeadType = Literal["NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES"]

__all__ = [
    "CONTACT_FORM",
    "FormChoice",
    "FormType",
    "InvoiceKind",
    "LostKind",
    "TradeIn",
    "UserRef",
    "add_counter_service_item",
    "approve_proposal",
    "attach_trade_in",
    "cancel_counter_service",
    "cancel_proposal",
    "change_proposal_contact_form",
    "change_proposal_vehicle",
    "change_service_appointment_type",
    "close_lost",
    "close_won",
    "complete_test_drive",
    "contact_of_lead",
    "counter_service_of",
    "create_own_contact",
    "delete_test_drive",
    "distribute_contacts",
    "issue_invoice",
    "open_counter_service",
    "register_contact",
    "register_follow_up",
    "register_lost_sale",
    "register_no_contact",
    "reject_proposal",
    "save_proposal",
    "save_service_appointment",
    "schedule_test_drive",
    "send_counter_service_to_cashier",
    "send_invoice_to_cashier",
    "send_proposal_for_approval",
]


# ---------------------------------------------------------------------------------------------
# Look-ups


def _one(conn: Conn, query: str, params: Sequence[Any], what: str) -> Any:
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise ValueError(f"no {what}")
    return row[0]


def _returning_id(conn: Conn, query: str, params: Sequence[Any]) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None, "INSERT ... RETURNING id returned nothing"
    return int(row[0])


def _changed(conn: Conn, query: str, params: Sequence[Any], what: str) -> None:
    if conn.execute(query, params).rowcount != 1:
        raise ValueError(f"no {what}")


def contact_of_lead(conn: Conn, lead_id: str) -> int:
    """The contact the import created from GM lead ``lead_id``."""
    return int(_one(conn, "SELECT id FROM dms.contact WHERE lead_id = %s", (lead_id,), f"contact of lead {lead_id}"))


def _contact(conn: Conn, contact_id: int) -> tuple[str, int | None]:
    """(dealer_code, assigned_user_id) of a contact."""
    row = conn.execute("SELECT dealer_code, assigned_user_id FROM dms.contact WHERE id = %s", (contact_id,)).fetchone()
    if row is None:
        raise ValueError(f"no contact {contact_id}")
    return str(row[0]), None if row[1] is None else int(row[1])


def _contact_of(conn: Conn, table: str, row_id: int) -> int:
    # table is one of ours, never user input.
    return int(_one(conn, f"SELECT contact_id FROM {table} WHERE id = %s", (row_id,), f"{table} {row_id}"))


def _user_id(conn: Conn, contact_id: int, user: UserRef) -> int | None:
    if isinstance(user, int):
        return user
    dealer, assigned = _contact(conn, contact_id)
    if user is None:
        return assigned
    return dealerships.user_id(conn, dealer, user)


def _form_id(conn: Conn, contact_id: int, form: FormChoice) -> int | None:
    if form == CONTACT_FORM:
        return None
    dealer, _ = _contact(conn, contact_id)
    return dms_catalogues.contact_form_id(conn, dealer, form)


def _reason_id(conn: Conn, contact_id: int, reason_code: str | None) -> int | None:
    if reason_code is None:
        return None
    dealer, _ = _contact(conn, contact_id)
    return dms_catalogues.reason_id(conn, dealer, reason_code)


def _model_id(conn: Conn, contact_id: int, model_code: str | None) -> int | None:
    if model_code is None:
        return None
    dealer, _ = _contact(conn, contact_id)
    return dms_catalogues.vehicle_model_id(conn, dealer, model_code)


# ---------------------------------------------------------------------------------------------
# Contacts the dealership creates itself (no GM lead: nothing of theirs ever reaches GM)


def create_own_contact(
    conn: Conn,
    dealer_code: str,
    lead_type: LeadType | None = "NEW_VEHICLE",
    *,
    customer_name: str = "Cliente de balcão",
    email: str | None = None,
    user: int | str | None = None,
    form: FormType | None = None,
    description: str = "Contato criado pela revenda",
) -> int:
    """A walk-in customer and a contact typed in at the DMS (no Lead ID); the contact's id.

    ``user`` (id or login) is the salesperson whose queue it goes to; ``form`` its contact form.
    """
    customer_id = _returning_id(
        conn,
        "INSERT INTO dms.customer (dealer_code, name, person_type, email) VALUES (%s, %s, 'F', %s) RETURNING id",
        (dealer_code, customer_name, email),
    )
    user_id = dealerships.user_id(conn, dealer_code, user) if isinstance(user, str) else user
    form_id = dms_catalogues.contact_form_id(conn, dealer_code, form) if form is not None else None
    return _returning_id(
        conn,
        "INSERT INTO dms.contact (dealer_code, customer_id, lead_id, lead_type, status, assigned_user_id, "
        "contact_form_id, description) VALUES (%s, %s, NULL, %s, 'IN_QUEUE', %s, %s, %s) RETURNING id",
        (dealer_code, customer_id, lead_type, user_id, form_id, description),
    )


# ---------------------------------------------------------------------------------------------
# Distribution (Distribuir Contatos)


def distribute_contacts(conn: Conn, contact_ids: Sequence[int], users: Sequence[int | str]) -> list[tuple[int, int]]:
    """Hand contacts awaiting distribution to users (ids, or logins in the contacts' dealership).

    ``dms.distribute_contacts`` spreads them round-robin, records ``LAT`` for lead contacts and opens a
    counter service with an internal mail for parts contacts. Returns (contact_id, user_id) pairs.
    Refusals: ``GMC10`` (contacts not awaiting distribution), ``GMC11`` (users that cannot receive them).
    """
    user_ids: list[int] = []
    for user in users:
        if isinstance(user, int):
            user_ids.append(user)
        else:
            if not contact_ids:
                raise ValueError("no contact selected to distribute")
            dealer, _ = _contact(conn, contact_ids[0])
            user_ids.append(dealerships.user_id(conn, dealer, user))
    rows = conn.execute(
        "SELECT contact_id, user_id FROM dms.distribute_contacts(%s, %s)", (list(contact_ids), user_ids)
    ).fetchall()
    return [(int(c), int(u)) for c, u in rows]


# ---------------------------------------------------------------------------------------------
# Providências (contact actions): CRE, VRE, CNR, closing, lost sale / discard / inactivation


def _action(
    conn: Conn,
    contact_id: int,
    kind: str,
    *,
    result: str | None = None,
    form_id: int | None = None,
    reason_id: int | None = None,
    user: UserRef = None,
    notes: str | None = None,
) -> int:
    return _returning_id(
        conn,
        "INSERT INTO dms.contact_action (contact_id, kind, result, contact_form_id, reason_id, user_id, notes) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (contact_id, kind, result, form_id, reason_id, _user_id(conn, contact_id, user), notes),
    )


def register_contact(
    conn: Conn, contact_id: int, form: FormChoice = CONTACT_FORM, *, user: UserRef = None, notes: str | None = None
) -> int:
    """Registrar Atendimento > Contato: ``CRE`` (substage from the form's type); for after-sales leads
    with an in-person form, then ``VRE`` (showroom visit)."""
    return _action(conn, contact_id, "CONTACT", form_id=_form_id(conn, contact_id, form), user=user, notes=notes)


def register_no_contact(
    conn: Conn,
    contact_id: int,
    *,
    form: FormChoice = CONTACT_FORM,
    reason_code: str | None = None,
    user: UserRef = None,
    notes: str | None = None,
) -> int:
    """The "Sem Contato" action: ``CNR`` whatever the reason given (a reason is optional)."""
    return _action(
        conn,
        contact_id,
        "NO_CONTACT",
        form_id=_form_id(conn, contact_id, form),
        reason_id=_reason_id(conn, contact_id, reason_code),
        user=user,
        notes=notes,
    )


def register_follow_up(conn: Conn, contact_id: int, *, user: UserRef = None, notes: str | None = None) -> int:
    """A follow-up providência: the DMS records it, GM hears nothing."""
    return _action(conn, contact_id, "FOLLOW_UP", user=user, notes=notes)


def close_won(conn: Conn, contact_id: int, *, user: UserRef = None, notes: str | None = None) -> int:
    """Closing with result "Fechado". After-sales leads: ``NFF`` Converted/AfterSales. Vehicle, service and
    parts leads are refused (``GMC01``): they close through their invoice, or as a lost sale."""
    return _action(conn, contact_id, "CLOSING", result="WON", user=user, notes=notes)


def close_lost(
    conn: Conn, contact_id: int, reason_code: str | None, *, user: UserRef = None, notes: str | None = None
) -> int:
    """Closing with result "Perdido": ``VPE`` with the reason's GM reason. Without a reason: refused
    (``GMC02``)."""
    return _action(
        conn,
        contact_id,
        "CLOSING",
        result="LOST",
        reason_id=_reason_id(conn, contact_id, reason_code),
        user=user,
        notes=notes,
    )


def register_lost_sale(
    conn: Conn,
    contact_id: int,
    reason_code: str | None,
    *,
    kind: LostKind = "LOST_SALE",
    user: UserRef = None,
    notes: str | None = None,
) -> int:
    """A lost sale, a discard (578) or an inactivation with its reason: ``VPE``. Without a reason:
    refused (``GMC02``)."""
    return _action(conn, contact_id, kind, reason_id=_reason_id(conn, contact_id, reason_code), user=user, notes=notes)


# ---------------------------------------------------------------------------------------------
# Test drives: TDA, TDR, TDE


def schedule_test_drive(
    conn: Conn,
    contact_id: int,
    model_code: str | None = None,
    *,
    at: datetime | None = None,
    user: UserRef = None,
) -> int:
    """A test drive scheduled (``TDA``), by default for tomorrow."""
    return _returning_id(
        conn,
        "INSERT INTO dms.test_drive (contact_id, vehicle_model_id, scheduled_at, user_id) "
        "VALUES (%s, %s, coalesce(%s, now() + interval '1 day'), %s) RETURNING id",
        (contact_id, _model_id(conn, contact_id, model_code), at, _user_id(conn, contact_id, user)),
    )


def complete_test_drive(conn: Conn, test_drive_id: int) -> None:
    """The test drive recorded as done (``TDR``)."""
    _changed(
        conn,
        "UPDATE dms.test_drive SET status = 'DONE', done_at = coalesce(done_at, now()) WHERE id = %s",
        (test_drive_id,),
        f"test drive {test_drive_id}",
    )


def delete_test_drive(conn: Conn, test_drive_id: int) -> None:
    """The test drive deleted: ``TDE`` when it was still scheduled, nothing when it was done."""
    _changed(conn, "DELETE FROM dms.test_drive WHERE id = %s", (test_drive_id,), f"test drive {test_drive_id}")


# ---------------------------------------------------------------------------------------------
# Proposals (propostas de venda): VRE, PAB, IMA, VTA, PEA, PAP, VPE


@dataclass(frozen=True)
class TradeIn:
    """A used-vehicle appraisal taken as payment.

    ``model_code``: a catalogue model, whose description and version (the TRIN) GM receives; otherwise
    ``model`` and ``version`` as typed in the appraisal.
    """

    model_code: str | None = None
    model: str | None = None
    version: str | None = None
    model_year: str | None = None
    mileage: int | None = None
    plate: str | None = None
    value: Decimal | float | None = None


def _trade_in_values(conn: Conn, contact_id: int, trade_in: TradeIn) -> dict[str, Any]:
    if trade_in.model_code is None and trade_in.model is None:
        raise ValueError("a trade-in needs a model_code or a model")
    return {
        "trade_in_model_id": _model_id(conn, contact_id, trade_in.model_code),
        "trade_in_model": trade_in.model,
        "trade_in_version": trade_in.version,
        "trade_in_model_year": trade_in.model_year,
        "trade_in_mileage": trade_in.mileage,
        "trade_in_plate": trade_in.plate,
        "trade_in_value": trade_in.value,
    }


def save_proposal(
    conn: Conn,
    contact_id: int,
    model_code: str | None,
    *,
    year: str | None = None,
    form: FormChoice = CONTACT_FORM,
    price: Decimal | float | None = None,
    trade_in: TradeIn | None = None,
    user: UserRef = None,
) -> int:
    """A new sales proposal saved: ``VRE`` (in-person form), ``PAB``, then ``VTA`` if it has a trade-in.

    ``year`` defaults to the model's year.
    """
    values: dict[str, Any] = {
        "contact_id": contact_id,
        "contact_form_id": _form_id(conn, contact_id, form),
        "vehicle_model_id": _model_id(conn, contact_id, model_code),
        "vehicle_model_year": year,
        "price": price,
        "user_id": _user_id(conn, contact_id, user),
    }
    if trade_in is not None:
        values.update(_trade_in_values(conn, contact_id, trade_in))
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return _returning_id(
        conn, f"INSERT INTO dms.proposal ({columns}) VALUES ({marks}) RETURNING id", tuple(values.values())
    )


def _update_proposal(conn: Conn, proposal_id: int, sets: dict[str, Any]) -> None:
    assignments = ", ".join(f"{column} = %s" for column in sets)
    _changed(
        conn,
        f"UPDATE dms.proposal SET {assignments} WHERE id = %s",
        (*sets.values(), proposal_id),
        f"proposal {proposal_id}",
    )


def change_proposal_vehicle(conn: Conn, proposal_id: int, model_code: str, *, year: str | None = None) -> None:
    """The vehicle offered changed: ``IMA`` (CREATE_MODEL_OF_INTEREST, with the version as the TRIN)."""
    contact_id = _contact_of(conn, "dms.proposal", proposal_id)
    _update_proposal(
        conn,
        proposal_id,
        {"vehicle_model_id": _model_id(conn, contact_id, model_code), "vehicle_model_year": year},
    )


def change_proposal_contact_form(conn: Conn, proposal_id: int, form: FormType | None) -> None:
    """The proposal saved again with another contact form; with the in-person one: ``VRE``."""
    contact_id = _contact_of(conn, "dms.proposal", proposal_id)
    _update_proposal(conn, proposal_id, {"contact_form_id": _form_id(conn, contact_id, form)})


def attach_trade_in(conn: Conn, proposal_id: int, trade_in: TradeIn) -> None:
    """A used-vehicle appraisal attached as payment and the proposal saved: ``VTA``
    (CREATE_TRADE_IN_DETAILS). Saving it again unchanged records nothing."""
    contact_id = _contact_of(conn, "dms.proposal", proposal_id)
    _update_proposal(conn, proposal_id, _trade_in_values(conn, contact_id, trade_in))


def send_proposal_for_approval(conn: Conn, proposal_id: int) -> None:
    """Sent for the manager's approval: ``PEA``."""
    _update_proposal(conn, proposal_id, {"approval_state": "SENT_FOR_APPROVAL"})


def approve_proposal(conn: Conn, proposal_id: int) -> None:
    """Approved by the manager: ``PAP``."""
    _update_proposal(conn, proposal_id, {"approval_state": "APPROVED"})


def reject_proposal(conn: Conn, proposal_id: int, reason_code: str | None) -> None:
    """Rejected at approval, a lost sale: ``VPE``. Without a reason: refused (``GMC02``)."""
    contact_id = _contact_of(conn, "dms.proposal", proposal_id)
    _update_proposal(
        conn, proposal_id, {"approval_state": "REJECTED", "reason_id": _reason_id(conn, contact_id, reason_code)}
    )


def cancel_proposal(conn: Conn, proposal_id: int, reason_code: str | None) -> None:
    """Cancelled, a lost sale: ``VPE``. Without a reason: refused (``GMC02``)."""
    contact_id = _contact_of(conn, "dms.proposal", proposal_id)
    _update_proposal(
        conn, proposal_id, {"approval_state": "CANCELLED", "reason_id": _reason_id(conn, contact_id, reason_code)}
    )


# ---------------------------------------------------------------------------------------------
# Invoices (notas fiscais): PAP (vehicle sale confirmed), NFF


def send_invoice_to_cashier(
    conn: Conn,
    kind: InvoiceKind,
    *,
    contact_id: int | None = None,
    proposal_id: int | None = None,
    counter_service_id: int | None = None,
    model_code: str | None = None,
    year: str | None = None,
    number: str | None = None,
    total: Decimal | float | None = None,
    user: UserRef = None,
) -> int:
    """An invoice (``VEHICLE`` sale, ``SERVICE_ORDER`` or ``PARTS``) sent to the cashier.

    A vehicle invoice confirms the sale: ``PAP`` again, with the vehicle sold (the proposal's unless
    ``model_code`` says otherwise). Give the contact, or the proposal / counter service it comes from.
    """
    if contact_id is None:
        if proposal_id is not None:
            contact_id = _contact_of(conn, "dms.proposal", proposal_id)
        elif counter_service_id is not None:
            contact_id = _contact_of(conn, "dms.parts_counter_service", counter_service_id)
        else:
            raise ValueError("an invoice needs a contact, a proposal or a counter service")
    return _returning_id(
        conn,
        "INSERT INTO dms.invoice (contact_id, kind, number, status, vehicle_model_id, model_year, proposal_id, "
        "parts_counter_service_id, total, user_id) "
        "VALUES (%s, %s, %s, 'SENT_TO_CASHIER', %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            contact_id,
            kind,
            number,
            _model_id(conn, contact_id, model_code),
            year,
            proposal_id,
            counter_service_id,
            total,
            _user_id(conn, contact_id, user),
        ),
    )


def issue_invoice(conn: Conn, invoice_id: int) -> None:
    """The invoice issued (faturada): ``NFF`` (Delivered with the lead type's substage); the contact is
    closed as won."""
    _changed(conn, "UPDATE dms.invoice SET status = 'ISSUED' WHERE id = %s", (invoice_id,), f"invoice {invoice_id}")


# ---------------------------------------------------------------------------------------------
# Service appointments: ACO for type AE


def save_service_appointment(
    conn: Conn,
    contact_id: int,
    appointment_type: str = "AE",
    *,
    scheduled_for: datetime | None = None,
    user: UserRef = None,
    notes: str | None = None,
) -> int:
    """A service appointment saved. Type ``AE`` (Agendamento Efetivo): ``ACO``, two events
    (Deciding/Contacted, then Converted/ServiceScheduled); any other type sends nothing."""
    when = scheduled_for or datetime.now().astimezone() + timedelta(days=2)
    return _returning_id(
        conn,
        "INSERT INTO dms.service_appointment (contact_id, type, scheduled_for, user_id, notes) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (contact_id, appointment_type, when, _user_id(conn, contact_id, user), notes),
    )


def change_service_appointment_type(conn: Conn, appointment_id: int, appointment_type: str) -> None:
    """The appointment's type changed; to ``AE``: ``ACO``."""
    _changed(
        conn,
        "UPDATE dms.service_appointment SET type = %s WHERE id = %s",
        (appointment_type, appointment_id),
        f"service appointment {appointment_id}",
    )


# ---------------------------------------------------------------------------------------------
# Parts counter service (atendimento balcão): CRE, PVR, VPE


def open_counter_service(conn: Conn, contact_id: int, *, user: UserRef = None, form: FormChoice = CONTACT_FORM) -> int:
    """A counter service opened by hand for a contact (a lead's is opened when it lands in a queue)."""
    salesperson = _user_id(conn, contact_id, user)
    if salesperson is None:
        raise ValueError(f"contact {contact_id} is in nobody's queue: name the salesperson (user=...)")
    return _returning_id(
        conn,
        "INSERT INTO dms.parts_counter_service (dealer_code, contact_id, customer_id, salesperson_user_id, "
        "contact_form_id) SELECT dealer_code, id, customer_id, %s, %s FROM dms.contact WHERE id = %s RETURNING id",
        (salesperson, _form_id(conn, contact_id, form), contact_id),
    )


def counter_service_of(conn: Conn, contact_id: int) -> int:
    """The counter service opened for a parts contact when it landed in a salesperson's queue."""
    return int(
        _one(
            conn,
            "SELECT id FROM dms.parts_counter_service WHERE contact_id = %s",
            (contact_id,),
            f"counter service for contact {contact_id}",
        )
    )


def add_counter_service_item(
    conn: Conn,
    counter_service_id: int,
    part_code: str,
    *,
    description: str | None = None,
    quantity: Decimal | float = 1,
    unit_price: Decimal | float | None = None,
    form: FormChoice = CONTACT_FORM,
) -> int:
    """A part added to the counter service; the first item ever is the parts contact: ``CRE``.

    ``form``: the contact form the counter service is worked with, set before the item is added
    (:data:`CONTACT_FORM`: leave it as it is; the contact's own form is used when it has none).
    """
    if form != CONTACT_FORM:
        contact_id = _contact_of(conn, "dms.parts_counter_service", counter_service_id)
        conn.execute(
            "UPDATE dms.parts_counter_service SET contact_form_id = %s WHERE id = %s",
            (_form_id(conn, contact_id, form), counter_service_id),
        )
    return _returning_id(
        conn,
        "INSERT INTO dms.parts_counter_service_item (parts_counter_service_id, part_code, description, quantity, "
        "unit_price) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (counter_service_id, part_code, description, quantity, unit_price),
    )


def send_counter_service_to_cashier(conn: Conn, counter_service_id: int) -> None:
    """The counter service sent to the cashier: ``PVR`` (Converted/PartsAndAccessoriesOrdered)."""
    _changed(
        conn,
        "UPDATE dms.parts_counter_service SET status = 'SENT_TO_CASHIER' WHERE id = %s",
        (counter_service_id,),
        f"counter service {counter_service_id}",
    )


def cancel_counter_service(conn: Conn, counter_service_id: int, reason_code: str | None) -> None:
    """Cancelled (230) with a reason, a parts lost sale: ``VPE``. Without a reason: refused (``GMC02``)."""
    contact_id = _contact_of(conn, "dms.parts_counter_service", counter_service_id)
    _changed(
        conn,
        "UPDATE dms.parts_counter_service SET status = 'CANCELLED', reason_id = %s WHERE id = %s",
        (_reason_id(conn, contact_id, reason_code), counter_service_id),
        f"counter service {counter_service_id}",
    )
