"""The trigger catalogue and the payload builder, without a database: every trigger code of
triggers.md, the contact-form and reason rules, NFF per lead type, ACO's two steps, the TRIN."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import yaml

from gmcrm.catalogue import (
    DEFAULT_FILE,
    EVENT_FIELDS,
    CatalogueError,
    MissingReferenceError,
    NotApplicableError,
    TriggerCatalogue,
    UnknownTriggerError,
    UnmappedReasonError,
    load_catalogue,
    parse_catalogue,
)
from gmcrm.catalogue.model import CARRIED_FIELDS
from gmcrm.gm_mapping import load_mapping
from gmcrm.send.payload import (
    FIELD_VALUES,
    OutboxEvent,
    ReasonRef,
    TradeInRef,
    VehicleRef,
    build_event,
    build_record,
    format_event_time,
)

VEHICLES = ("NEW_VEHICLE", "USED_VEHICLE")
ALL = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")
WHEN = datetime(2025, 8, 10, 14, 30, 15, 987654, tzinfo=UTC)
ONIX = VehicleRef(model="Onix", trim="1.0 Turbo Premier", model_year="2025")
MAPPED = ReasonRef(
    code="V01", description="Comprou em outra concessionária", reason_type="V", gm_reason="BoughtElsewhere"
)
UNMAPPED = ReasonRef(code="V99", description="Desistiu da compra", reason_type="V", gm_reason=None)


@pytest.fixture(scope="module")
def cat() -> TriggerCatalogue:
    return load_catalogue()


def _event(code: str, lead_type: str | None = "NEW_VEHICLE", **kw: Any) -> OutboxEvent:
    values: dict[str, Any] = {
        "outbox_id": 42,
        "dealer_code": "BR0001",
        "lead_id": "006WD00000H4eBaYAJ",
        "lead_type": lead_type,
        "trigger_code": code,
        "occurred_at": WHEN,
        "salesperson": "Carla Mendes",
    }
    values.update(kw)
    return OutboxEvent(**values)


# ---------------------------------------------------------------------------------------------
# The catalogue as data


def test_catalogue_has_every_row_of_triggers_md(cat: TriggerCatalogue) -> None:
    assert set(cat.triggers) == {
        "LIM", "LAT", "CRE", "CNR", "TDA", "TDR", "TDE", "VRE", "PAB", "PEA", "PAP", "IMA", "VTA", "NFF", "VPE",
        "ACO", "PVR",
    }  # fmt: skip
    assert cat.trigger("VRE").lead_types == (*VEHICLES, "AFTER_SALES")
    assert cat.trigger("ACO").lead_types == ("SERVICE",)
    assert cat.trigger("PVR").lead_types == ("PARTS",)
    assert cat.trigger("VPE").lead_types == ALL
    assert {c for c, t in cat.triggers.items() if t.lead_types == VEHICLES} == {
        "TDA", "TDR", "TDE", "PAB", "PEA", "PAP", "IMA", "VTA",
    }  # fmt: skip
    assert cat.gm_reasons[:2] == ("BoughtElsewhere", "CustomerNoshow")
    assert len(cat.gm_reasons) == 10
    assert {t for t, r in cat.reason_types.items() if r.needs_gm_reason} == {
        "V", "P", "W", "CAA_LOST", "CAA_DISCARD", "CAA_INACTIVATION", "AFTER_SALES_LOST",
    }  # fmt: skip


def test_every_carried_field_has_a_value_rule() -> None:
    # The catalogue's validation (model.CARRIED_FIELDS) and the payload's value rules name the same fields.
    assert set(CARRIED_FIELDS) == set(FIELD_VALUES)


def test_every_logical_field_has_an_api_name() -> None:
    # The builder speaks logical names only; gm_crm.yaml is the one place with API names.
    assert set(EVENT_FIELDS) == set(load_mapping().event_fields)


# ---------------------------------------------------------------------------------------------
# Every trigger code: stage, substage, communication


@pytest.mark.parametrize(
    ("code", "lead_type", "extra", "stage", "substage", "communication"),
    [
        ("LIM", "SERVICE", {}, "New", None, "DISPOSITION_UPDATE"),
        ("LAT", "PARTS", {}, "Assigned", None, "DISPOSITION_UPDATE"),
        ("CRE", "NEW_VEHICLE", {"contact_form_type": "PHONE"}, "Experiencing", "InProgressPhone", "DISPOSITION_UPDATE"),
        ("CNR", "AFTER_SALES", {}, "Experiencing", "InProgressUnresponsive", "DISPOSITION_UPDATE"),
        ("TDA", "NEW_VEHICLE", {}, "Deciding", "TestDriveScheduled", "DISPOSITION_UPDATE"),
        ("TDR", "USED_VEHICLE", {}, "Deciding", "TestDriveShowed", "DISPOSITION_UPDATE"),
        ("TDE", "NEW_VEHICLE", {}, "Deciding", "TestDriveShowed", "DISPOSITION_UPDATE"),
        ("VRE", "NEW_VEHICLE", {"contact_form_type": "IN_PERSON"}, "Deciding", "ShowroomVisit", "DISPOSITION_UPDATE"),
        ("VRE", "AFTER_SALES", {"contact_form_type": "IN_PERSON"}, "Deciding", "ShowroomVisit", "DISPOSITION_UPDATE"),
        ("PAB", "NEW_VEHICLE", {}, "Deciding", "OfferPresented", "DISPOSITION_UPDATE"),
        ("PEA", "USED_VEHICLE", {}, "Deciding", "OfferPresented", "DISPOSITION_UPDATE"),
        ("PAP", "NEW_VEHICLE", {"vehicle": ONIX}, "Converted", "New", "DISPOSITION_UPDATE"),
        ("IMA", "NEW_VEHICLE", {"vehicle": ONIX}, "WithoutStage", "WithoutSubstage", "CREATE_MODEL_OF_INTEREST"),
        ("VTA", "USED_VEHICLE", {"trade_in": TradeInRef(model="Celta")}, "WithoutStage", "WithoutSubstage",
         "CREATE_TRADE_IN_DETAILS"),
        ("NFF", "NEW_VEHICLE", {"vehicle": ONIX}, "Delivered", "New", "DISPOSITION_UPDATE"),
        ("VPE", "PARTS", {"reason": MAPPED}, "NotConverted", "BoughtElsewhere", "DISPOSITION_UPDATE"),
        ("ACO", "SERVICE", {"step": 1}, "Deciding", "Contacted", "DISPOSITION_UPDATE"),
        ("ACO", "SERVICE", {"step": 2}, "Converted", "ServiceScheduled", "DISPOSITION_UPDATE"),
        ("PVR", "PARTS", {}, "Converted", "PartsAndAccessoriesOrdered", "DISPOSITION_UPDATE"),
    ],
)  # fmt: skip
def test_every_trigger_code(
    cat: TriggerCatalogue,
    code: str,
    lead_type: str,
    extra: dict[str, Any],
    stage: str,
    substage: str | None,
    communication: str,
) -> None:
    event = build_event(_event(code, lead_type, **extra), cat)
    assert list(event) == list(EVENT_FIELDS)
    assert (event["trigger_code"], event["stage"], event["substage"], event["communication"]) == (
        code, stage, substage, communication,
    )  # fmt: skip
    assert event["event_id"] == "BR0001-42"
    assert event["lead_id"] == "006WD00000H4eBaYAJ"
    assert event["dealer_code"] == "BR0001"
    assert event["event_time"] == "2025-08-10T14:30:15Z"
    assert event["salesperson"] == "Carla Mendes"  # every event says who acted, where known


# ---------------------------------------------------------------------------------------------
# Contact forms


@pytest.mark.parametrize(
    ("form_type", "substage", "channel"),
    [
        ("EMAIL", "InProgressEmail", "Email"),
        ("PHONE", "InProgressPhone", "Phone"),
        ("IN_PERSON", "InProgressInPerson", "InPerson"),
        (None, "InProgressInPerson", "InPerson"),  # a form with no type (or no form)
    ],
)
@pytest.mark.parametrize("lead_type", ALL)
def test_cre_substage_and_channel_come_from_the_form_type(
    cat: TriggerCatalogue, lead_type: str, form_type: str | None, substage: str, channel: str
) -> None:
    event = build_event(_event("CRE", lead_type, contact_form_type=form_type), cat)
    assert (event["stage"], event["substage"], event["contact_channel"]) == ("Experiencing", substage, channel)


def test_vre_needs_the_in_person_type_itself(cat: TriggerCatalogue) -> None:
    assert build_event(_event("VRE", contact_form_type="IN_PERSON"), cat)["contact_channel"] == "InPerson"
    for form_type in (None, "PHONE", "EMAIL"):
        with pytest.raises(NotApplicableError, match="IN_PERSON"):
            build_event(_event("VRE", "AFTER_SALES", contact_form_type=form_type), cat)


def test_events_that_are_not_contacts_carry_no_channel(cat: TriggerCatalogue) -> None:
    event = build_event(_event("PAB", contact_form_type="PHONE"), cat)
    assert event["contact_channel"] is None


# ---------------------------------------------------------------------------------------------
# Vehicles: the TRIN apart from the model; trade-in


@pytest.mark.parametrize("code", ["IMA", "PAP", "NFF"])
def test_vehicle_sent_with_its_trin_apart_from_the_model(cat: TriggerCatalogue, code: str) -> None:
    event = build_event(_event(code, vehicle=ONIX), cat)
    assert (event["vehicle_model"], event["vehicle_trim"], event["vehicle_model_year"]) == (
        "Onix", "1.0 Turbo Premier", "2025",
    )  # fmt: skip
    assert "Turbo" not in event["vehicle_model"]


def test_events_that_do_not_carry_the_vehicle_leave_it_out(cat: TriggerCatalogue) -> None:
    for code in ("TDA", "PAB", "PEA"):
        event = build_event(_event(code, vehicle=ONIX), cat)
        assert event["vehicle_model"] is event["vehicle_trim"] is None


def test_ima_without_a_vehicle_cannot_be_sent(cat: TriggerCatalogue) -> None:
    with pytest.raises(MissingReferenceError, match="vehicle_model"):
        build_event(_event("IMA"), cat)


def test_trade_in_fields(cat: TriggerCatalogue) -> None:
    trade_in = TradeInRef.from_json(
        {"model": "Cruze", "model_year": 2019, "trim": "1.4 Turbo LT", "mileage": "85000", "plate": "ABC1D23",
         "value": 68500.5, "model_id": 8}
    )  # fmt: skip
    assert trade_in == TradeInRef("Cruze", "2019", "1.4 Turbo LT", 85000, "ABC1D23", Decimal("68500.5"))
    event = build_event(_event("VTA", trade_in=trade_in, vehicle=ONIX), cat)
    assert {k: event[k] for k in EVENT_FIELDS if k.startswith("trade_in")} == {
        "trade_in_model": "Cruze",
        "trade_in_model_year": "2019",
        "trade_in_trim": "1.4 Turbo LT",
        "trade_in_mileage": 85000,
        "trade_in_plate": "ABC1D23",
        "trade_in_value": 68500.5,
    }
    assert isinstance(event["trade_in_value"], float)
    assert event["vehicle_model"] is None  # VTA carries the trade-in, not the vehicle sold
    assert TradeInRef.from_json(None) is None and TradeInRef.from_json({}) is None
    with pytest.raises(MissingReferenceError):
        build_event(_event("VTA"), cat)


# ---------------------------------------------------------------------------------------------
# NFF per lead type, ACO steps


@pytest.mark.parametrize(
    ("lead_type", "stage", "substage", "carries_vehicle"),
    [
        ("NEW_VEHICLE", "Delivered", "New", True),
        ("USED_VEHICLE", "Delivered", "New", True),
        ("SERVICE", "Delivered", "ServiceComplete", False),
        ("PARTS", "Delivered", "PartsAndAccessories", False),
        ("AFTER_SALES", "Converted", "AfterSales", False),
    ],
)
def test_nff_per_lead_type(
    cat: TriggerCatalogue, lead_type: str, stage: str, substage: str, carries_vehicle: bool
) -> None:
    event = build_event(_event("NFF", lead_type, vehicle=ONIX), cat)
    assert (event["stage"], event["substage"]) == (stage, substage)
    assert (event["vehicle_model"] == "Onix") is carries_vehicle


def test_aco_has_two_steps_in_order_and_no_third(cat: TriggerCatalogue) -> None:
    aco = cat.trigger("ACO")
    assert aco.step_count == 2
    assert [build_event(_event("ACO", "SERVICE", step=s), cat)["substage"] for s in (1, 2)] == [
        "Contacted", "ServiceScheduled",
    ]  # fmt: skip
    with pytest.raises(NotApplicableError, match="step 3"):
        build_event(_event("ACO", "SERVICE", step=3), cat)
    assert all(t.step_count == 1 for c, t in cat.triggers.items() if c != "ACO")


# ---------------------------------------------------------------------------------------------
# VPE and GM reasons


@pytest.mark.parametrize("lead_type", ALL)
def test_vpe_sends_the_mapped_gm_reason_as_substage_and_lost_reason(cat: TriggerCatalogue, lead_type: str) -> None:
    reason = ReasonRef("A01", "Cliente não compareceu", "AFTER_SALES_LOST", "CustomerNoshow")
    event = build_event(_event("VPE", lead_type, reason=reason), cat)
    assert (event["stage"], event["substage"], event["lost_reason"]) == (
        "NotConverted", "CustomerNoshow", "CustomerNoshow",
    )  # fmt: skip


def test_unmapped_vpe_reason_names_the_reason_its_type_and_the_fix(cat: TriggerCatalogue) -> None:
    with pytest.raises(UnmappedReasonError) as info:
        build_event(_event("VPE", reason=UNMAPPED), cat)
    error = info.value
    message = str(error)
    assert "V99" in message and "'Desistiu da compra'" in message
    assert "type V (venda perdida de veículos / vehicle lost sale)" in message
    assert "gmcrm reasons map BR0001 V99 <GM reason>, then retry" in message
    assert "BoughtElsewhere" in message  # the choices
    assert error.error_code == "UNMAPPED_REASON"
    assert (error.dealer_code, error.reason, error.lead_id) == ("BR0001", UNMAPPED, "006WD00000H4eBaYAJ")


def test_vpe_mapped_to_a_reason_gm_no_longer_has_is_unmapped(cat: TriggerCatalogue) -> None:
    stale = ReasonRef("D01", "Contato duplicado", "CAA_DISCARD", "GoneReason")
    with pytest.raises(UnmappedReasonError, match="'GoneReason', which is not in GM's list"):
        build_event(_event("VPE", "SERVICE", reason=stale), cat)


def test_vpe_without_any_reason_is_a_missing_reference(cat: TriggerCatalogue) -> None:
    with pytest.raises(MissingReferenceError, match="no DMS reason"):
        build_event(_event("VPE"), cat)


# ---------------------------------------------------------------------------------------------
# Applicability, times, the API record


@pytest.mark.parametrize(
    ("code", "lead_type"), [("TDA", "SERVICE"), ("ACO", "NEW_VEHICLE"), ("PVR", "AFTER_SALES"), ("PAB", "PARTS")]
)
def test_trigger_for_a_lead_type_it_does_not_apply_to(cat: TriggerCatalogue, code: str, lead_type: str) -> None:
    with pytest.raises(NotApplicableError):
        build_event(_event(code, lead_type), cat)


def test_unknown_code_and_unknown_lead_type(cat: TriggerCatalogue) -> None:
    with pytest.raises(UnknownTriggerError, match="XYZ"):
        build_event(_event("XYZ"), cat)
    with pytest.raises(NotApplicableError):
        build_event(_event("CRE", None), cat)


def test_event_time_is_utc_to_the_second() -> None:
    sao_paulo = timezone(timedelta(hours=-3))
    assert format_event_time(datetime(2025, 8, 10, 23, 59, 59, 999999, tzinfo=sao_paulo)) == "2025-08-11T02:59:59Z"
    assert format_event_time(datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05Z"  # naive: taken as UTC


def test_record_uses_the_api_names_of_the_mapping_and_drops_absent_fields(cat: TriggerCatalogue) -> None:
    record = build_record(_event("IMA", vehicle=ONIX), cat)
    assert record == {
        "attributes": {"type": "Lead_Event__c"},
        "DMS_Event_Id__c": "BR0001-42",
        "Lead__c": "006WD00000H4eBaYAJ",
        "Dealer_Code__c": "BR0001",
        "Trigger_Code__c": "IMA",
        "Communication__c": "CREATE_MODEL_OF_INTEREST",
        "Stage__c": "WithoutStage",
        "Substage__c": "WithoutSubstage",
        "Event_Time__c": "2025-08-10T14:30:15Z",
        "Vehicle_Model__c": "Onix",
        "Vehicle_Model_Year__c": "2025",
        "Vehicle_Trim__c": "1.0 Turbo Premier",
        "Salesperson__c": "Carla Mendes",
    }
    lim = build_record(_event("LIM", salesperson=None), cat)
    assert "Substage__c" not in lim and "Salesperson__c" not in lim


# ---------------------------------------------------------------------------------------------
# Data-driven: changing the YAML changes the events, and a broken catalogue fails at load


def _raw() -> dict[str, Any]:
    raw = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return copy.deepcopy(raw)


def test_gm_changing_a_row_needs_no_code_change() -> None:
    raw = _raw()
    tde = next(t for t in raw["triggers"] if t["code"] == "TDE")
    tde["substage"] = "TestDriveCancelled"  # the doubtful row, corrected
    raw["contact_forms"]["untyped"]["channel"] = "Other"
    raw["gm_reasons"].append("MovedAway")
    cat = parse_catalogue(raw)
    assert build_event(_event("TDE"), cat)["substage"] == "TestDriveCancelled"
    assert build_event(_event("CRE"), cat)["contact_channel"] == "Other"
    moved = ReasonRef("V05", "Mudou de cidade", "V", "MovedAway")
    assert build_event(_event("VPE", reason=moved), cat)["lost_reason"] == "MovedAway"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["triggers"][0].update(lead_types=["TRUCKS"]), "unknown lead type"),
        (lambda r: r["triggers"][0].update(communication="SHOUT"), "communication"),
        (lambda r: r["triggers"][0].update(code="Lim"), "three capital letters"),
        (lambda r: r["triggers"][0].update(stage=None), "no stage"),
        (lambda r: r["triggers"].append(dict(r["triggers"][0])), "appears twice"),
        (lambda r: r["triggers"][2].update(carries=["horoscope"]), "unknown field group"),
        (lambda r: r["contact_forms"].pop("untyped"), "untyped"),
        (lambda r: r["triggers"][2].update(substage={"from": "moon"}), "substage 'from'"),
    ],
)
def test_a_broken_catalogue_fails_at_load(mutate: Any, message: str) -> None:
    raw = _raw()
    mutate(raw)
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(raw)
