"""Lead events through sObject Collections upsert, as the integration sends them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from gmcrm_sandbox import ids
from gmcrm_sandbox.admin import AdminClient
from gmcrm_sandbox.process import SandboxProcess

PATH = "composite/sobjects/Lead_Event__c/DMS_Event_Id__c"


def event(dms_id: str, lead: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A valid CRE event for ``lead`` unless ``fields`` say otherwise (a value of None drops the field)."""
    record: dict[str, Any] = {
        "attributes": {"type": "Lead_Event__c"},
        "DMS_Event_Id__c": dms_id,
        "Lead__c": lead["Id"],
        "Dealer_Code__c": lead["Dealer_Code__c"],
        "Trigger_Code__c": "CRE",
        "Communication__c": "DISPOSITION_UPDATE",
        "Stage__c": "Experiencing",
        "Substage__c": "InProgressPhone",
        "Event_Time__c": "2026-11-27T10:00:00.000+0000",
        "Contact_Channel__c": "Phone",
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def send(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False) -> list[dict[str, Any]]:
    result = sf.restful(PATH, method="PATCH", json={"allOrNone": all_or_none, "records": records})
    assert isinstance(result, list)
    return result


@pytest.fixture
def lead(admin: AdminClient) -> dict[str, Any]:
    return admin.leads(dealer_code="BR0001")[0]


def codes(results: list[dict[str, Any]]) -> list[str | None]:
    return [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]


def test_mixed_per_record_results(sf: Salesforce, admin: AdminClient, lead: dict[str, Any]) -> None:
    deleted = admin.leads(dealer_code="BR0002")[0]
    admin.delete_lead(deleted["Id"])
    other = admin.leads(dealer_code="BR0003")[0]
    unknown = {"Id": ids.make_id("006", "ZZ", 1), "Dealer_Code__c": "BR0001"}
    records = [
        event("BR0001-1", unknown),
        event("BR0002-2", deleted),
        event("BR0001-3", lead, Stage__c="Negotiating"),
        event("BR0001-4", lead, Trigger_Code__c=None),
        event("BR0003-5", other, Dealer_Code__c="BR0001"),
        event("BR0001-6", lead),
        event("BR0001-7", lead, Contact_Channel__c="Fax"),
    ]
    before = admin.calls()
    results = send(sf, records)

    assert codes(results) == [
        "INVALID_CROSS_REFERENCE_KEY",
        "ENTITY_IS_DELETED",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "REQUIRED_FIELD_MISSING",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        None,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert results[2]["errors"][0]["fields"] == ["Stage__c"]
    assert results[3]["errors"][0] == {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Trigger_Code__c]",
        "fields": ["Trigger_Code__c"],
    }
    assert results[6]["errors"][0]["fields"] == ["Contact_Channel__c"]
    assert all(r["success"] is False and r["id"] is None for i, r in enumerate(results) if i != 5)
    ok = results[5]
    assert ok["success"] is True and ok["created"] is True and ok["errors"] == []
    assert ok["id"].startswith("a0X") and ids.to_18(ok["id"]) == ok["id"]

    after = admin.calls()
    assert after["collection_upsert"] - before["collection_upsert"] == 1
    assert after["api_usage"]["used"] - before["api_usage"]["used"] == 1
    assert [e["DMS_Event_Id__c"] for e in admin.events()] == ["BR0001-6"]
    assert len(admin.receipts()) == 7
    assert admin.get_lead(lead["Id"])["StageName"] == "Experiencing"


def test_a_lead_whose_dealer_code_carries_a_no_break_space_takes_that_dealerships_events(
    sf: Salesforce, admin: AdminClient, lead: dict[str, Any]
) -> None:
    fields = {k: v for k, v in lead.items() if k not in ("Id", "attributes")}
    odd = admin.create_lead(**{**fields, "Dealer_Code__c": "br0001\u00a0"})
    results = send(
        sf, [event("BR0001-1", odd, Dealer_Code__c="BR0001"), event("BR0001-2", odd, Dealer_Code__c="BR0002")]
    )
    assert codes(results) == [None, "INSUFFICIENT_ACCESS_OR_READONLY"]


def test_created_then_updated_on_resend_and_not_reapplied(sf: Salesforce, admin: AdminClient, lead: dict) -> None:
    first = send(sf, [event("BR0001-10", lead)])
    second = send(sf, [event("BR0001-11", lead, Trigger_Code__c="TDA", Stage__c="Deciding",
                             Substage__c="TestDriveScheduled", Contact_Channel__c=None)])  # fmt: skip
    assert first[0]["created"] is True and second[0]["created"] is True
    assert admin.get_lead(lead["Id"])["Substage__c"] == "TestDriveScheduled"

    resent = send(sf, [event("BR0001-10", lead)])
    assert resent[0] == {"id": first[0]["id"], "success": True, "errors": [], "created": False}
    after = admin.get_lead(lead["Id"])
    assert (after["StageName"], after["Substage__c"]) == ("Deciding", "TestDriveScheduled")

    events = admin.events(lead_id=lead["Id"])
    assert [(e["DMS_Event_Id__c"], e["receipts"], e["applied"]) for e in events] == [
        ("BR0001-10", 2, True),
        ("BR0001-11", 1, True),
    ]
    receipts = admin.receipts(lead_id=lead["Id"])
    assert [(r["dms_event_id"], r["created"]) for r in receipts] == [
        ("BR0001-10", True),
        ("BR0001-11", True),
        ("BR0001-10", False),
    ]


def test_events_applied_in_receipt_order(sf: Salesforce, admin: AdminClient, lead: dict[str, Any]) -> None:
    admin.set_clock("2026-11-27T12:00:00Z")
    steps = [
        ("LIM", "New", None),
        ("LAT", "Assigned", None),
        ("CRE", "Experiencing", "InProgressEmail"),
        ("TDA", "Deciding", "TestDriveScheduled"),
        ("VPE", "NotConverted", "BoughtElsewhere"),
    ]
    records = [
        event(f"BR0001-{i}", lead, Trigger_Code__c=code, Stage__c=stage, Substage__c=sub, Contact_Channel__c=None)
        for i, (code, stage, sub) in enumerate(steps, start=20)
    ]
    records[-1]["Lost_Reason__c"] = "BoughtElsewhere"
    # LIM and LAT carry no substage at all: accepted (see the sandbox's choices).
    assert "Substage__c" not in records[0]
    results = send(sf, records[:2])
    assert [r["success"] for r in results] == [True, True]
    assert admin.get_lead(lead["Id"])["Substage__c"] is None
    assert all(r["success"] for r in send(sf, records[2:]))

    after = admin.get_lead(lead["Id"])
    assert (after["StageName"], after["Substage__c"]) == ("NotConverted", "BoughtElsewhere")
    assert after["SystemModstamp"] == "2026-11-27T12:00:00.000+0000"
    stored = admin.events(lead_id=lead["Id"])
    assert [e["Trigger_Code__c"] for e in stored] == ["LIM", "LAT", "CRE", "TDA", "VPE"]
    assert stored[-1]["Lost_Reason__c"] == "BoughtElsewhere"
    assert stored[0]["Event_Time__c"] == "2026-11-27T10:00:00.000+0000"


def test_create_communications_are_stored_not_applied(sf: Salesforce, admin: AdminClient, lead: dict) -> None:
    before = admin.get_lead(lead["Id"])
    ima = event(
        "BR0001-30",
        lead,
        Trigger_Code__c="IMA",
        Communication__c="CREATE_MODEL_OF_INTEREST",
        Stage__c="WithoutStage",
        Substage__c="WithoutSubstage",
        Contact_Channel__c=None,
        Vehicle_Model__c="Tracker",
        Vehicle_Model_Year__c=2027,
        Vehicle_Trim__c="1.2 Turbo Premier",
    )
    vta = event(
        "BR0001-31",
        lead,
        Trigger_Code__c="VTA",
        Communication__c="CREATE_TRADE_IN_DETAILS",
        Stage__c="WithoutStage",
        Substage__c="WithoutSubstage",
        Contact_Channel__c=None,
        Trade_In_Model__c="Onix",
        Trade_In_Mileage__c=45210,
        Trade_In_Plate__c="ABC1D23",
        Trade_In_Value__c="58000.50",
    )
    bad = event("BR0001-32", lead, Stage__c="WithoutStage", Substage__c="WithoutSubstage")
    results = send(sf, [ima, vta, bad])
    assert codes(results) == [None, None, "FIELD_CUSTOM_VALIDATION_EXCEPTION"]
    after = admin.get_lead(lead["Id"])
    assert (after["StageName"], after["SystemModstamp"]) == (before["StageName"], before["SystemModstamp"])
    stored = {e["DMS_Event_Id__c"]: e for e in admin.events(lead_id=lead["Id"])}
    assert stored["BR0001-30"]["applied"] is False
    assert stored["BR0001-30"]["Vehicle_Model_Year__c"] == "2027"  # a number for a text field becomes text
    assert stored["BR0001-31"]["Trade_In_Mileage__c"] == 45210.0
    assert stored["BR0001-31"]["Trade_In_Value__c"] == 58000.5
    got = sf.Lead_Event__c.get(results[1]["id"])
    assert got["Trade_In_Plate__c"] == "ABC1D23" and got["Lead__c"] == lead["Id"]
    assert sf.Lead_Event__c.get_by_custom_id("DMS_Event_Id__c", "BR0001-30")["Id"] == results[0]["id"]
    queried = sf.query_all(f"SELECT DMS_Event_Id__c FROM Lead_Event__c WHERE Lead__c = '{lead['Id']}'")
    assert sorted(r["DMS_Event_Id__c"] for r in queried["records"]) == ["BR0001-30", "BR0001-31"]


def test_more_than_200_records_is_a_400(sf: Salesforce, admin: AdminClient, lead: dict[str, Any]) -> None:
    records = [event(f"BR0001-{i}", lead) for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as err:
        send(sf, records)
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert admin.events() == []
    assert len(send(sf, records[:200])) == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"allOrNone": False, "records": [{"attributes": {"type": "Lead_Event__c"}, "Nope__c": 1}]}, "INVALID_FIELD"),
        ({"allOrNone": False, "records": [{"DMS_Event_Id__c": "x"}]}, "INVALID_TYPE"),
        ({"allOrNone": False, "records": {"not": "a list"}}, "JSON_PARSER_ERROR"),
        ({"allOrNone": "no", "records": []}, "JSON_PARSER_ERROR"),
        (
            {"records": [{"attributes": {"type": "Lead_Event__c"}, "Event_Time__c": "yesterday"}]},
            "JSON_PARSER_ERROR",
        ),
    ],
)
def test_malformed_bodies(sf: Salesforce, admin: AdminClient, body: dict[str, Any], code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful(PATH, method="PATCH", json=body)
    assert err.value.content[0]["errorCode"] == code
    assert admin.receipts() == []


def test_body_that_is_not_json(sandbox: SandboxProcess, sf: Salesforce, http: requests.Session) -> None:
    response = http.patch(
        f"{sandbox.instance_url}/services/data/v59.0/{PATH}",
        data="{not json",
        headers={"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_wrong_external_id_field(sf: Salesforce, lead: dict[str, Any]) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects/Lead_Event__c/Lead__c", method="PATCH", json={"records": [event("x", lead)]})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_duplicate_ids_in_one_request(sf: Salesforce, admin: AdminClient, lead: dict[str, Any]) -> None:
    results = send(sf, [event("BR0001-40", lead), event("BR0001-40", lead), event("BR0001-41", lead)])
    assert codes(results) == ["DUPLICATE_VALUE", "DUPLICATE_VALUE", None]


def test_string_too_long_and_readonly_fields(sf: Salesforce, lead: dict[str, Any]) -> None:
    results = send(
        sf,
        [
            event("BR0001-50", lead, Trigger_Code__c="TOOLONG"),
            event("BR0001-51", lead, SystemModstamp="2026-11-27T10:00:00Z"),
        ],
    )
    assert codes(results) == ["STRING_TOO_LONG", "INVALID_FIELD_FOR_INSERT_UPDATE"]
    assert results[0]["errors"][0]["fields"] == ["Trigger_Code__c"]


def test_all_or_none_rolls_everything_back(sf: Salesforce, admin: AdminClient, lead: dict[str, Any]) -> None:
    results = send(sf, [event("BR0001-60", lead), event("BR0001-61", lead, Stage__c="Nope")], all_or_none=True)
    assert codes(results) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    assert admin.events() == []


def test_json_is_utf8(sandbox: SandboxProcess, sf: Salesforce, http: requests.Session, lead: dict) -> None:
    record = event("BR0001-70", lead, Salesperson__c="João Conceição")
    response = http.patch(
        f"{sandbox.instance_url}/services/data/v59.0/{PATH}",
        data=json.dumps({"records": [record]}, ensure_ascii=False).encode("utf-8"),
        headers={"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()[0]["success"] is True
    assert sf.Lead_Event__c.get(response.json()[0]["id"])["Salesperson__c"] == "João Conceição"


def test_single_upsert_on_the_external_id(sf: Salesforce, admin: AdminClient, lead: dict[str, Any]) -> None:
    fields = {k: v for k, v in event("BR0001-80", lead).items() if k not in ("attributes", "DMS_Event_Id__c")}
    assert sf.Lead_Event__c.upsert("DMS_Event_Id__c/BR0001-80", fields) == 201
    assert sf.Lead_Event__c.upsert("DMS_Event_Id__c/BR0001-80", fields) == 200
    assert admin.events()[0]["receipts"] == 2
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead_Event__c.upsert("DMS_Event_Id__c/BR0001-81", {**fields, "Stage__c": "Nope"})
    assert err.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert err.value.content[0]["fields"] == ["Stage__c"]
    assert admin.calls()["other"] == 3


def test_unknown_resource_and_method(sandbox: SandboxProcess, sf: Salesforce, http: requests.Session) -> None:
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    base = f"{sandbox.instance_url}/services/data/v59.0"
    missing = http.get(f"{base}/analytics/reports", headers=headers, timeout=10)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    wrong = http.post(f"{base}/query/", headers=headers, timeout=10)
    assert wrong.status_code == 405 and wrong.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_concurrent_clients(sandbox: SandboxProcess, sf: Salesforce, admin: AdminClient) -> None:
    """Several clients at once (each with its own session): nothing lost, every call counted once."""
    leads = admin.leads(dealer_code="BR0003")

    def client(n: int) -> int:
        session = sandbox.session()
        own = Salesforce(instance_url=sandbox.instance_url, session_id=sf.session_id, session=session)
        sent = 0
        for call in range(5):
            records = [event(f"BR0003-{n}-{call}-{i}", leads[i]) for i in range(20)]
            sent += sum(r["success"] for r in send(own, records))
            own.query("SELECT Id FROM Lead_Event__c LIMIT 5")
        session.close()
        return sent

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert sum(pool.map(client, range(6))) == 600
    assert len(admin.events()) == 600
    calls = admin.calls()
    assert (calls["collection_upsert"], calls["query"]) == (30, 30)
    assert calls["api_usage"]["used"] == 60
