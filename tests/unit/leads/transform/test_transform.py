"""The pure lead transform: GM leads -> DMS contact rows, quarantine and deletions."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pytest

from gmcrm.gm_mapping import DEFAULT_FILE, GmMapping, load_mapping
from gmcrm.leads.transform import (
    DELETED_COLUMNS,
    DESCRIPTION_HEADERS,
    FIELD_LIMITS,
    LEAD_COLUMNS,
    QUARANTINE_COLUMNS,
    ContactSetting,
    DealerContext,
    Reason,
    TransformResult,
    UserRef,
    transform_group,
)

T0 = pd.Timestamp("2026-03-02 12:00:00", tz="UTC")
LEAD_TYPES = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")
GM_TYPE = {
    "NEW_VEHICLE": "New Vehicle",
    "USED_VEHICLE": "Used Vehicle",
    "SERVICE": "Service",
    "PARTS": "Parts",
    "AFTER_SALES": "After Sales",
}
USERS = {  # lead type -> (user id, the user's department)
    "NEW_VEHICLE": (10, 100),
    "USED_VEHICLE": (10, 100),
    "PARTS": (11, 101),
    "SERVICE": (12, 102),
    "AFTER_SALES": (13, 103),
}
USED_VEHICLE_DEPARTMENT = 500


@pytest.fixture(scope="module")
def mapping() -> GmMapping:
    return load_mapping(str(DEFAULT_FILE))


def context(
    routing: str = "DIRECT",
    users: Iterable[str] = LEAD_TYPES,
    settings: Iterable[str] = LEAD_TYPES,
    used_department: int | None = USED_VEHICLE_DEPARTMENT,
) -> DealerContext:
    return DealerContext(
        dealer_code="BR0001",
        routing=routing,
        traffic_origin="INTERNET-GM",
        users={t: UserRef(*USERS[t]) for t in users},
        contact_settings={
            t: ContactSetting(
                contact_type=f"TYPE_{t}",
                contact_subtype=f"SUB_{t}",
                department_id=used_department if t == "USED_VEHICLE" else None,
            )
            for t in settings
        },
    )


_counter = iter(range(1, 10**9))


def lead(**fields: Any) -> dict[str, Any]:
    """A valid new-vehicle lead; ``fields`` override."""
    number = next(_counter)
    row: dict[str, Any] = {
        "lead_id": f"006WD{number:010d}AAA",
        "dealer_code": "BR0001",
        "lead_type": "New Vehicle",
        "stage": "New",
        "substage": None,
        "first_name": "Maria",
        "last_name": "Souza",
        "email": f"maria{number}@example.com.br",
        "phone": None,
        "mobile_phone": "+55 11 98765-4321",
        "document": None,
        "model": "Onix",
        "model_year": "2025",
        "trim": "1.0 Turbo Premier",
        "comments": None,
        "lead_source": "Website",
        "created_at": T0,
        "modstamp": T0,
        "is_deleted": False,
    }
    row.update(fields)
    row.setdefault("raw_record", {"Id": row["lead_id"], "attributes": {"type": "Opportunity"}})
    return row


def frame(*rows: dict[str, Any], typed: bool = True) -> pd.DataFrame:
    """Rows as the loader passes them (string dtypes, UTC timestamps), or as plain object columns."""
    df = pd.DataFrame(list(rows))
    if typed:
        for column in df.columns:
            if column in ("created_at", "modstamp"):
                df[column] = pd.to_datetime(df[column], utc=True)
            elif column == "is_deleted":
                df[column] = df[column].astype(bool)
            elif column != "raw_record":
                df[column] = df[column].astype("string")
    return df


def transform_one(raw: pd.DataFrame, ctx: DealerContext, mapping: GmMapping) -> TransformResult:
    """One dealership's result, through the transform's entry point."""
    return transform_group(raw, {ctx.dealer_code: ctx}, mapping).by_dealer()[ctx.dealer_code]


def run(mapping: GmMapping, *rows: dict[str, Any], ctx: DealerContext | None = None) -> TransformResult:
    return transform_one(frame(*rows), ctx or context(), mapping)


def one(result: TransformResult) -> dict[str, Any]:
    assert len(result.leads) == 1, result.quarantine.to_dict("records")
    record: dict[str, Any] = result.leads.iloc[0].to_dict()
    return record


def quarantined(result: TransformResult) -> dict[str, Any]:
    assert len(result.quarantine) == 1, result.leads.to_dict("records")
    assert result.leads.empty
    record: dict[str, Any] = result.quarantine.iloc[0].to_dict()
    return record


# ---------------------------------------------------------------------------------------------
# Shape


def test_output_columns_and_dtypes(mapping: GmMapping) -> None:
    result = run(mapping, lead(), lead(lead_type="Boat"), lead(is_deleted=True))
    assert list(result.leads.columns) == list(LEAD_COLUMNS)
    assert {c: str(t) for c, t in result.leads.dtypes.items()} == {c: str(t) for c, t in LEAD_COLUMNS.items()}
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert {c: str(t) for c, t in result.quarantine.dtypes.items()} == {
        c: str(t) for c, t in QUARANTINE_COLUMNS.items()
    }
    assert list(result.deleted.columns) == list(DELETED_COLUMNS)
    assert {c: str(t) for c, t in result.deleted.dtypes.items()} == {c: str(t) for c, t in DELETED_COLUMNS.items()}
    assert (len(result.leads), len(result.quarantine), len(result.deleted)) == (1, 1, 1)


def test_empty_input_gives_empty_typed_frames(mapping: GmMapping) -> None:
    result = transform_one(pd.DataFrame(columns=[*LEAD_COLUMNS]), context(), mapping)
    assert result.leads.empty and result.quarantine.empty and result.deleted.empty
    assert list(result.leads.columns) == list(LEAD_COLUMNS)
    assert str(result.leads["department_id"].dtype) == "Int64"
    assert list(result.deleted.columns) == list(DELETED_COLUMNS)


def test_plain_object_columns_work_too(mapping: GmMapping) -> None:
    row = lead(document="529.982.247-25", comments=float("nan"))
    typed = transform_one(frame(row), context(), mapping).leads
    plain = transform_one(frame(row, typed=False), context(), mapping).leads
    pd.testing.assert_frame_equal(typed, plain)
    assert plain["document"].iloc[0] == "52998224725"
    assert pd.isna(plain["lead_comments"].iloc[0])


def test_missing_optional_columns_read_as_empty(mapping: GmMapping) -> None:
    raw = frame(lead()).drop(columns=["substage", "comments", "trim"])
    record = one(transform_one(raw, context(), mapping))
    assert pd.isna(record["gm_substage"]) and pd.isna(record["lead_comments"])
    assert record["description"].endswith("Produto de interesse: Onix 2025")


# ---------------------------------------------------------------------------------------------
# Contact fields per lead type and routing


@pytest.mark.parametrize("lead_type", LEAD_TYPES)
def test_contact_fields_per_lead_type_direct(mapping: GmMapping, lead_type: str) -> None:
    record = one(run(mapping, lead(lead_type=GM_TYPE[lead_type])))
    user, department = USERS[lead_type]
    assert record["lead_type"] == lead_type
    assert record["contact_type"] == f"TYPE_{lead_type}"
    assert record["contact_subtype"] == f"SUB_{lead_type}"
    expected_department = USED_VEHICLE_DEPARTMENT if lead_type == "USED_VEHICLE" else department
    assert record["department_id"] == expected_department
    assert record["status"] == "IN_QUEUE"
    assert record["assigned_user_id"] == user
    assert pd.isna(record["distribution_owner_user_id"])
    assert record["traffic_origin"] == "INTERNET-GM"
    assert record["dealer_code"] == "BR0001"
    assert record["description"].split("\n")[0] == DESCRIPTION_HEADERS[lead_type]


@pytest.mark.parametrize("lead_type", LEAD_TYPES)
def test_contact_fields_per_lead_type_distribution(mapping: GmMapping, lead_type: str) -> None:
    record = one(run(mapping, lead(lead_type=GM_TYPE[lead_type]), ctx=context("DISTRIBUTION")))
    assert record["status"] == "AWAITING_DISTRIBUTION"
    assert record["distribution_owner_user_id"] == USERS[lead_type][0]
    assert pd.isna(record["assigned_user_id"])


def test_description_headers_by_type() -> None:
    assert DESCRIPTION_HEADERS["NEW_VEHICLE"] == "Contato de Vendas criado a partir do Lead CRM"
    assert DESCRIPTION_HEADERS["USED_VEHICLE"] == "Contato de Vendas criado a partir do Lead CRM"
    assert DESCRIPTION_HEADERS["PARTS"] == "Contato de Peças criado a partir do Lead GM"
    assert DESCRIPTION_HEADERS["SERVICE"] == "Contato de Oficina criado a partir do Lead GM"
    assert DESCRIPTION_HEADERS["AFTER_SALES"] == "Contato de After Sales criado a partir do Lead GM"


def test_used_vehicle_without_settings_department_takes_the_users(mapping: GmMapping) -> None:
    record = one(run(mapping, lead(lead_type="Used Vehicle"), ctx=context(used_department=None)))
    assert record["department_id"] == USERS["USED_VEHICLE"][1]


def test_only_used_vehicles_take_the_settings_department(mapping: GmMapping) -> None:
    ctx = DealerContext(
        dealer_code="BR0001",
        routing="DIRECT",
        users={"PARTS": UserRef(11, 101)},
        contact_settings={"PARTS": ContactSetting("POS_VENDA", "BALCAO", department_id=999)},
    )
    assert one(run(mapping, lead(lead_type="Parts"), ctx=ctx))["department_id"] == 101


def test_user_without_department(mapping: GmMapping) -> None:
    ctx = DealerContext(
        "BR0001", "DIRECT", None, {"SERVICE": UserRef(12)}, {"SERVICE": ContactSetting("POS_VENDA", "OFICINA")}
    )
    record = one(run(mapping, lead(lead_type="Service"), ctx=ctx))
    assert pd.isna(record["department_id"]) and pd.isna(record["traffic_origin"])
    assert record["assigned_user_id"] == 12


def test_lead_type_matches_trimmed_and_case_insensitively(mapping: GmMapping) -> None:
    result = run(mapping, lead(lead_type=" used vehicle "), lead(lead_type="PARTS"))
    assert list(result.leads["lead_type"]) == ["USED_VEHICLE", "PARTS"]


@pytest.mark.parametrize(
    ("stage", "is_open"),
    [("New", True), ("Assigned", True), ("Converted", False), ("NotConverted", False), (None, True)],
)
def test_is_open(mapping: GmMapping, stage: str | None, is_open: bool) -> None:
    record = one(run(mapping, lead(stage=stage, substage="InProgressPhone")))
    assert record["is_open"] is is_open
    assert record["gm_substage"] == "InProgressPhone"


def test_gm_columns(mapping: GmMapping) -> None:
    created = T0 - pd.Timedelta(days=2)
    record = one(run(mapping, lead(stage="Assigned", lead_source="Call Center", created_at=created)))
    assert record["gm_stage"] == "Assigned"
    assert record["lead_source"] == "Call Center"
    assert record["gm_modstamp"] == T0
    assert record["gm_created_at"] == created
    assert (record["interest_model"], record["interest_model_year"], record["interest_version"]) == (
        "Onix",
        "2025",
        "1.0 Turbo Premier",
    )


# ---------------------------------------------------------------------------------------------
# Description


def test_description_lines(mapping: GmMapping) -> None:
    record = one(run(mapping, lead(comments="Quero test drive\nsábado de manhã")))
    assert record["description"] == (
        "Contato de Vendas criado a partir do Lead CRM\n"
        "Produto de interesse: Onix 2025 1.0 Turbo Premier\n"
        "Comentários: Quero test drive\nsábado de manhã"
    )


def test_description_with_partial_or_no_interest(mapping: GmMapping) -> None:
    result = run(
        mapping,
        lead(lead_type="Parts", model="S10", model_year=None, trim=None),
        lead(lead_type="Service", model=None, model_year=None, trim=None, comments="Revisão 20 mil km"),
    )
    parts, service = result.leads["description"]
    assert parts == "Contato de Peças criado a partir do Lead GM\nProduto de interesse: S10"
    assert service == "Contato de Oficina criado a partir do Lead GM\nComentários: Revisão 20 mil km"


def test_accents_in_comments_and_names_are_kept(mapping: GmMapping) -> None:
    text = "Olá! Gostaria de saber o preço à vista — ação válida até março? Çãõ ü"
    record = one(run(mapping, lead(first_name="João", last_name="Conceição", comments=text)))
    assert record["lead_comments"] == text
    assert record["description"].endswith("Comentários: " + text)
    assert record["customer_name"] == "João Conceição"


# ---------------------------------------------------------------------------------------------
# Customer identifiers


@pytest.mark.parametrize("document", ["529.982.247-25", "52998224725", " 529982247-25 "])
def test_valid_cpf_stored_as_digits(mapping: GmMapping, document: str) -> None:
    record = one(run(mapping, lead(document=document)))
    assert record["document"] == "52998224725"
    assert record["person_type"] == "F"
    assert "Documento informado" not in record["description"]


@pytest.mark.parametrize("document", ["11.222.333/0001-81", "11222333000181"])
def test_cnpj_makes_a_company(mapping: GmMapping, document: str) -> None:
    record = one(run(mapping, lead(document=document, first_name="Ana")))
    assert record["document"] == "11222333000181"
    assert record["person_type"] == "J"


@pytest.mark.parametrize("document", ["123.456.789-00", "111.111.111-11", "11.222.333/0001-82", "12345"])
def test_invalid_document_kept_in_description_not_stored(mapping: GmMapping, document: str) -> None:
    record = one(run(mapping, lead(document=document)))
    assert pd.isna(record["document"])
    assert record["description"].endswith(f"\nDocumento informado (inválido): {document}")


@pytest.mark.parametrize(
    ("first", "last", "document", "person", "name"),
    [
        (None, "ACME Comércio Ltda", None, "J", "ACME Comércio Ltda"),
        ("Maria", None, None, "F", "Maria"),
        ("  Maria  Clara ", " da   Silva ", None, "F", "Maria Clara da Silva"),
        (None, "Souza", "529.982.247-25", "F", "Souza"),
    ],
)
def test_person_type_and_name(
    mapping: GmMapping, first: str | None, last: str | None, document: str | None, person: str, name: str
) -> None:
    record = one(run(mapping, lead(first_name=first, last_name=last, document=document)))
    assert record["person_type"] == person
    assert record["customer_name"] == name


def test_email_trimmed_case_kept_key_lowercase(mapping: GmMapping) -> None:
    record = one(run(mapping, lead(email="  Joao.Silva@Example.COM.br ")))
    assert record["email"] == "Joao.Silva@Example.COM.br"
    assert record["email_key"] == "joao.silva@example.com.br"


@pytest.mark.parametrize("email", ["joao@", "joao silva@example.com", "sem e-mail"])
def test_invalid_email_kept_but_never_matched(mapping: GmMapping, email: str) -> None:
    record = one(run(mapping, lead(email=email)))
    assert record["email"] == email
    assert pd.isna(record["email_key"])


@pytest.mark.parametrize(
    ("phone", "key"),
    [
        ("+55 11 98765-4321", "11987654321"),
        ("(11) 3456-7890", "1134567890"),
        ("11987654321", "11987654321"),
        ("011 98765-4321", "11987654321"),
        ("1234", None),
        ("98765-4321", None),
    ],
)
def test_phone_keys(mapping: GmMapping, phone: str, key: str | None) -> None:
    record = one(run(mapping, lead(phone=phone, mobile_phone=f" {phone} ")))
    assert record["phone"] == phone
    assert record["mobile_phone"] == phone
    for column in ("phone_key", "mobile_phone_key"):
        assert (None if pd.isna(record[column]) else record[column]) == key


# ---------------------------------------------------------------------------------------------
# Quarantine


def test_unknown_lead_type(mapping: GmMapping) -> None:
    record = quarantined(run(mapping, lead(lead_type="Boat")))
    assert record["reason_code"] == Reason.UNKNOWN_LEAD_TYPE
    assert record["reason"] == (
        "Lead type 'Boat' (Lead_Type__c) is not one of New Vehicle, Used Vehicle, Service, Parts, After Sales: "
        "fix the lead at GM (it loads on its next change), or map the value in gm_crm.yaml (lead.lead_types) and "
        "run `gmcrm quarantine retry BR0001 --reason UNKNOWN_LEAD_TYPE`"
    )


def test_empty_lead_type(mapping: GmMapping) -> None:
    record = quarantined(run(mapping, lead(lead_type="  ")))
    assert record["reason_code"] == Reason.UNKNOWN_LEAD_TYPE
    assert record["reason"].startswith("An empty lead type (Lead_Type__c)")


def test_no_name_and_no_way_to_reach(mapping: GmMapping) -> None:
    record = quarantined(
        run(
            mapping,
            lead(first_name=" ", last_name=None, email="nobody@", phone="123", mobile_phone=None, document="123"),
        )
    )
    assert record["reason_code"] == Reason.NO_NAME_NO_CONTACT
    assert "First_Name__c and Last_Name__c" in record["reason"]
    assert "complete the lead at GM (it loads on its next change)" in record["reason"]


@pytest.mark.parametrize(
    "contact",
    [
        {"email": "a@b.com"},
        {"phone": "(11) 3456-7890"},
        {"mobile_phone": "11987654321"},
        {"document": "529.982.247-25"},
    ],
)
def test_no_name_but_a_way_to_reach_loads_with_a_placeholder_name(mapping: GmMapping, contact: dict[str, str]) -> None:
    fields: dict[str, Any] = {"first_name": None, "last_name": None, "email": None, "mobile_phone": None}
    record = one(run(mapping, lead(lead_id="006WD0000000001AAA", **{**fields, **contact})))
    assert record["customer_name"] == "Cliente do Lead GM 006WD0000000001AAA"
    assert record["person_type"] == "F"


def test_name_without_any_way_to_reach_still_loads(mapping: GmMapping) -> None:
    record = one(run(mapping, lead(email=None, phone=None, mobile_phone="0000", document=None)))
    assert record["customer_name"] == "Maria Souza"
    assert pd.isna(record["email_key"]) and pd.isna(record["mobile_phone_key"])


@pytest.mark.parametrize(("field", "limit"), list(FIELD_LIMITS.items()))
def test_field_too_long(mapping: GmMapping, field: str, limit: int) -> None:
    at_limit = "9" * limit if field in ("phone", "mobile_phone", "document", "model_year") else "x" * limit
    assert len(run(mapping, lead(**{field: at_limit})).leads) == 1
    record = quarantined(run(mapping, lead(**{field: at_limit + "9"})))
    assert record["reason_code"] == Reason.FIELD_TOO_LONG
    api = load_mapping(str(DEFAULT_FILE)).lead_fields[field]
    assert record["reason"] == (
        f"{api} has {limit + 1} characters, more than the {limit} the DMS column holds: shorten it at GM "
        "(it loads on its next change)"
    )


def test_length_is_measured_after_trimming(mapping: GmMapping) -> None:
    assert len(run(mapping, lead(model_year="  2025  ")).leads) == 1


def test_dealer_code_of_another_dealership(mapping: GmMapping) -> None:
    record = quarantined(run(mapping, lead(dealer_code="BR0002")))
    assert record["reason_code"] == Reason.DEALER_MISMATCH
    assert record["dealer_code"] == "BR0001"
    assert "Dealer_Code__c is 'BR0002'" in record["reason"]


def test_dealer_code_compared_case_insensitively(mapping: GmMapping) -> None:
    assert one(run(mapping, lead(dealer_code=" br0001 ")))["dealer_code"] == "BR0001"


@pytest.mark.parametrize(
    "lead_id", ["006WD0000012", "006WD0000012345AAAX", "006-WD00000H4eBa", "006WD00000H4eBá", "006WD00000H4eBáYAJ", ""]
)
def test_malformed_lead_id(mapping: GmMapping, lead_id: str) -> None:
    record = quarantined(run(mapping, lead(lead_id=lead_id)))
    assert record["reason_code"] == Reason.BAD_LEAD_ID
    if lead_id:
        assert f"Id {lead_id!r} is not a Salesforce Id (15 or 18 letters and digits)" in record["reason"]
        assert record["lead_id"] == lead_id
    else:
        assert record["reason"].startswith("Id is empty, not a Salesforce Id")


def test_15_character_lead_id_becomes_18(mapping: GmMapping) -> None:
    assert one(run(mapping, lead(lead_id=" 006WD00000H4eBa ")))["lead_id"] == "006WD00000H4eBaYAJ"


@pytest.mark.parametrize(
    ("lead_type", "option"),
    [
        ("Parts", "--parts-user"),
        ("New Vehicle", "--vehicles-user"),
        ("Used Vehicle", "--vehicles-user"),
        ("Service", "--service-user"),
        ("After Sales", "--after-sales-user"),
    ],
)
def test_no_receiving_user(mapping: GmMapping, lead_type: str, option: str) -> None:
    vehicles = ("NEW_VEHICLE", "USED_VEHICLE")
    unserved = (
        vehicles if lead_type in ("New Vehicle", "Used Vehicle") else ({v: k for k, v in GM_TYPE.items()}[lead_type],)
    )
    ctx = context(users=[t for t in LEAD_TYPES if t not in unserved])
    record = quarantined(run(mapping, lead(lead_type=lead_type), ctx=ctx))
    assert record["reason_code"] == Reason.NO_USER
    assert record["reason"] == (
        f"Dealership BR0001 has no user for {lead_type} leads: set it with `gmcrm dealership set BR0001 {option} "
        "LOGIN` (logins: `gmcrm users list BR0001`) and the lead is tried again on the next run"
    )


def test_no_contact_setting(mapping: GmMapping) -> None:
    ctx = context(settings=[t for t in LEAD_TYPES if t != "SERVICE"])
    result = run(mapping, lead(lead_type="Service"), lead(lead_type="Parts"), ctx=ctx)
    assert list(result.leads["lead_type"]) == ["PARTS"]
    record = result.quarantine.iloc[0]
    assert record["reason_code"] == Reason.NO_CONTACT_SETTING
    assert record["reason"] == (
        "Dealership BR0001 has no contact type and subtype for Service leads: set them with `gmcrm contact-settings "
        "set BR0001 --lead-type SERVICE --contact-type TYPE --contact-subtype SUBTYPE` and the lead is tried again on "
        "the next run"
    )


def test_no_contact_setting_for_used_vehicles_names_the_department(mapping: GmMapping) -> None:
    ctx = context(settings=[t for t in LEAD_TYPES if t != "USED_VEHICLE"])
    record = quarantined(run(mapping, lead(lead_type="Used Vehicle"), ctx=ctx))
    assert record["reason_code"] == Reason.NO_CONTACT_SETTING
    assert (
        "`gmcrm contact-settings set BR0001 --lead-type USED_VEHICLE --contact-type TYPE --contact-subtype SUBTYPE "
        "--department DEPARTMENT` (departments: `gmcrm departments list BR0001`)" in record["reason"]
    )


def test_all_problems_in_one_reason_first_code_wins(mapping: GmMapping) -> None:
    record = quarantined(
        run(mapping, lead(lead_type="Boat", dealer_code="BR0009", model_year="2025/2026", lead_source="x" * 41))
    )
    assert record["reason_code"] == Reason.DEALER_MISMATCH
    parts = record["reason"].split("; ")
    assert len(parts) == 4
    assert parts[0].startswith("Dealer_Code__c is 'BR0009'")
    assert parts[1].startswith("Lead type 'Boat'")
    assert parts[2].startswith("Model_Year__c has 9 characters")
    assert parts[3].startswith("Lead_Source__c has 41 characters")


def test_reasons_hold_no_personal_data(mapping: GmMapping) -> None:
    row = lead(
        lead_type="Boat", last_name="Conceição" * 10, email="joao.secreto@example.com", document="529.982.247-25"
    )
    reason = quarantined(run(mapping, row))["reason"]
    for secret in ("Conceição", "joao.secreto", "52998224725", "529.982.247-25", "98765"):
        assert secret not in reason


def test_quarantine_keeps_raw_record_and_rest_of_batch_loads(mapping: GmMapping) -> None:
    raw = {"Id": "006WD0000000009AAA", "Lead_Type__c": "Boat", "Comments__c": "ação"}
    good, bad = lead(), lead(lead_id="006WD0000000009AAA", lead_type="Boat", raw_record=raw)
    result = run(mapping, good, bad, lead())
    assert len(result.leads) == 2 and good["lead_id"] in set(result.leads["lead_id"])
    record = quarantined_row(result, "006WD0000000009AAA")
    assert record["raw_record"] == raw
    assert record["gm_modstamp"] == T0
    assert record["dealer_code"] == "BR0001"


def quarantined_row(result: TransformResult, lead_id: str) -> dict[str, Any]:
    rows = result.quarantine[result.quarantine["lead_id"] == lead_id]
    assert len(rows) == 1
    record: dict[str, Any] = rows.iloc[0].to_dict()
    return record


def test_quarantine_without_raw_record_builds_one(mapping: GmMapping) -> None:
    raw = frame(lead(lead_type="Boat")).drop(columns=["raw_record"])
    record = transform_one(raw, context(), mapping).quarantine.iloc[0].to_dict()
    assert record["raw_record"]["Lead_Type__c"] == "Boat"
    assert record["raw_record"]["SystemModstamp"] == T0.isoformat()
    assert record["raw_record"]["IsDeleted"] is False


# ---------------------------------------------------------------------------------------------
# Re-reads and deletions


def test_duplicates_keep_the_newest_whatever_the_order(mapping: GmMapping) -> None:
    old = lead(lead_id="006WD0000000100AAA", stage="New", modstamp=T0)
    new = {**old, "stage": "Assigned", "modstamp": T0 + pd.Timedelta(seconds=5)}
    newer_first = run(mapping, new, old, lead())
    older_first = run(mapping, old, lead(), new)
    for result in (newer_first, older_first):
        row = result.leads[result.leads["lead_id"] == "006WD0000000100AAA"]
        assert list(row["gm_stage"]) == ["Assigned"]
        assert len(result.leads) == 2
        assert result.duplicates == 1


def test_duplicates_same_stamp_keep_the_last_read(mapping: GmMapping) -> None:
    first = lead(lead_id="006WD0000000101AAA", comments="primeira leitura")
    second = {**first, "comments": "segunda leitura"}
    assert one(run(mapping, first, second))["lead_comments"] == "segunda leitura"


def test_15_and_18_character_forms_are_one_lead(mapping: GmMapping) -> None:
    short = lead(lead_id="006WD00000H4eBa", stage="New", modstamp=T0)
    long = lead(lead_id="006WD00000H4eBaYAJ", stage="Assigned", modstamp=T0 + pd.Timedelta(seconds=1))
    record = one(run(mapping, short, long))
    assert (record["lead_id"], record["gm_stage"]) == ("006WD00000H4eBaYAJ", "Assigned")


def test_newer_bad_version_replaces_older_good_one(mapping: GmMapping) -> None:
    good = lead(lead_id="006WD0000000102AAA", modstamp=T0)
    bad = {**good, "lead_type": "Boat", "modstamp": T0 + pd.Timedelta(seconds=1)}
    result = run(mapping, good, bad)
    assert result.leads.empty
    assert quarantined_row(result, "006WD0000000102AAA")["reason_code"] == Reason.UNKNOWN_LEAD_TYPE


def test_deleted_leads_are_split_off(mapping: GmMapping) -> None:
    gone = lead(lead_id="006WD0000000200AAA", is_deleted=True, modstamp=T0 + pd.Timedelta(minutes=1))
    gone_bad = lead(lead_id="006WD0000000201AAA", is_deleted=True, lead_type="Boat")
    result = run(mapping, lead(), gone, gone_bad)
    assert len(result.leads) == 1
    assert result.quarantine.empty  # a deleted lead is never quarantined
    assert sorted(result.deleted["lead_id"]) == ["006WD0000000200AAA", "006WD0000000201AAA"]
    deleted = result.deleted.set_index("lead_id")["gm_modstamp"]
    assert deleted["006WD0000000200AAA"] == T0 + pd.Timedelta(minutes=1)


def test_deletion_is_decided_by_the_newest_row(mapping: GmMapping) -> None:
    alive = lead(lead_id="006WD0000000202AAA", modstamp=T0)
    deleted = {**alive, "is_deleted": True, "modstamp": T0 + pd.Timedelta(seconds=1)}
    undeleted = {**alive, "modstamp": T0 + pd.Timedelta(seconds=2)}
    first = run(mapping, alive, deleted)
    assert first.leads.empty and list(first.deleted["lead_id"]) == ["006WD0000000202AAA"]
    second = run(mapping, deleted, undeleted)
    assert second.deleted.empty and list(second.leads["lead_id"]) == ["006WD0000000202AAA"]


def test_is_deleted_missing_means_not_deleted(mapping: GmMapping) -> None:
    raw = frame(lead(), typed=False)
    raw["is_deleted"] = [None]
    assert len(transform_one(raw, context(), mapping).leads) == 1


# ---------------------------------------------------------------------------------------------
# Context


def test_context_from_dicts() -> None:
    ctx = DealerContext.from_dicts(
        {
            "dealer_code": "BR0002",
            "routing": "DISTRIBUTION",
            "traffic_origin": "CRM-GM",
            "vehicles_user_id": 7,
            "parts_user_id": 8,
            "service_user_id": None,
            "after_sales_user_id": 9,
        },
        {7: 70, 8: None},
        [
            {
                "dealer_code": "BR0002",
                "lead_type": "USED_VEHICLE",
                "contact_type": "VENDA",
                "contact_subtype": "VU",
                "department_id": 71,
            },
            {
                "dealer_code": "BR0002",
                "lead_type": "PARTS",
                "contact_type": "PV",
                "contact_subtype": "BALCAO",
                "department_id": None,
            },
            {"dealer_code": "BR0003", "lead_type": "SERVICE", "contact_type": "PV", "contact_subtype": "OFI"},
        ],
    )
    assert ctx.routing == "DISTRIBUTION" and ctx.traffic_origin == "CRM-GM"
    assert ctx.users == {
        "NEW_VEHICLE": UserRef(7, 70),
        "USED_VEHICLE": UserRef(7, 70),
        "PARTS": UserRef(8, None),
        "AFTER_SALES": UserRef(9, None),
    }
    assert ctx.contact_settings == {
        "USED_VEHICLE": ContactSetting("VENDA", "VU", 71),
        "PARTS": ContactSetting("PV", "BALCAO", None),
    }


def test_context_is_validated_and_frozen() -> None:
    with pytest.raises(ValueError, match="routing"):
        DealerContext("BR0001", "SOMETIMES")
    with pytest.raises(ValueError, match="BOATS"):
        DealerContext("BR0001", "DIRECT", users={"BOATS": UserRef(1)})
    ctx = context()
    with pytest.raises(TypeError):
        ctx.users["PARTS"] = UserRef(99)  # type: ignore[index]


def test_transform_does_not_change_its_input(mapping: GmMapping) -> None:
    raw = frame(lead(document="123"), lead(lead_type="Boat"), lead(is_deleted=True))
    before = raw.copy(deep=True)
    transform_one(raw, context(), mapping)
    pd.testing.assert_frame_equal(raw, before)


def test_many_rows_consistent_with_row_by_row(mapping: GmMapping) -> None:
    rng = random.Random(3)
    rows = []
    for i in range(400):
        rows.append(
            lead(
                lead_id=f"006WD{i % 350:010d}AAA",
                lead_type=rng.choice([*GM_TYPE.values(), "Boat"]),
                first_name=rng.choice(["Ana", None, " "]),
                last_name=rng.choice(["Lima", None]),
                email=rng.choice([None, f"x{i}@y.com", "bad"]),
                mobile_phone=rng.choice([None, "11987654321", "12"]),
                document=rng.choice([None, "529.982.247-25", "123"]),
                model=rng.choice([None, "Onix", "Tracker"]),
                comments=rng.choice([None, f"comentário {i}"]),
                modstamp=T0 + pd.Timedelta(seconds=rng.randint(0, 5)),
                is_deleted=rng.random() < 0.05,
            )
        )
    batch = run(mapping, *rows)
    assert len(batch.leads) + len(batch.quarantine) + len(batch.deleted) + batch.duplicates == len(rows)
    by_id = {r["lead_id"]: r for r in batch.leads.to_dict("records")}
    kept = frame(*rows).reset_index()
    kept = kept.sort_values(["modstamp", "index"], kind="stable").drop_duplicates("lead_id", keep="last")
    for row in kept.to_dict("records"):
        single = transform_one(frame({k: v for k, v in row.items() if k != "index"}), context(), mapping)
        if row["lead_id"] in by_id:
            expected = single.leads.iloc[0].to_dict()
            got = by_id[row["lead_id"]]
            assert {k: (None if pd.isna(v) else v) for k, v in got.items()} == {
                k: (None if pd.isna(v) else v) for k, v in expected.items()
            }
        else:
            assert single.leads.empty


def test_string_columns_are_nullable_string_arrays(mapping: GmMapping) -> None:
    result = run(mapping, lead(email="ANA@EXAMPLE.COM", phone=None), lead(email=None, phone="(11) 3456-7890"))
    assert isinstance(result.leads["email"].array, pd.arrays.StringArray)
    assert list(result.leads["email_key"].fillna("-")) == ["ana@example.com", "-"]
    assert result.leads["phone_key"].isna().tolist() == [True, False]
    assert result.leads["email_key"].iloc[1] is pd.NA
