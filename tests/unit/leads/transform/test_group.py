"""transform_group: the leads of many dealerships in one pass, each dealership's result (``by_dealer``) what
the transform gives for its rows alone."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
import pytest

from gmcrm.gm_mapping import DEFAULT_FILE, GmMapping, load_mapping
from gmcrm.leads.transform import (
    DELETED_COLUMNS,
    LEAD_COLUMNS,
    QUARANTINE_COLUMNS,
    ContactSetting,
    DealerContext,
    Reason,
    TransformResult,
    UserRef,
    transform_group,
)
from tests.unit.leads.transform.test_transform import GM_TYPE, LEAD_TYPES, T0, frame, lead, transform_one


@pytest.fixture(scope="module")
def mapping() -> GmMapping:
    return load_mapping(str(DEFAULT_FILE))


def settings(prefix: str, used_department: int | None = None, without: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        t: ContactSetting(f"{prefix}_{t}", f"{prefix}_SUB_{t}", used_department if t == "USED_VEHICLE" else None)
        for t in LEAD_TYPES
        if t not in without
    }


DIRECT = DealerContext(
    "BR0001",
    "DIRECT",
    "INTERNET-GM",
    {t: UserRef(10 + i, 100 + i) for i, t in enumerate(LEAD_TYPES)},
    settings("A", used_department=500),
)
DISTRIBUTION = DealerContext(
    "BR0002",
    "DISTRIBUTION",
    "CRM-GM",
    {t: UserRef(20 + i, None if t == "SERVICE" else 200 + i) for i, t in enumerate(LEAD_TYPES)},
    settings("B"),
)
NO_PARTS_USER = DealerContext(
    "BR0003",
    "DIRECT",
    None,
    {t: UserRef(30) for t in LEAD_TYPES if t != "PARTS"},
    settings("C", without=("SERVICE",)),
)
NO_ROWS = DealerContext("BR0004", "DISTRIBUTION", "X", {"PARTS": UserRef(40)}, settings("D"))
CONTEXTS = {ctx.dealer_code: ctx for ctx in (DIRECT, DISTRIBUTION, NO_PARTS_USER, NO_ROWS)}


def mixed_rows(seed: int = 1, count: int = 300) -> list[dict[str, Any]]:
    """Leads of BR0001..BR0003 interleaved, with every kind of problem, re-reads and deletions."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        code = rng.choice(["BR0001", "BR0002", "BR0003"])
        rows.append(
            lead(
                lead_id=f"006WD{i % 260:010d}AAA",  # some ids read twice (in one dealership or in two)
                dealer_code=rng.choice([code, code, code, f" {code.lower()} "]),
                lead_type=rng.choice([*GM_TYPE.values(), "Boat", " parts "]),
                first_name=rng.choice(["Ana", None, " "]),
                last_name=rng.choice(["Lima", None]),
                email=rng.choice([None, f"x{i}@y.com", "bad"]),
                mobile_phone=rng.choice([None, "11987654321", "12"]),
                document=rng.choice([None, "529.982.247-25", "11.222.333/0001-81", "123"]),
                model=rng.choice([None, "Onix", "Tracker"]),
                model_year=rng.choice(["2025", "2025", "2025", "2025/2026"]),
                comments=rng.choice([None, f"comentário {i}"]),
                modstamp=T0 + pd.Timedelta(seconds=rng.randint(0, 5)),
                is_deleted=rng.random() < 0.05,
            )
        )
    rows.append(lead(lead_id="006WD00000H4eBa", dealer_code="BR0002"))  # 15 characters
    rows.append(lead(lead_id="", dealer_code="BR0001"))
    return rows


