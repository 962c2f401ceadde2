"""The onboarding check's pure parts: the probe through the transform, the judging, the validation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from gmcrm.dealerships import Dealership
from gmcrm.gm_mapping import load_mapping
from gmcrm.leads.transform import LEAD_TYPES, ContactSetting, DealerContext, UserRef
from gmcrm.onboarding import (
    Catalogues,
    DealerState,
    Problem,
    Report,
    User,
    probe_quarantine,
    problems_of,
    setting_errors,
    traffic_origin_error,
)

CODE = "BR0042"
CAT = Catalogues(
    contact_types={"VENDA": ("VEICULO_NOVO", "VEICULO_USADO"), "POS_VENDA": ("OFICINA",)},
    traffic_origins=("CRM-GM", "INTERNET-GM"),
    departments={"VN": 1, "VU": 2},
)
USERS = {"vehicles_user_id": 10, "parts_user_id": 11, "service_user_id": 12, "after_sales_user_id": 13}
SETTINGS = {
    "NEW_VEHICLE": ("VENDA", "VEICULO_NOVO"),
    "USED_VEHICLE": ("VENDA", "VEICULO_USADO"),
    "SERVICE": ("POS_VENDA", "OFICINA"),
    "PARTS": ("POS_VENDA", "OFICINA"),
    "AFTER_SALES": ("VENDA", "VEICULO_NOVO"),
}


def dealership(**changes: Any) -> Dealership:
    fields: dict[str, Any] = {
        "dealer_code": CODE,
        "name": "Chevrolet Nova",
        "integration_enabled": False,
        "routing": "DIRECT",
        "traffic_origin": "INTERNET-GM",
        "last_integration_at": None,
        "gm_conn_id": "gm_crm",
        **USERS,
    }
    fields.update(changes)
    return Dealership(**fields)


def state(d: Dealership | None = None, settings: dict[str, tuple[str, str]] = SETTINGS, **changes: Any) -> DealerState:
    d = d or dealership()
    users = {uid: User(uid, CODE, f"user{uid}", True, 1) for uid in (getattr(d, c) for c in USERS) if uid is not None}
    rows = {
        t: {
            "lead_type": t,
            "contact_type": ct,
            "contact_subtype": cs,
            "department_id": 2 if t == "USED_VEHICLE" else None,
        }
        for t, (ct, cs) in settings.items()
    }
    context = DealerContext.from_dicts(vars(d), {uid: u.department_id for uid, u in users.items()}, list(rows.values()))
    base = DealerState(CODE, d, context, users, rows, CAT, {1: CODE, 2: CODE})
    return replace(base, **changes)


def report(s: DealerState, gm_error: str | None = None) -> Report:
    assert s.context is not None
    return problems_of(s, probe_quarantine(s.context, load_mapping()), gm_error)


def test_a_complete_dealership_has_nothing_to_fix() -> None:
    assert report(state()).problems == []


def test_the_probe_uses_the_transforms_rules_and_finds_every_reason_of_a_lead_type() -> None:
    bare = DealerContext(dealer_code=CODE, routing="DIRECT")
    found = probe_quarantine(bare, load_mapping())
    # No user and no settings: the transform names NO_USER first; the second pass finds the settings.
    assert {t: [code for code, _ in reasons] for t, reasons in found.items()} == {
        t: ["NO_USER", "NO_CONTACT_SETTING"] for t in LEAD_TYPES
    }
    full = DealerContext(
        dealer_code=CODE,
        routing="DISTRIBUTION",
        users={t: UserRef(1, 1) for t in LEAD_TYPES},
        contact_settings={t: ContactSetting("A", "B") for t in LEAD_TYPES},
    )
    assert probe_quarantine(full, load_mapping()) == {}


def test_no_vehicles_user_stops_new_and_used_leads_in_one_problem_with_its_fix() -> None:
    r = report(state(dealership(vehicles_user_id=None)))
    [problem] = r.problems
    assert problem.stops == ("NEW_VEHICLE", "USED_VEHICLE")
    assert "no receiving user (routing DIRECT" in problem.text and "(NO_USER)" in problem.text
    assert problem.fix.startswith(f"gmcrm dealership set {CODE} --vehicles-user LOGIN")
    assert not r.every_lead_stopped


def test_distribution_without_list_owners_and_settings_stops_every_lead() -> None:
    d = dealership(routing="DISTRIBUTION", **dict.fromkeys(USERS))
    r = report(state(d, settings={}))
    assert r.every_lead_stopped
    assert any("no list owner (routing DISTRIBUTION" in p.text for p in r.problems)
    fixes = [p.fix for p in r.problems]
    assert any(
        f.startswith(f"gmcrm contact-settings set {CODE} --lead-type USED_VEHICLE") and "--department" in f
        for f in fixes
    )
    assert any(f.startswith(f"gmcrm dealership set {CODE} --after-sales-user LOGIN") for f in fixes)


def test_users_that_would_take_the_leads_wrongly_are_named_without_stopping_them() -> None:
    s = state()
    users = dict(s.users)
    users[11] = replace(users[11], active=False)
    users[12] = replace(users[12], dealer_code="BR0001")
    users[13] = replace(users[13], department_id=None)
    r = report(replace(s, users=users))
    texts = [p.text for p in r.problems]
    assert any("'user11', who is inactive in the DMS" in t for t in texts)
    assert any("a user of dealership BR0001" in t for t in texts)
    assert any("AFTER_SALES leads go to 'user13', who has no department" in t for t in texts)
    assert all(p.stops == () for p in r.problems) and r.problems


def test_settings_and_traffic_origin_outside_the_dms_lists_are_problems() -> None:
    s = state(dealership(traffic_origin="RADIO"), settings={**SETTINGS, "PARTS": ("POS_VENDA", "BALCAO")})
    texts = [p.text for p in report(s).problems]
    assert "PARTS contact settings: POS_VENDA subtype 'BALCAO' is not one of BR0042's: OFICINA" in texts
    assert "traffic origin 'RADIO' is not one of BR0042's: CRM-GM, INTERNET-GM" in texts
    missing = report(state(dealership(traffic_origin=None))).problems
    assert [p.fix for p in missing] == [
        f"gmcrm contact-settings set {CODE} --traffic-origin ORIGIN   # see gmcrm contact-settings list {CODE}"
    ]


def test_an_unknown_gm_connection_stops_everything_unless_another_dealership_imports_through_it() -> None:
    r = report(state(), "Airflow does not know the connection 'gm_crm'")
    [problem] = r.problems
    assert r.every_lead_stopped and "--gm-conn-id" in problem.fix
    seen = {"BR0001": datetime(2026, 11, 30, 8, 0, tzinfo=UTC)}
    r = report(replace(state(), same_connection_imported=seen), "Airflow does not know the connection 'gm_crm'")
    assert r.problems == [] and any("BR0001 imported through it at 2026-11-30 08:00:00" in n for n in r.notes)


def test_a_dealership_not_in_gmcrm_is_one_problem_naming_the_command_that_adds_it() -> None:
    r = problems_of(DealerState(CODE, None, None, {}, {}, CAT, {}, has_dms_users=False), {}, None)
    assert r.problems == [
        Problem(
            f"{CODE} is not a gmcrm dealership: nothing of it is imported",
            f"gmcrm dealership set {CODE} --name NAME --routing DIRECT   # or DISTRIBUTION",
            LEAD_TYPES,
        )
    ]
    assert r.every_lead_stopped and "no users for BR0042" in r.notes[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("NEW_VEHICLE", "VENDA", "VEICULO_NOVO", None), []),
        (("USED_VEHICLE", "VENDA", "VEICULO_USADO", "VU"), []),
        (("NEW_VEHICLE", "VENDAS", "X", None), ["contact type 'VENDAS' is not one of BR0042's: VENDA, POS_VENDA"]),
        (("NEW_VEHICLE", "VENDA", "OFICINA", None),
         ["VENDA subtype 'OFICINA' is not one of BR0042's: VEICULO_NOVO, VEICULO_USADO"]),
        (("USED_VEHICLE", None, None, "XX"), ["department 'XX' is not one of BR0042's: VN, VU"]),
        (("SERVICE", None, None, "VN"),
         ["--department is for USED_VEHICLE leads only; SERVICE leads take the department of the user who receives "
          "them (gmcrm users list)"]),
        (("BOATS", "VENDA", None, None),
         ["lead type 'BOATS' is not one of NEW_VEHICLE, USED_VEHICLE, SERVICE, PARTS, AFTER_SALES"]),
    ],
)  # fmt: skip
def test_setting_errors_name_the_allowed_values(args: tuple[Any, ...], expected: list[str]) -> None:
    assert setting_errors(CAT, CODE, *args) == expected


def test_empty_dms_lists_say_so_instead_of_allowing_anything() -> None:
    empty = Catalogues()
    assert setting_errors(empty, CODE, "NEW_VEHICLE", "VENDA", "X") == [
        "the DMS has no contact types for BR0042 (dms.contact_type); they are created in the DMS, not by gmcrm"
    ]
    assert traffic_origin_error(empty, CODE, "CRM-GM") == (
        "the DMS has no traffic origins for BR0042 (dms.traffic_origin); they are created in the DMS, not by gmcrm"
    )
    assert traffic_origin_error(CAT, CODE, "CRM-GM") is None


def test_leads_in_quarantine_now_are_counted_with_the_command_that_lists_them() -> None:
    r = report(state(quarantined_now={"NO_CONTACT_SETTING": 10, "FIELD_TOO_LONG": 2}))
    assert r.problems == []
    assert (
        "12 lead(s) of BR0042 in quarantine now (NO_CONTACT_SETTING 10, FIELD_TOO_LONG 2): gmcrm quarantine list BR0042"
        in r.notes
    )
