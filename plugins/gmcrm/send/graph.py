"""Composite graph requests for leads with a backlog: building them, planning a claim's calls, and
reading the answers back as per-record results (pure: no I/O).

A lead with several pending events goes as ONE graph, its events as nodes in outbox order: Salesforce
applies a graph all or nothing, so a failed event stops the later ones of its lead within the call,
and its earlier ones are rolled back (``PROCESSING_HALTED``) to be sent again on the next call. A
request carries up to 75 graphs and 500 nodes and is one API call (``salesforce-notes.md``). Leads
with one event each keep going in 200-record collections when that costs fewer calls.

A shallow backlog (most often a new lead's LIM and LAT: two events) costs fewer calls as levels: every
lead's first event in collections of 200, then every lead's second, and so on, a lead's later event
going only once its earlier ones went (the Sender drops the others from their level). Two events a
lead: 75 graphs a request carry 150 events, two levels of collections 200 a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

MAX_GRAPHS: Final = 75
MAX_NODES: Final = 500
#: The per-node answer of a graph's other nodes when one failed (rolled back, or never run).
ROLLED_BACK: Final = "PROCESSING_HALTED"

T = TypeVar("T")


@dataclass
class Call(Generic[T]):
    """One API call of a plan: a collection of single events, or graphs of one lead each."""

    kind: str  # "collection" or "graph"
    items: list[list[T]] = field(default_factory=list)  # collection: [[e1, e2, ...]]; graph: one list per lead
    #: A collection of a level plan: the ``level``-th event (from 0) of each of its leads, to be sent only
    #: for the leads whose earlier events all went.
    level: int = 0

    @property
    def nodes(self) -> int:
        return sum(len(g) for g in self.items)


def pack_graphs(graphs: Sequence[list[T]], max_graphs: int = MAX_GRAPHS, max_nodes: int = MAX_NODES) -> list[Call[T]]:
    """Graphs into as few requests as greedy packing in order gives (within both limits)."""
    calls: list[Call[T]] = []
    for g in graphs:
        if not 0 < len(g) <= max_nodes:
            raise ValueError(f"a graph needs 1 to {max_nodes} nodes, got {len(g)}")
        if not calls or len(calls[-1].items) >= max_graphs or calls[-1].nodes + len(g) > max_nodes:
            calls.append(Call("graph"))
        calls[-1].items.append(list(g))
    return calls


def plan(leads: Sequence[list[T]], batch_size: int = 200, *, full: bool = False) -> tuple[list[Call[T]], list[T]]:
    """The calls for a claim's events, grouped per lead in order, and the events to give back unsent.
    Whichever of these costs fewest calls per event sent (a tie keeps the earlier one: graphs are the
    well-trodden path for backlogs):

    - leads with several events as graphs, leads with one event in collections;
    - every lead as a graph, single events as one-node graphs filling the graph requests;
    - levels: collections of every lead's first event, then of every lead's second, ... (``level``).
      When the claim was ``full`` (more events wait behind it), only full collections: a part-filled one
      and the later events of its leads go back to the queue, to fill up with the events behind them in
      the next claim (otherwise every claim of 2,000 ends each level with a part-filled call: ~10 % more
      calls than events / 200).
    """
    deep = [list(events) for events in leads if len(events) > 1]
    single = [events[0] for events in leads if len(events) == 1]
    collections = [Call("collection", [single[i : i + batch_size]]) for i in range(0, len(single), batch_size)]
    best = pack_graphs(deep) + collections
    merged = pack_graphs(deep + [[e] for e in single])
    if len(merged) < len(best):
        best = merged
    levels, back = level_calls(leads, batch_size, full_only=full)
    total = sum(len(events) for events in leads)
    if levels and len(levels) * total < len(best) * (total - len(back)):  # fewer calls per event sent
        return levels, back
    return best, []


def level_calls(
    leads: Sequence[list[T]], batch_size: int = 200, *, full_only: bool = False
) -> tuple[list[Call[T]], list[T]]:
    """Collections level by level: the first events of all leads, then the second ones, ...; and what
    waits. With ``full_only``, only full collections: at each level the leads beyond the last full one
    give back that event and their later ones."""
    going = [lead for lead in leads if lead]
    calls: list[Call[T]] = []
    back: list[T] = []
    level = 0
    while going:
        n = len(going) // batch_size * batch_size if full_only else len(going)
        for lead in going[n:]:
            back += lead[level:]
        events = [lead[level] for lead in going[:n]]
        calls += [Call("collection", [events[i : i + batch_size]], level) for i in range(0, n, batch_size)]
        level += 1
        going = [lead for lead in going[:n] if len(lead) > level]
    return calls, back


def request_body(
    graphs: Sequence[Sequence[dict[str, Any]]], *, api_version: str, sobject: str, external_id: str
) -> dict[str, Any]:
    """``{"graphs": [...]}``: graph ``g<i>`` per lead, one upsert-by-external-id node per record."""
    body: list[dict[str, Any]] = []
    for i, records in enumerate(graphs):
        nodes = []
        for j, record in enumerate(records):
            value = record[external_id]
            nodes.append(
                {
                    "method": "PATCH",
                    "url": f"/services/data/v{api_version}/sobjects/{sobject}/{external_id}/{value}",
                    "referenceId": f"n{j}",
                    # The type is in the URL, the external id too (Salesforce refuses a body that repeats
                    # it with another value).
                    "body": {k: v for k, v in record.items() if k not in ("attributes", external_id)},
                }
            )
        body.append({"graphId": f"g{i}", "compositeRequest": nodes})
    return {"graphs": body}


class GraphAnswerError(ValueError):
    """GM's answer does not match the request (a graph or a node missing)."""


