"""Composite graph requests: planning a claim's calls, building the body, reading the answer."""

from __future__ import annotations

from typing import Any

import pytest

from gmcrm.send import graph


def test_plan_sends_backlogs_as_graphs_and_single_events_in_collections() -> None:
    deep = [[f"d{i}-{j}" for j in range(40)] for i in range(10)]  # 400 events on 10 leads
    calls, _ = graph.plan(deep)
    assert [(c.kind, len(c.items), c.nodes) for c in calls] == [("graph", 10, 400)]
    single = [[f"s{i}"] for i in range(400)]  # 400 events on 400 leads
    assert [(c.kind, c.nodes) for c in graph.plan(single)[0]] == [("collection", 200), ("collection", 200)]


def test_plan_fills_a_graph_request_with_single_events_when_that_saves_a_call() -> None:
    leads = [["a1", "a2", "a3"], ["b1"], ["c1"]]
    [call], _ = graph.plan(leads)
    assert call.kind == "graph" and call.items == [["a1", "a2", "a3"], ["b1"], ["c1"]]
    # 2 backlogs + 80 singles: 2 calls either way; the tie keeps the collection.
    many = [["x1", "x2"], ["y1", "y2"], *[[f"s{i}"] for i in range(80)]]
    assert [c.kind for c in graph.plan(many)[0]] == ["graph", "collection"]


def test_plan_sends_a_shallow_backlog_level_by_level_when_that_saves_calls() -> None:
    # 200 leads with two events (a new lead's LIM and LAT): 3 graph requests (75 graphs each), or two
    # collections: every lead's first event, then every lead's second.
    leads = [[f"l{i}-1", f"l{i}-2"] for i in range(200)]
    calls, _ = graph.plan(leads)
    assert [(c.kind, c.level, c.nodes) for c in calls] == [("collection", 0, 200), ("collection", 1, 200)]
    assert calls[0].items[0] == [f"l{i}-1" for i in range(200)]
    assert calls[1].items[0] == [f"l{i}-2" for i in range(200)]
    # Deep backlogs stay graphs: 40 levels of collections would be 40 calls for 1 graph request.
    assert [c.kind for c in graph.plan([[f"d{i}-{j}" for j in range(40)] for i in range(10)])[0]] == ["graph"]


def test_level_calls_put_each_leads_events_in_increasing_levels() -> None:
    leads = [["a1", "a2", "a3"], ["b1"], ["c1", "c2"]]
    calls, back = graph.level_calls(leads, batch_size=2)
    assert [(c.level, c.items[0]) for c in calls] == [(0, ["a1", "b1"]), (0, ["c1"]), (1, ["a2", "c2"]), (2, ["a3"])]
    assert back == []
    assert graph.level_calls([]) == ([], [])


def test_a_full_claim_sends_full_collections_and_gives_the_rest_back() -> None:
    leads = [[f"l{i}-1", f"l{i}-2"] for i in range(250)]
    # Not full: 4 graph requests or 4 level collections (a tie keeps the graphs).
    calls, back = graph.plan(leads)
    assert [c.kind for c in calls] == ["graph"] * 4 and back == []
    # Full: leads 0-199 at both levels in 2 calls (200 events a call); leads 200-249 wait.
    calls, back = graph.plan(leads, full=True)
    assert [(c.level, c.items[0]) for c in calls] == [
        (0, [f"l{i}-1" for i in range(200)]),
        (1, [f"l{i}-2" for i in range(200)]),
    ]
    assert sorted(back) == sorted([f"l{i}-1" for i in range(200, 250)] + [f"l{i}-2" for i in range(200, 250)])


