"""Lead events through the composite graph resource, as Salesforce documents it: one API call per
request, each graph all or nothing (a failing node rolls back its graph's earlier nodes and their effect
on the Opportunity), the other graphs applied, limits refused for the whole request."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from gmcrm_sandbox.admin import AdminClient
from tests.sandbox.test_events import event

V = "60.0"


def node(record: dict[str, Any], ref: str | None = None) -> dict[str, Any]:
    """An upsert-by-external-id node of ``record`` (its body without attributes and external id)."""
    body = {k: v for k, v in record.items() if k not in ("attributes", "DMS_Event_Id__c")}
    return {
        "method": "PATCH",
        "url": f"/services/data/v{V}/sobjects/Lead_Event__c/DMS_Event_Id__c/{record['DMS_Event_Id__c']}",
        "referenceId": ref or f"e{record['DMS_Event_Id__c'].replace('-', '_')}",
        "body": body,
    }


def post(sf: Salesforce, graphs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    body = {"graphs": [{"graphId": f"g{i}", "compositeRequest": nodes} for i, nodes in enumerate(graphs)]}
    result = sf.restful("composite/graph", method="POST", json=body)
    assert isinstance(result, dict)
    answers: list[dict[str, Any]] = result["graphs"]
    assert [a["graphId"] for a in answers] == [f"g{i}" for i in range(len(graphs))]
    return answers


def stage(admin: AdminClient, lead_id: str) -> tuple[str, str | None]:
    record = admin.get_lead(lead_id)
    return record["StageName"], record.get("Substage__c")


@pytest.fixture
def leads(admin: AdminClient) -> list[dict[str, Any]]:
    return admin.leads(dealer_code="BR0001")[:3]


def test_graphs_apply_in_order_in_one_call(sf: Salesforce, admin: AdminClient, leads: list[dict[str, Any]]) -> None:
    a, b = leads[0], leads[1]
    before = admin.calls()
    answers = post(
        sf,
        [
            [
                node(event("BR0001-1", a, Stage__c="Experiencing", Substage__c="InProgressPhone")),
                node(event("BR0001-2", a, Stage__c="Deciding", Substage__c="OfferPresented")),
            ],
            [node(event("BR0001-3", b))],
        ],
    )
    after = admin.calls()
    assert after["composite_graph"] - before["composite_graph"] == 1
    assert after["total"] - before["total"] == 1
    assert after["api_usage"]["used"] - before["api_usage"]["used"] == 1
    assert [x["isSuccessful"] for x in answers] == [True, True]
    nodes = answers[0]["graphResponse"]["compositeResponse"]
    assert [n["httpStatusCode"] for n in nodes] == [201, 201]
    assert nodes[0]["referenceId"] == "eBR0001_1" and nodes[0]["body"]["success"] is True
    assert nodes[0]["httpHeaders"]["Location"].endswith(nodes[0]["body"]["id"])
    # Applied in node order: the Opportunity ends at the second event's stage.
    assert stage(admin, a["Id"]) == ("Deciding", "OfferPresented")
    assert [e["DMS_Event_Id__c"] for e in admin.events(a["Id"])] == ["BR0001-1", "BR0001-2"]
    # A resend updates (200) and moves nothing again.
    again = post(sf, [[node(event("BR0001-1", a, Stage__c="Experiencing", Substage__c="InProgressPhone"))]])
    assert again[0]["graphResponse"]["compositeResponse"][0]["httpStatusCode"] == 200
    assert stage(admin, a["Id"]) == ("Deciding", "OfferPresented")


def test_a_failing_node_rolls_its_graph_back_and_the_others_apply(
    sf: Salesforce, admin: AdminClient, leads: list[dict[str, Any]]
) -> None:
    a, b = leads[0], leads[1]
    start = stage(admin, a["Id"])
    answers = post(
        sf,
        [
            [
                node(event("BR0001-11", a, Stage__c="Experiencing", Substage__c="InProgressPhone")),
                node(event("BR0001-12", a, Stage__c="Deciding", Substage__c="OfferPresented")),
                node(event("BR0001-13", a, Contact_Channel__c="Fax")),  # a restricted picklist: refused
                node(event("BR0001-14", a)),
            ],
            [node(event("BR0001-15", b, Stage__c="Deciding", Substage__c="OfferPresented"))],
        ],
    )
    assert [x["isSuccessful"] for x in answers] == [False, True]
    nodes = answers[0]["graphResponse"]["compositeResponse"]
    assert [n["httpStatusCode"] for n in nodes] == [400, 400, 400, 400]
    assert [n["body"][0]["errorCode"] for n in nodes] == [
        "PROCESSING_HALTED",
        "PROCESSING_HALTED",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "PROCESSING_HALTED",
    ]
    assert nodes[2]["body"][0]["fields"] == ["Contact_Channel__c"]
    # Rolled back: no event of the failed graph at GM, the Opportunity where it was.
    assert admin.events(a["Id"]) == []
    assert stage(admin, a["Id"]) == start
    assert stage(admin, b["Id"]) == ("Deciding", "OfferPresented")
    receipts = {r["dms_event_id"]: r for r in admin.receipts()}
    assert receipts["BR0001-11"]["success"] is False and receipts["BR0001-11"]["applied"] is False
    assert receipts["BR0001-15"]["success"] is True


def test_rollback_restores_an_updated_event(sf: Salesforce, admin: AdminClient, leads: list[dict[str, Any]]) -> None:
    a = leads[0]
    post(sf, [[node(event("BR0001-21", a, Trigger_Code__c="CRE"))]])
    answers = post(
        sf, [[node(event("BR0001-21", a, Trigger_Code__c="LAT")), node(event("BR0001-22", a, Lead__c=None))]]
    )
    assert answers[0]["isSuccessful"] is False
    [stored] = admin.events(a["Id"])
    assert stored["Trigger_Code__c"] == "CRE" and stored["receipts"] == 1


def test_injected_record_errors_fail_graph_nodes(
    sf: Salesforce, admin: AdminClient, leads: list[dict[str, Any]]
) -> None:
    a = leads[0]
    admin.record_errors(dms_event_ids=["BR0001-32"], status_code="UNABLE_TO_LOCK_ROW")
    answers = post(sf, [[node(event("BR0001-31", a)), node(event("BR0001-32", a))]])
    nodes = answers[0]["graphResponse"]["compositeResponse"]
    assert [n["body"][0]["errorCode"] for n in nodes] == ["PROCESSING_HALTED", "UNABLE_TO_LOCK_ROW"]
    assert admin.events(a["Id"]) == []
    # The fault is used up: the same graph now applies.
    assert post(sf, [[node(event("BR0001-31", a)), node(event("BR0001-32", a))]])[0]["isSuccessful"] is True


def test_after_14_failed_graphs_the_rest_halt(sf: Salesforce, admin: AdminClient, leads: list[dict[str, Any]]) -> None:
    a = leads[0]
    bad = [[node(event(f"BR0001-{100 + i}", a, Contact_Channel__c="Fax"))] for i in range(15)]
    good = [[node(event("BR0001-200", a))]]
    answers = post(sf, bad + good)
    assert [x["isSuccessful"] for x in answers] == [False] * 16
    assert answers[15]["graphResponse"]["compositeResponse"][0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert admin.events(a["Id"]) == []


@pytest.mark.parametrize(
    ("graphs", "fragment"),
    [
        ([[{"x": 1}]] * 1, "method, url and referenceId"),
        ([[None]] * 76, "76 graphs"),
        ([[None] * 250, [None] * 251], "more than 500 nodes"),
    ],
)
def test_limits_and_malformed_requests_are_refused_whole(
    sf: Salesforce, admin: AdminClient, leads: list[dict[str, Any]], graphs: list[list[Any]], fragment: str
) -> None:
    a = leads[0]
    filled = [
        [n if n is not None else node(event(f"BR0001-{g}-{i}", a), f"r{i}") for i, n in enumerate(nodes)]
        for g, nodes in enumerate(graphs)
    ]
    before = admin.calls()
    with pytest.raises(SalesforceMalformedRequest) as info:
        post(sf, filled)
    assert fragment in str(info.value.content)
    assert admin.events(a["Id"]) == []
    assert admin.calls()["composite_graph"] - before["composite_graph"] == 1
