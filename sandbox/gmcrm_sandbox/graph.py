"""Composite graph (``POST /services/data/vXX.X/composite/graph``), as Salesforce documents it.

- A request carries up to 75 graphs and 500 nodes in all; it counts as ONE API call.
- Each graph is applied all or nothing: when a node fails, the graph's earlier nodes are rolled back
  (here: the lead events they created or changed, and the stage they moved the Opportunity to) and its
  later nodes are not run. The failed node answers its own error (``400``, an error array); every other
  node of that graph answers ``400`` ``PROCESSING_HALTED``. The other graphs of the request apply.
- After 14 failed graphs, the remaining graphs are not processed: all their nodes ``PROCESSING_HALTED``.
- The node kind the integration writes: upsert by external id,
  ``PATCH /services/data/vXX.X/sobjects/Lead_Event__c/DMS_Event_Id__c/<value>``; a success answers
  ``201`` (created) or ``200`` (updated) with ``{"id", "success", "errors", "created"}``, as the single
  upsert does. Other node URLs the sandbox does not serve fail their node (``404 NOT_FOUND``).

Malformed requests and exceeded limits are a ``400`` for the whole request (an error array), nothing
applied. The exact error codes of the limits are the sandbox's reading of the documentation
(``INVALID_INPUT``): the integration never relies on them, it builds requests within the limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from . import events as ev
from . import timefmt
from .errors import ApiError
from .schema import LEAD_EVENT, OBJECTS

MAX_GRAPHS: Final = 75
MAX_NODES: Final = 500
MAX_FAILED_GRAPHS: Final = 14
HALTED: Final = {
    "errorCode": "PROCESSING_HALTED",
    "message": "The transaction was rolled back since another operation in the same transaction failed.",
}
HALTED_LIMIT: Final = {
    "errorCode": "PROCESSING_HALTED",
    "message": f"Processing halted: more than {MAX_FAILED_GRAPHS} graphs of this request failed.",
}
# The receipt of a node that was saved, then rolled back with its graph.
_ROLLED_BACK: Final = {
    "id": None,
    "success": False,
    "errors": [{"statusCode": HALTED["errorCode"], "message": HALTED["message"], "fields": []}],
    "applied": False,
}
_GRAPH_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,39}$")
_NODE_URL: Final = re.compile(
    r"^/services/data/v(?P<version>\d+\.\d)/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)$"
)


@dataclass(frozen=True, slots=True)
class Node:
    reference_id: str
    method: str
    url: str
    body: bytes
    # Set when the URL is an upsert by external id: (sobject, external id field, value).
    target: tuple[str, str, str] | None


@dataclass(frozen=True, slots=True)
class Graph:
    graph_id: str
    nodes: list[Node]


def parse_request(body: bytes) -> list[Graph]:
    """The graphs of a request, or ``ApiError`` (400) for the whole request: nothing is applied then."""
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("graphs"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: graphs must be an array")
    raw_graphs = payload["graphs"]
    if not raw_graphs:
        raise ApiError(400, "INVALID_INPUT", "A composite graph request needs at least one graph")
    if len(raw_graphs) > MAX_GRAPHS:
        raise ApiError(
            400, "INVALID_INPUT", f"The request has {len(raw_graphs)} graphs; at most {MAX_GRAPHS} are allowed"
        )
    graphs: list[Graph] = []
    seen: set[str] = set()
    total = 0
    for raw in raw_graphs:
        if not isinstance(raw, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize a graph: expected a JSON object")
        graph_id = raw.get("graphId")
        if not isinstance(graph_id, str) or not _GRAPH_ID.match(graph_id):
            raise ApiError(
                400,
                "INVALID_INPUT",
                f"Invalid graphId {graph_id!r}: it must start with a letter or digit and be under 40 characters",
            )
        if graph_id in seen:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate graphId {graph_id} in the request")
        seen.add(graph_id)
        nodes = raw.get("compositeRequest")
        if not isinstance(nodes, list) or not nodes:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Graph {graph_id}: compositeRequest must be a non-empty array")
        total += len(nodes)
        if total > MAX_NODES:
            raise ApiError(400, "INVALID_INPUT", f"The request has more than {MAX_NODES} nodes; at most {MAX_NODES}")
        graphs.append(Graph(graph_id, [_parse_node(graph_id, n) for n in nodes]))
    _check_references(graphs)
    return graphs


def _parse_node(graph_id: str, raw: Any) -> Node:
    if not isinstance(raw, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Graph {graph_id}: a node must be a JSON object")
    method, url, ref = raw.get("method"), raw.get("url"), raw.get("referenceId")
    if not isinstance(method, str) or not isinstance(url, str) or not isinstance(ref, str) or not ref:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Graph {graph_id}: every node needs method, url and referenceId")
    m = _NODE_URL.match(url)
    target = (m["sobject"], m["field"], m["value"]) if m and method.upper() == "PATCH" else None
    return Node(ref, method.upper(), url, json.dumps(raw.get("body")).encode(), target)


def _check_references(graphs: list[Graph]) -> None:
    for graph in graphs:
        refs = [n.reference_id for n in graph.nodes]
        if len(refs) != len(set(refs)):
            raise ApiError(400, "INVALID_INPUT", f"Graph {graph.graph_id}: duplicate referenceId")


def node_success(node: Node, result: dict[str, Any], version: str, sobject: str) -> dict[str, Any]:
    return {
        "body": {"id": result["id"], "success": True, "errors": [], "created": result["created"]},
        "httpHeaders": {"Location": f"/services/data/v{version}/sobjects/{sobject}/{result['id']}"},
        "httpStatusCode": 201 if result["created"] else 200,
        "referenceId": node.reference_id,
    }


def node_error(node: Node, status: int, error: dict[str, Any]) -> dict[str, Any]:
    return {"body": [dict(error)], "httpHeaders": {}, "httpStatusCode": status, "referenceId": node.reference_id}


def record_error_body(error: dict[str, Any]) -> dict[str, Any]:
    """A collection-style record error (``statusCode``) as a REST error (``errorCode``)."""
    return {"errorCode": error["statusCode"], "message": error["message"], "fields": list(error.get("fields") or [])}


def graph_answer(graph: Graph, responses: list[dict[str, Any]], ok: bool) -> dict[str, Any]:
    return {"graphId": graph.graph_id, "graphResponse": {"compositeResponse": responses}, "isSuccessful": ok}


class _Org(Protocol):
    """What :func:`apply` needs of the org (``store.Org``), called under its lock."""

    def now(self) -> datetime: ...

    def check_event(self, event: ev.IncomingEvent, duplicated: bool = False) -> dict[str, Any] | None: ...

    def save_event(
        self, event: ev.IncomingEvent, now: datetime, user_id: str, undo: list[Callable[[], None]] | None = None
    ) -> tuple[str, bool, bool]: ...

    def receipt(self, call_no: int, received_at: str, event: ev.IncomingEvent, result: Mapping[str, Any]) -> None: ...


def apply(org: _Org, graphs: list[Graph], version: str, call_no: int, user_id: str) -> dict[str, Any]:
    """Run every graph in order, each all or nothing; the response body."""
    now = org.now()
    received_at = timefmt.format_sf(now)
    answers: list[dict[str, Any]] = []
    failed = 0
    for g in graphs:
        if failed > MAX_FAILED_GRAPHS:
            answers.append(graph_answer(g, [node_error(n, 400, HALTED_LIMIT) for n in g.nodes], False))
            continue
        ok, responses, receipts = _run_graph(org, g, version, now, user_id)
        failed += 0 if ok else 1
        for event, result in receipts:
            org.receipt(call_no, received_at, event, result if ok or not result["success"] else _ROLLED_BACK)
        answers.append(graph_answer(g, responses, ok))
    return {"graphs": answers}


def _run_graph(
    org: _Org, g: Graph, version: str, now: datetime, user_id: str
) -> tuple[bool, list[dict[str, Any]], list[tuple[ev.IncomingEvent, dict[str, Any]]]]:
    undo: list[Callable[[], None]] = []
    done: list[tuple[Node, dict[str, Any]]] = []
    receipts: list[tuple[ev.IncomingEvent, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, node in enumerate(g.nodes):
        status, error, event = _node_error(org, node, seen)
        if error is None and event is not None:
            event_id, created, applied = org.save_event(event, now, user_id, undo)
            result = {"id": event_id, "success": True, "errors": [], "created": created, "applied": applied}
            done.append((node, result))
            receipts.append((event, result))
            continue
        # All or nothing: the graph's earlier nodes are undone, newest first; the later ones never run.
        for step in reversed(undo):
            step()
        assert error is not None
        if event is not None:
            receipts.append((event, {"id": None, "success": False, "errors": [error], "applied": False}))
        responses = [node_error(n, 400, HALTED) for n, _ in done]
        responses.append(node_error(node, status, record_error_body(error) if "statusCode" in error else error))
        responses += [node_error(n, 400, HALTED) for n in g.nodes[index + 1 :]]
        return False, responses, receipts
    return True, [node_success(n, r, version, LEAD_EVENT.name) for n, r in done], receipts


def _node_error(org: _Org, node: Node, seen: set[str]) -> tuple[int, dict[str, Any] | None, ev.IncomingEvent | None]:
    """(HTTP status, error or None, the parsed event) of one node, before it is saved."""
    if node.target is None:
        return 404, {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}, None
    sobject, ext_field, value = node.target
    obj = OBJECTS.get(sobject.lower())
    fdef = obj.field_map().get(ext_field.lower()) if obj is not None else None
    if obj is not LEAD_EVENT or fdef is None or not fdef.external_id:
        message = f"Provided external ID field does not exist or is not accessible: {ext_field}"
        return 400, {"errorCode": "INVALID_FIELD", "message": message}, None
    try:
        event = ev.parse_single(node.body, value)
    except ApiError as exc:
        return exc.status, exc.body()[0], None
    duplicated = value in seen
    seen.add(value)
    error = org.check_event(event, duplicated)
    return (400 if error is not None else 200), error, event