def by_lead(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("lead_id", kind="stable").reset_index(drop=True)


def assert_same(got: TransformResult, expected: TransformResult) -> None:
    for name in ("leads", "quarantine", "deleted"):
        pd.testing.assert_frame_equal(by_lead(getattr(got, name)), by_lead(getattr(expected, name)))
    assert got.duplicates == expected.duplicates


def of_dealer(raw: pd.DataFrame, code: str) -> pd.DataFrame:
    return raw[raw["dealer_code"].str.strip().str.upper() == code]


def test_each_result_is_what_the_transform_gives_for_the_dealers_rows(mapping: GmMapping) -> None:
    raw = frame(*mixed_rows())
    results = transform_group(raw, CONTEXTS, mapping).by_dealer()
    assert list(results) == list(CONTEXTS)
    for code, ctx in CONTEXTS.items():
        assert_same(results[code], transform_one(of_dealer(raw, code), ctx, mapping))
    # The sample does exercise what it should.
    assert all(len(results[code].leads) > 20 for code in ("BR0001", "BR0002", "BR0003"))
    assert sum(r.duplicates for r in results.values()) >= 5
    assert sum(len(r.deleted) for r in results.values()) >= 5
    codes = {code for r in results.values() for code in r.quarantine["reason_code"]}
    assert {Reason.BAD_LEAD_ID, Reason.UNKNOWN_LEAD_TYPE, Reason.FIELD_TOO_LONG, Reason.NO_USER} <= codes
    assert Reason.NO_CONTACT_SETTING in codes


def test_transform_group_is_its_results_by_dealer_kept_whole(mapping: GmMapping) -> None:
    raw = frame(*mixed_rows(seed=7))
    whole = transform_group(raw, CONTEXTS, mapping)
    results = transform_group(raw, CONTEXTS, mapping).by_dealer()
    assert whole.codes == tuple(CONTEXTS)
    assert whole.duplicates == {code: r.duplicates for code, r in results.items()}
    for name in ("leads", "quarantine", "deleted"):
        glued = pd.concat(
            [
                getattr(r, name) if name == "leads" else getattr(r, name).assign(dealer_code=code)
                for code, r in results.items()
            ],
            ignore_index=True,
        )
        got = getattr(whole, name)
        assert list(got["dealer_code"]) == list(glued["dealer_code"]), name  # dealership by dealership
        pd.testing.assert_frame_equal(got, glued.astype(got.dtypes.to_dict()), check_like=True)
    assert len(whole.quarantine) > 5 and len(whole.deleted) >= 5


def test_rows_keep_their_input_order_within_a_dealership(mapping: GmMapping) -> None:
    raw = frame(*mixed_rows(seed=2))
    results = transform_group(raw, CONTEXTS, mapping).by_dealer()
    for code, ctx in CONTEXTS.items():
        expected = transform_one(of_dealer(raw, code), ctx, mapping)
        for name in ("leads", "quarantine", "deleted"):
            pd.testing.assert_frame_equal(getattr(results[code], name), getattr(expected, name))


def test_routing_users_and_settings_per_dealership(mapping: GmMapping) -> None:
    rows = [
        lead(dealer_code="BR0001", lead_type="Used Vehicle"),
        lead(dealer_code=" br0002 ", lead_type="Used Vehicle"),
        lead(dealer_code="BR0002", lead_type="Service"),
        lead(dealer_code="BR0003", lead_type="New Vehicle"),
    ]
    results = transform_group(frame(*rows), CONTEXTS, mapping).by_dealer()
    first = results["BR0001"].leads.iloc[0]
    assert (first["status"], first["assigned_user_id"], first["department_id"]) == ("IN_QUEUE", 11, 500)
    assert pd.isna(first["distribution_owner_user_id"])
    assert (first["contact_type"], first["contact_subtype"], first["traffic_origin"]) == (
        "A_USED_VEHICLE",
        "A_SUB_USED_VEHICLE",
        "INTERNET-GM",
    )
    used, service = (row for _, row in results["BR0002"].leads.iterrows())
    assert (used["dealer_code"], used["status"], used["distribution_owner_user_id"]) == (
        "BR0002",
        "AWAITING_DISTRIBUTION",
        21,
    )
    assert pd.isna(used["assigned_user_id"])
    assert used["department_id"] == 201  # no department in the settings: the user's
    assert service["distribution_owner_user_id"] == 22 and pd.isna(service["department_id"])
    assert used["traffic_origin"] == "CRM-GM" and service["contact_type"] == "B_SERVICE"
    third = results["BR0003"].leads.iloc[0]
    assert (third["assigned_user_id"], third["contact_type"]) == (30, "C_NEW_VEHICLE")
    assert pd.isna(third["traffic_origin"]) and pd.isna(third["department_id"])


def test_quarantine_names_the_right_dealership(mapping: GmMapping) -> None:
    rows = [
        lead(dealer_code="BR0001", lead_type="Parts"),
        lead(dealer_code="BR0003", lead_type="Parts"),
        lead(dealer_code="BR0003", lead_type="Service"),
    ]
    results = transform_group(frame(*rows), CONTEXTS, mapping).by_dealer()
    assert list(results["BR0001"].leads["lead_type"]) == ["PARTS"] and results["BR0001"].quarantine.empty
    held = results["BR0003"].quarantine
    assert list(held["dealer_code"]) == ["BR0003", "BR0003"]
    assert list(held["reason_code"]) == [Reason.NO_USER, Reason.NO_CONTACT_SETTING]
    assert held["reason"].iloc[0] == (
        "Dealership BR0003 has no user for Parts leads: set it with `gmcrm dealership set BR0003 --parts-user LOGIN` "
        "(logins: `gmcrm users list BR0003`) and the lead is tried again on the next run"
    )
    assert held["reason"].iloc[1] == (
        "Dealership BR0003 has no contact type and subtype for Service leads: set them with `gmcrm contact-settings "
        "set BR0003 --lead-type SERVICE --contact-type TYPE --contact-subtype SUBTYPE` and the lead is tried again on "
        "the next run"
    )


def test_a_dealership_without_rows_gets_empty_typed_frames(mapping: GmMapping) -> None:
    for raw in (frame(lead(dealer_code="BR0001")), pd.DataFrame(columns=[*LEAD_COLUMNS])):
        result = transform_group(raw, CONTEXTS, mapping).by_dealer()["BR0004"]
        assert result.leads.empty and result.quarantine.empty and result.deleted.empty
        assert result.duplicates == 0
        for got, columns in (
            (result.leads, LEAD_COLUMNS),
            (result.quarantine, QUARANTINE_COLUMNS),
            (result.deleted, DELETED_COLUMNS),
        ):
            assert {c: str(t) for c, t in got.dtypes.items()} == {c: str(t) for c, t in columns.items()}


def test_the_same_lead_in_two_dealerships_is_kept_in_each(mapping: GmMapping) -> None:
    old = lead(lead_id="006WD0000000500AAA", dealer_code="BR0001", stage="New", modstamp=T0)
    moved = {**old, "dealer_code": "BR0002", "stage": "Assigned", "modstamp": T0 + pd.Timedelta(seconds=1)}
    again = {**old, "comments": "relido", "modstamp": T0 + pd.Timedelta(seconds=2)}
    results = transform_group(frame(old, moved, again), CONTEXTS, mapping).by_dealer()
    assert list(results["BR0001"].leads["lead_comments"]) == ["relido"]
    assert results["BR0001"].duplicates == 1
    assert list(results["BR0002"].leads["gm_stage"]) == ["Assigned"]
    assert results["BR0002"].duplicates == 0


def test_rows_of_an_unknown_dealer_code_are_refused(mapping: GmMapping) -> None:
    raw = frame(lead(dealer_code="BR0001"), lead(dealer_code="BR0099"), lead(dealer_code=" "))
    with pytest.raises(ValueError, match=r"2 lead\(s\) of dealer codes that none of the 4 dealerships has: "):
        transform_group(raw, CONTEXTS, mapping).by_dealer()
    with pytest.raises(ValueError, match="'BR0099', empty"):
        transform_group(raw, CONTEXTS, mapping).by_dealer()


def test_with_one_context_other_codes_are_its_mismatches(mapping: GmMapping) -> None:
    raw = frame(lead(dealer_code="BR0001"), lead(dealer_code="BR0099"))
    result = transform_group(raw, {"BR0001": DIRECT}, mapping).by_dealer()["BR0001"]
    assert len(result.leads) == 1
    held = result.quarantine.iloc[0]
    assert (held["reason_code"], held["dealer_code"]) == (Reason.DEALER_MISMATCH, "BR0001")
    assert held["reason"].startswith("Dealer_Code__c is 'BR0099', but the lead was read for dealership BR0001")
    assert_same(result, transform_one(raw, DIRECT, mapping))


def test_contexts_are_keyed_by_their_dealer_code(mapping: GmMapping) -> None:
    raw = frame(lead())
    with pytest.raises(ValueError, match="key 'BR9' is not the dealer code"):
        transform_group(raw, {"BR9": DIRECT}, mapping).by_dealer()
    with pytest.raises(ValueError, match="differ only in case"):
        transform_group(raw, {"BR0001": DIRECT, "br0001": DealerContext("br0001", "DIRECT")}, mapping).by_dealer()
    assert transform_group(raw.iloc[0:0], {}, mapping).by_dealer() == {}


def test_results_are_independent_and_the_input_unchanged(mapping: GmMapping) -> None:
    raw = frame(*mixed_rows(seed=3, count=60))
    before = raw.copy(deep=True)
    results = transform_group(raw, CONTEXTS, mapping).by_dealer()
    pd.testing.assert_frame_equal(raw, before)
    expected = {code: r.leads.copy(deep=True) for code, r in results.items()}
    results["BR0001"].leads.loc[0, "customer_name"] = "changed"
    results["BR0004"].leads["extra"] = 1
    for code in ("BR0002", "BR0003", "BR0004"):
        got = results[code].leads.drop(columns=["extra"], errors="ignore")
        pd.testing.assert_frame_equal(got, expected[code])


def test_changing_a_result_never_changes_the_input(mapping: GmMapping) -> None:
    raw = frame(lead(), lead(dealer_code="BR0002"))  # every row loads: nothing is taken, columns pass as they are
    before = raw.copy(deep=True)
    for result in (
        transform_one(raw.iloc[:1], DIRECT, mapping),
        transform_group(raw, CONTEXTS, mapping).by_dealer()["BR0002"],
    ):
        result.leads.loc[0, "gm_modstamp"] = T0 - pd.Timedelta(days=1)
        result.leads.loc[0, "gm_created_at"] = T0 - pd.Timedelta(days=1)
        result.leads.loc[0, "email"] = "outro@example.com"
    pd.testing.assert_frame_equal(raw, before)
