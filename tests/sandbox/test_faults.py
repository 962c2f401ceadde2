"""Injected faults, seen through unmodified simple-salesforce."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceGeneralError

from gmcrm_sandbox.admin import AdminClient, AdminError
from gmcrm_sandbox.process import SandboxProcess

QUERY = "SELECT Id FROM Opportunity LIMIT 1"
PATH = "composite/sobjects/Lead_Event__c/DMS_Event_Id__c"


def event(dms_id: str, lead: dict[str, Any]) -> dict[str, Any]:
    return {
        "attributes": {"type": "Lead_Event__c"},
        "DMS_Event_Id__c": dms_id,
        "Lead__c": lead["Id"],
        "Dealer_Code__c": lead["Dealer_Code__c"],
        "Trigger_Code__c": "CNR",
        "Communication__c": "DISPOSITION_UPDATE",
        "Stage__c": "Experiencing",
        "Substage__c": "InProgressUnresponsive",
        "Event_Time__c": "2026-11-27T10:00:00Z",
    }


def upsert(sf: Salesforce, records: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    result = sf.restful(PATH, method="PATCH", json={"allOrNone": False, "records": records}, **kwargs)
    assert isinstance(result, list)
    return result


def test_503_with_html_for_the_next_n_queries(sf: Salesforce, admin: AdminClient) -> None:
    admin.fail_next(503, count=2, applies_to="query", html=True)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query(QUERY)
        assert err.value.status == 503
        assert isinstance(err.value.content, str) and "<html>" in err.value.content
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000  # not a query: unaffected
    assert sf.query(QUERY)["totalSize"] == 1
    calls = admin.calls()
    assert calls["query"] == 3  # faulted calls are counted as calls...
    assert calls["api_usage"]["used"] == 2  # ...but use no API requests (the edge answered)
    assert admin.faults() == []


def test_query_faults_cover_every_query_kind(sf: Salesforce, admin: AdminClient) -> None:
    admin.generate(1100, seed=3, dealer_codes=["QK0001", "QK0002"])
    page = sf.query("SELECT Id FROM Opportunity WHERE Dealer_Code__c IN ('QK0001', 'QK0002')")
    admin.fail_next(503, count=2, applies_to="query")
    with pytest.raises(SalesforceGeneralError):
        sf.query_all("SELECT Id FROM Opportunity LIMIT 1", include_deleted=True)  # queryAll
    with pytest.raises(SalesforceGeneralError):
        sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)  # query_more
    assert len(sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)["records"]) == 200
    admin.fail_next(503, applies_to="query_more")
    assert sf.query("SELECT Id FROM Opportunity LIMIT 1")["totalSize"] == 1  # a single kind: not this one
    assert [f["applies_to"] for f in admin.faults()] == ["query_more"]


def test_json_status_fault(sf: Salesforce, admin: AdminClient) -> None:
    admin.fail_next(503, applies_to="any")
    with pytest.raises(SalesforceGeneralError) as err:
        sf.limits()
    assert err.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    admin.fail_next(500, applies_to="collection")
    sf.query(QUERY)  # not a collection call
    with pytest.raises(SalesforceGeneralError) as err:
        upsert(sf, [])
    assert err.value.status == 500 and err.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"


def test_token_fault(sandbox: SandboxProcess, admin: AdminClient, http: requests.Session) -> None:
    admin.fail_next(503, applies_to="token", html=True)
    url = f"{sandbox.instance_url}/services/oauth2/token"
    form = {"grant_type": "client_credentials", "client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    first = http.post(url, data=form, timeout=10)
    assert first.status_code == 503 and first.headers["content-type"].startswith("text/html")
    assert http.post(url, data=form, timeout=10).status_code == 200


def test_latency_makes_a_client_timeout_fire(sf: Salesforce, admin: AdminClient) -> None:
    admin.add_latency(1.5, applies_to="query")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        sf.query(QUERY, timeout=0.3)
    assert time.monotonic() - started < 1.4
    assert sf.query(QUERY, timeout=5)["totalSize"] == 1


def test_a_write_that_timed_out_may_still_have_landed(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    admin.add_latency(1.0, applies_to="collection")
    with pytest.raises(requests.exceptions.Timeout):
        upsert(sf, [event("BR0001-1", lead)], timeout=0.2)
    deadline = time.monotonic() + 5
    while not admin.events() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["DMS_Event_Id__c"] for e in admin.events()] == ["BR0001-1"]
    # The resend is harmless: an update, not applied again.
    assert upsert(sf, [event("BR0001-1", lead)])[0]["created"] is False
    assert admin.events()[0]["receipts"] == 2


def test_expire_sessions_fault(sf: Salesforce, admin: AdminClient, new_token: Callable[[], str]) -> None:
    admin.add_fault({"kind": "expire_sessions"})
    with pytest.raises(SalesforceExpiredSession):
        sf.query(QUERY)
    sf.session_id = new_token()
    sf.headers["Authorization"] = f"Bearer {sf.session_id}"
    assert sf.query(QUERY)["totalSize"] == 1


def test_record_errors_for_the_next_n_records(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    admin.record_errors(count=2)
    results = upsert(sf, [event(f"BR0001-{i}", lead) for i in range(3)])
    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errors"] == [
        {
            "statusCode": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record",
            "fields": [],
        }
    ]
    assert [e["DMS_Event_Id__c"] for e in admin.events()] == ["BR0001-2"]
    retried = upsert(sf, [event("BR0001-0", lead), event("BR0001-1", lead)])
    assert [r["created"] for r in retried] == [True, True]


def test_record_errors_for_named_events(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0002")[0]
    admin.record_errors(dms_event_ids=["BR0002-b"], count=2)
    for _ in range(2):
        results = upsert(sf, [event("BR0002-a", lead), event("BR0002-b", lead)])
        assert [r["errors"][0]["statusCode"] if r["errors"] else None for r in results] == [
            None,
            "UNABLE_TO_LOCK_ROW",
        ]
    assert upsert(sf, [event("BR0002-b", lead)])[0]["created"] is True
    receipts = admin.receipts(lead_id=lead["Id"])
    assert [(r["dms_event_id"], r["success"]) for r in receipts] == [
        ("BR0002-a", True),
        ("BR0002-b", False),
        ("BR0002-a", True),
        ("BR0002-b", False),
        ("BR0002-b", True),
    ]


def test_fault_list_clear_and_bad_specs(admin: AdminClient) -> None:
    admin.fail_next(502, count=3, applies_to="query_more")
    admin.record_errors(count=1)
    assert [(f["kind"], f["remaining"]) for f in admin.faults()] == [("status", 3), ("record_error", 1)]
    assert admin.clear_faults() == {"cleared": 2}
    assert admin.faults() == []
    for spec in (
        {"kind": "nope"},
        {"kind": "status", "status": 200},
        {"kind": "latency", "seconds": -1},
        {"kind": "status", "applies_to": "everything"},
        {"kind": "record_error", "dms_event_ids": []},
        {"kind": "status", "count": 0},
    ):
        with pytest.raises(AdminError) as err:
            admin.add_fault(spec)
        assert err.value.status == 400


def _token_form(sandbox: SandboxProcess) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": sandbox.client_id, "client_secret": sandbox.client_secret}


def test_connection_dropped_before_gm_applied_the_call(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    used = admin.calls()["api_usage"]["used"]
    admin.drop_connections(applies_to="collection")
    assert admin.faults()[0] | {"id": 0} == {
        "id": 0, "kind": "drop", "remaining": 1, "applies_to": "collection", "when": "before",
    }  # fmt: skip
    with pytest.raises(requests.exceptions.ConnectionError):
        upsert(sf, [event("BR0001-d1", lead)], timeout=10)
    assert admin.events() == [] and admin.receipts() == []  # GM did nothing
    assert admin.calls()["api_usage"]["used"] == used  # and counted no usage
    assert upsert(sf, [event("BR0001-d1", lead)])[0]["created"] is True  # the resend creates it once
    assert admin.faults() == []


def test_connection_dropped_after_gm_applied_the_call(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    admin.drop_connections(applies_to="collection", after_applying=True)
    sf.query(QUERY)  # another kind of call: answered
    with pytest.raises(requests.exceptions.ConnectionError):
        upsert(sf, [event("BR0001-d2", lead)], timeout=10)
    # The upsert was applied; only its answer was lost.
    [saved] = admin.events()
    assert (saved["DMS_Event_Id__c"], saved["receipts"], saved["applied"]) == ("BR0001-d2", 1, True)
    stage = admin.get_lead(lead["Id"])["StageName"]
    # The client's resend is an update of the same external id: nothing new at GM, the lead not moved again.
    assert upsert(sf, [event("BR0001-d2", lead)])[0]["created"] is False
    assert [e["receipts"] for e in admin.events()] == [2]
    assert admin.get_lead(lead["Id"])["StageName"] == stage


def test_token_call_dropped(sandbox: SandboxProcess, admin: AdminClient, http: requests.Session) -> None:
    url = f"{sandbox.instance_url}/services/oauth2/token"
    admin.drop_connections(applies_to="token")
    with pytest.raises(requests.exceptions.ConnectionError):
        http.post(url, data=_token_form(sandbox), timeout=10)
    assert http.post(url, data=_token_form(sandbox), timeout=10).status_code == 200


def test_503_json_body_on_collections(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    admin.fail_next(503, applies_to="collection")
    with pytest.raises(SalesforceGeneralError) as err:
        upsert(sf, [event("BR0001-j1", lead)])
    assert err.value.status == 503 and err.value.content == [
        {"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE"}
    ]
    assert admin.events() == []


def test_refuse_sessions_refuses_the_session_again_after_a_new_sign_in(
    sf: Salesforce, admin: AdminClient, new_token: Callable[[], str]
) -> None:
    result = admin.refuse_sessions(count=1)
    assert result["kind"] == "refuse_sessions" and result["expired"] >= 1
    with pytest.raises(SalesforceExpiredSession):
        sf.query(QUERY)  # the session in use expired at once
    sf.session_id = new_token()  # the sign-in itself succeeds...
    sf.headers["Authorization"] = f"Bearer {sf.session_id}"
    with pytest.raises(SalesforceExpiredSession):
        sf.query(QUERY)  # ...but that session is refused right away
    assert admin.faults() == []
    sf.session_id = new_token()  # the next sign-in is good again
    sf.headers["Authorization"] = f"Bearer {sf.session_id}"
    assert sf.query(QUERY)["totalSize"] == 1


def test_bad_drop_specs(admin: AdminClient) -> None:
    for spec in (
        {"kind": "drop", "when": "during"},
        {"kind": "drop", "applies_to": "nowhere"},
        {"kind": "refuse_sessions", "count": 0},
    ):
        with pytest.raises(AdminError) as err:
            admin.add_fault(spec)
        assert err.value.status == 400
