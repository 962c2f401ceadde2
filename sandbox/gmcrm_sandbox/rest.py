"""The Salesforce REST resources the sandbox serves, independent of the web framework.

``classify`` names the kind of a call from its method and path (the kinds ``/__admin__/calls`` counts and
faults target); ``dispatch`` runs it against the org and returns (status, JSON body). Authentication,
faults, the daily limit and headers are the web layer's job (``app.py``), because they apply to every
resource alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import ApiError, not_found
from .schema import OBJECTS, ObjectDef
from .store import Org


@dataclass(frozen=True, slots=True)
class RestRequest:
    method: str
    # The part of the path after ``/services/data/vNN.N/``, without a trailing slash.
    resource: str
    version: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    # The User id the request's token signs in as: what CreatedById / LastModifiedById get on a write.
    user_id: str = ""


Handler = Callable[[Org, RestRequest, "re.Match[str]"], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    """A resource: its path pattern and, per HTTP method, the call kind and the handler."""

    pattern: re.Pattern[str]
    methods: Mapping[str, tuple[str, Handler]]

    def kind(self, method: str) -> str:
        """The call kind for counting and faults; an unsupported method is "other"."""
        entry = self.methods.get(method)
        return entry[0] if entry is not None else "other"


def _query(org: Org, req: RestRequest, _m: re.Match[str], include_deleted: bool) -> tuple[int, Any]:
    text = req.params.get("q")
    if text is None or not text.strip():
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    return 200, org.run_query(
        text, include_deleted=include_deleted, batch_size=batch_size(req.headers), version=req.version
    )


def _query_more(org: Org, req: RestRequest, m: re.Match[str]) -> tuple[int, Any]:
    return 200, org.query_more(m["locator"], batch_size=batch_size(req.headers), version=req.version)


def _limits(org: Org, _req: RestRequest, _m: re.Match[str]) -> tuple[int, Any]:
    used, max_ = org.access.usage()
    return 200, limits_body(used, max_)


def _get(org: Org, req: RestRequest, m: re.Match[str]) -> tuple[int, Any]:
    return 200, org.get_record(m["sobject"], m["id"], req.version, _fields_param(req))


def _get_by_external(org: Org, req: RestRequest, m: re.Match[str]) -> tuple[int, Any]:
    return 200, org.get_by_external_id(m["sobject"], m["field"], m["value"], req.version, _fields_param(req))


def _describe(_org: Org, _req: RestRequest, m: re.Match[str]) -> tuple[int, Any]:
    obj = OBJECTS.get(m["sobject"].lower())
    if obj is None:
        raise not_found(f"The requested resource does not exist: sObject type '{m['sobject']}'")
    return 200, describe(obj)


def _collection_upsert(org: Org, req: RestRequest, m: re.Match[str]) -> tuple[int, Any]:
    return 200, org.upsert_events(m["sobject"], m["field"], req.body, req.user_id)


def _composite_graph(org: Org, req: RestRequest, _m: re.Match[str]) -> tuple[int, Any]:
    return 200, org.composite_graph(req.body, req.version, req.user_id)


def _resources(_org: Org, req: RestRequest, _m: re.Match[str]) -> tuple[int, Any]:
    base = f"/services/data/v{req.version}"
    return 200, {
        "limits": f"{base}/limits",
        "query": f"{base}/query",
        "queryAll": f"{base}/queryAll",
        "sobjects": f"{base}/sobjects",
        "composite": f"{base}/composite",
    }


def _single_upsert(org: Org, req: RestRequest, m: re.Match[str]) -> tuple[int, Any]:
    return org.upsert_event(m["sobject"], m["field"], m["value"], req.body, req.user_id)


# Order matters: the first matching pattern wins.
ROUTES: Final[tuple[Route, ...]] = (
    Route(re.compile(r"^query$"), {"GET": ("query", lambda o, r, m: _query(o, r, m, False))}),
    Route(re.compile(r"^queryAll$"), {"GET": ("query_all", lambda o, r, m: _query(o, r, m, True))}),
    Route(re.compile(r"^(?:query|queryAll)/(?P<locator>[^/]+)$"), {"GET": ("query_more", _query_more)}),
    Route(re.compile(r"^limits$"), {"GET": ("limits", _limits)}),
    Route(re.compile(r"^sobjects/(?P<sobject>\w+)/describe$"), {"GET": ("other", _describe)}),
    Route(re.compile(r"^sobjects/(?P<sobject>\w+)/(?P<id>[A-Za-z0-9]+)$"), {"GET": ("sobject_get", _get)}),
    Route(
        re.compile(r"^sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)$"),
        {"GET": ("sobject_get", _get_by_external), "PATCH": ("other", _single_upsert)},
    ),
    Route(
        re.compile(r"^composite/sobjects/(?P<sobject>\w+)/(?P<field>\w+)$"),
        {"PATCH": ("collection_upsert", _collection_upsert)},
    ),
    Route(re.compile(r"^composite/graph$"), {"POST": ("composite_graph", _composite_graph)}),
    Route(re.compile(r"^$"), {"GET": ("other", _resources)}),
)


def classify(resource: str) -> tuple[Route | None, re.Match[str] | None]:
    for route in ROUTES:
        m = route.pattern.match(resource)
        if m is not None:
            return route, m
    return None, None


def dispatch(org: Org, req: RestRequest, route: Route | None, match: re.Match[str] | None) -> tuple[int, Any]:
    """Run the resource; ``ApiError`` for anything Salesforce would refuse."""
    if route is None or match is None:
        raise not_found()
    entry = route.methods.get(req.method)
    if entry is None:
        allowed = ",".join(sorted({*route.methods, "HEAD"}))
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are {allowed}")
    return entry[1](org, req, match)


_BATCH: Final = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def batch_size(headers: Mapping[str, str]) -> int | None:
    """``Sforce-Query-Options: batchSize=N``, if the client sent it."""
    options = headers.get("sforce-query-options")
    m = _BATCH.search(options) if options else None
    return int(m.group(1)) if m else None


def _fields_param(req: RestRequest) -> list[str] | None:
    raw = req.params.get("fields")
    return [f for f in raw.split(",") if f.strip()] if raw else None


def limits_body(used: int, max_: int) -> dict[str, Any]:
    """``GET /limits/``: the daily API requests for real, a few other limits for shape."""
    remaining = max(max_ - used, 0)
    return {
        "DailyApiRequests": {"Max": max_, "Remaining": remaining},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        "SingleEmail": {"Max": 5000, "Remaining": 5000},
    }


def describe(obj: ObjectDef) -> dict[str, Any]:
    """A reduced ``sobjects/<type>/describe``: enough to check names, types, lengths and picklists."""
    sf_types = {"id": "id", "reference": "reference", "textarea": "textarea", "double": "double"}
    fields = []
    for f in obj.fields:
        fields.append(
            {
                "name": f.name,
                "type": sf_types.get(f.type, f.type),
                "length": f.length or 0,
                "externalId": f.external_id,
                "nillable": not f.required and f.name not in ("Id", "IsDeleted"),
                "createable": f.writable,
                "updateable": f.writable,
                "filterable": f.filterable,
                "sortable": f.sortable,
                "restrictedPicklist": f.restricted,
                "referenceTo": [f.reference_to] if f.reference_to else [],
                "picklistValues": [
                    {"value": v, "label": v, "active": True, "defaultValue": False} for v in (f.picklist or ())
                ],
            }
        )
    return {
        "name": obj.name,
        "label": obj.name.removesuffix("__c").replace("_", " "),
        "keyPrefix": obj.key_prefix,
        "custom": obj.name.endswith("__c"),
        "queryable": True,
        "fields": fields,
    }
