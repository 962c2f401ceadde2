"""Who changed a record, as Salesforce records it: CreatedById, LastModifiedById, LastModifiedDate.

The integration tells its own writes at GM (the events GM applies to the lead) from GM's own changes by
the last modifier, so the sandbox must set these as Salesforce does: the signed-in user of the request
that changed the record, and GM's users for what the admin API (playing GM's people) does.
"""

from __future__ import annotations

from typing import Any

import requests
from simple_salesforce import Salesforce, format_soql

from gmcrm_sandbox.access import GM_USER_ID, USER_ID
from gmcrm_sandbox.admin import AdminClient
from gmcrm_sandbox.process import SandboxProcess

FIELDS = "Id, StageName, CreatedById, LastModifiedById, LastModifiedDate, SystemModstamp"


PATH = "composite/sobjects/Lead_Event__c/DMS_Event_Id__c"


def event(dms_id: str, lead: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A valid contact event (a DISPOSITION_UPDATE) for ``lead``."""
    return {
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
        **fields,
    }


def send(sf: Salesforce, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = sf.restful(PATH, method="PATCH", json={"allOrNone": False, "records": records})
    return result


def _lead(sf: Salesforce, lead_id: str) -> dict[str, object]:
    records = sf.query(format_soql(f"SELECT {FIELDS} FROM Opportunity WHERE Id = {{}}", lead_id))["records"]
    assert len(records) == 1
    return dict(records[0])


def test_user_ids_are_salesforce_user_ids() -> None:
    for user in (USER_ID, GM_USER_ID):
        assert len(user) == 18 and user.startswith("005")
    assert USER_ID != GM_USER_ID


def test_the_token_answer_and_userinfo_name_the_integration_user(
    sandbox: SandboxProcess, admin: AdminClient, http: requests.Session
) -> None:
    answer = http.post(
        f"{sandbox.instance_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
        timeout=30,
    ).json()
    # Salesforce's identity URL: https://host/id/<orgId>/<userId>.
    assert answer["id"].rsplit("/", 1)[-1] == USER_ID
    info = http.get(
        f"{sandbox.instance_url}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {answer['access_token']}"},
        timeout=30,
    )
    assert info.status_code == 200
    assert info.json()["user_id"] == USER_ID
    refused = http.get(
        f"{sandbox.instance_url}/services/oauth2/userinfo", headers={"Authorization": "Bearer nope"}, timeout=30
    )
    assert refused.status_code == 403
    # Asking who one is uses no API request.
    assert admin.calls()["api_usage"]["used"] == 0


def test_gm_side_leads_and_changes_carry_gm_s_user(sf: Salesforce, admin: AdminClient) -> None:
    generated = admin.leads(dealer_code="BR0001")[0]
    assert generated["CreatedById"] == generated["LastModifiedById"] == GM_USER_ID
    assert generated["LastModifiedDate"] == generated["SystemModstamp"]
    created = admin.create_lead(Dealer_Code__c="BR0001", Lead_Type__c="Parts", Last_Name__c="Souza")
    assert created["CreatedById"] == created["LastModifiedById"] == GM_USER_ID
    admin.set_clock(now="2026-11-30T10:00:00Z")
    changed = admin.update_lead(created["Id"], Comments__c="ligar depois das 18h")
    assert changed["LastModifiedById"] == GM_USER_ID
    assert changed["LastModifiedDate"] == changed["SystemModstamp"] == "2026-11-30T10:00:00.000+0000"


def test_an_event_gm_applies_makes_the_integration_user_the_lead_s_last_modifier(
    sf: Salesforce, admin: AdminClient
) -> None:
    lead = admin.leads(dealer_code="BR0002")[0]
    admin.set_clock(now="2026-11-30T11:00:00Z")
    assert send(sf, [event("BR0002-1", lead, Stage__c="Experiencing", Substage__c="InProgressPhone")])[0]["success"]
    after = _lead(sf, lead["Id"])
    assert after["LastModifiedById"] == USER_ID
    assert after["CreatedById"] == GM_USER_ID
    assert after["LastModifiedDate"] == after["SystemModstamp"] == "2026-11-30T11:00:00.000+0000"
    stored = sf.query(
        format_soql("SELECT Id, CreatedById, LastModifiedById FROM Lead_Event__c WHERE Lead__c = {}", lead["Id"])
    )["records"]
    assert [(r["CreatedById"], r["LastModifiedById"]) for r in stored] == [(USER_ID, USER_ID)]


def test_soql_filters_on_the_last_modifier(sf: Salesforce, admin: AdminClient) -> None:
    leads = admin.leads(dealer_code="BR0003")
    touched = leads[:3]
    send(sf, [event(f"BR0003-{i}", lead) for i, lead in enumerate(touched)])
    mine = format_soql(
        "SELECT Id FROM Opportunity WHERE Dealer_Code__c = {} AND LastModifiedById = {}", "BR0003", USER_ID
    )
    others = format_soql(
        "SELECT Id FROM Opportunity WHERE Dealer_Code__c = {} AND LastModifiedById NOT IN {}", "BR0003", [USER_ID]
    )
    assert {r["Id"] for r in sf.query_all(mine)["records"]} == {lead["Id"] for lead in touched}
    assert len(sf.query_all(others)["records"]) == len(leads) - 3
    # A 15-character user id is the same user, as in Salesforce.
    short = format_soql("SELECT Id FROM Opportunity WHERE LastModifiedById != {}", USER_ID[:15])
    assert len(sf.query_all(short)["records"]) == admin.health()["leads"] - 3


def test_changes_counts_leads_changed_by_gm_and_by_the_api(sf: Salesforce, admin: AdminClient) -> None:
    admin.set_clock(now="2030-01-01T00:00:00Z")
    leads = admin.leads(dealer_code="BR0001")
    send(sf, [event(f"BR0001-{i}", lead) for i, lead in enumerate(leads[:4])])
    admin.update_lead(leads[0]["Id"], Comments__c="GM changed it after the event")
    admin.update_lead(leads[10]["Id"], Comments__c="GM only")
    counts = admin.changes(since="2030-01-01T00:00:00Z")
    assert counts["leads_changed_by_api"] == 4
    assert counts["leads_changed_by_gm"] == 2
    assert counts["leads_changed_by_both"] == 1
    assert counts["api_user_id"] == USER_ID and counts["gm_user_id"] == GM_USER_ID
    assert admin.changes(since="2030-01-01T00:00:01Z")["leads_changed_by_api"] == 0