def results(answer: Any, graphs: Sequence[Sequence[Any]]) -> list[list[dict[str, Any]]]:
    """Per graph, per node, a result shaped like a collection's (``success``, ``errors`` with
    ``statusCode``/``message``/``fields``, ``id``, ``created``), so one classifier reads both."""
    if not isinstance(answer, dict) or not isinstance(answer.get("graphs"), list):
        raise GraphAnswerError("GM CRM answered a composite graph request without graphs")
    by_id = {g.get("graphId"): g for g in answer["graphs"] if isinstance(g, dict)}
    out: list[list[dict[str, Any]]] = []
    for i, records in enumerate(graphs):
        graph = by_id.get(f"g{i}")
        nodes = ((graph or {}).get("graphResponse") or {}).get("compositeResponse")
        if not isinstance(nodes, list) or len(nodes) != len(records):
            raise GraphAnswerError(f"GM CRM answered graph g{i} with {len(nodes or [])} nodes for {len(records)}")
        by_ref = {n.get("referenceId"): n for n in nodes if isinstance(n, dict)}
        out.append([_node_result(by_ref.get(f"n{j}")) for j in range(len(records))])
    return out


def _node_result(node: dict[str, Any] | None) -> dict[str, Any]:
    if node is None:
        raise GraphAnswerError("GM CRM left a node of a composite graph unanswered")
    status = int(node.get("httpStatusCode") or 0)
    body = node.get("body")
    if 200 <= status < 300 and isinstance(body, dict):
        return {"id": body.get("id"), "success": True, "errors": [], "created": body.get("created", status == 201)}
    errors = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    converted = [
        {
            "statusCode": e.get("errorCode") or e.get("statusCode") or "UNKNOWN_ERROR",
            "message": e.get("message") or f"HTTP {status}",
            "fields": list(e.get("fields") or []),
        }
        for e in errors
        if isinstance(e, dict)
    ]
    return {
        "id": None,
        "success": False,
        "errors": converted or [{"statusCode": "UNKNOWN_ERROR", "message": f"HTTP {status}", "fields": []}],
    }