def test_full_levels_never_send_a_later_event_without_the_earlier_one() -> None:
    leads = [["a1", "a2", "a3"], ["b1"], ["c1", "c2"], ["d1", "d2"]]
    calls, back = graph.level_calls(leads, batch_size=2, full_only=True)
    # level 0: a1 b1 | c1 d1; level 1: a2 c2 (d2 waits: odd one out), level 2: a3 alone waits.
    assert [(c.level, c.items[0]) for c in calls] == [(0, ["a1", "b1"]), (0, ["c1", "d1"]), (1, ["a2", "c2"])]
    assert back == ["d2", "a3"]
    # A full claim of deep backlogs stays graphs; one with nothing full sends what it has.
    deep = [[f"d{i}-{j}" for j in range(40)] for i in range(3)]
    assert [c.kind for c in graph.plan(deep, full=True)[0]] == ["graph"]
    calls, back = graph.plan([[f"s{i}"] for i in range(50)], full=True)
    assert [c.nodes for c in calls] == [50] and back == []


def test_pack_graphs_keeps_both_limits() -> None:
    calls = graph.pack_graphs([["n"] * 300, ["n"] * 300, ["n"] * 200])
    assert [c.nodes for c in calls] == [300, 500]
    calls = graph.pack_graphs([["n"]] * 151)
    assert [len(c.items) for c in calls] == [75, 75, 1]
    with pytest.raises(ValueError, match="1 to 500 nodes"):
        graph.pack_graphs([["n"] * 501])


def _record(dms_id: str) -> dict[str, Any]:
    return {"attributes": {"type": "Lead_Event__c"}, "DMS_Event_Id__c": dms_id, "Trigger_Code__c": "LAT"}


def test_request_body_has_one_graph_per_lead_and_upsert_nodes_in_order() -> None:
    body = graph.request_body(
        [[_record("BR1-1"), _record("BR1-2")], [_record("BR2-3")]],
        api_version="60.0",
        sobject="Lead_Event__c",
        external_id="DMS_Event_Id__c",
    )
    g0, g1 = body["graphs"]
    assert (g0["graphId"], g1["graphId"]) == ("g0", "g1")
    assert [n["url"] for n in g0["compositeRequest"]] == [
        "/services/data/v60.0/sobjects/Lead_Event__c/DMS_Event_Id__c/BR1-1",
        "/services/data/v60.0/sobjects/Lead_Event__c/DMS_Event_Id__c/BR1-2",
    ]
    assert g0["compositeRequest"][0] == {
        "method": "PATCH",
        "url": "/services/data/v60.0/sobjects/Lead_Event__c/DMS_Event_Id__c/BR1-1",
        "referenceId": "n0",
        "body": {"Trigger_Code__c": "LAT"},
    }


HALTED = [{"errorCode": "PROCESSING_HALTED", "message": "rolled back"}]


def test_results_read_successes_errors_and_rolled_back_nodes() -> None:
    answer = {
        "graphs": [
            {
                "graphId": "g1",
                "graphResponse": {
                    "compositeResponse": [
                        {"referenceId": "n1", "httpStatusCode": 400, "body": [
                            {"errorCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}
                        ]},
                        {"referenceId": "n0", "httpStatusCode": 400, "body": HALTED},
                    ]
                },
                "isSuccessful": False,
            },
            {
                "graphId": "g0",
                "graphResponse": {
                    "compositeResponse": [
                        {"referenceId": "n0", "httpStatusCode": 201,
                         "body": {"id": "a0X1", "success": True, "errors": []}}
                    ]
                },
                "isSuccessful": True,
            },
        ]
    }  # fmt: skip
    [ok], [halted, failed] = graph.results(answer, [["r"], ["r", "r"]])
    assert ok == {"id": "a0X1", "success": True, "errors": [], "created": True}
    assert halted["errors"][0]["statusCode"] == graph.ROLLED_BACK and not halted["success"]
    assert failed["errors"] == [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"graphs": []},
        {"graphs": [{"graphId": "g0", "graphResponse": {"compositeResponse": []}}]},
        {"graphs": [{"graphId": "g0", "graphResponse": {"compositeResponse": [{"referenceId": "zz"}]}}]},
    ],
)
def test_an_answer_that_does_not_match_the_request_is_an_error(answer: Any) -> None:
    with pytest.raises(graph.GraphAnswerError):
        graph.results(answer, [["r"]])
