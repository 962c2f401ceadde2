"""The lead log pages (manual: "Consulta de Logs"), relative to the mount point:

- ``/lead-log``: a filter form (dealership, date range, Lead ID, trigger code, outcome) and the
  matching send attempts (:func:`gmcrm.lead_log.search`), each linking to its lead's timeline; a search
  by dealership or Lead ID also lists imports and quarantined leads (:func:`gmcrm.web.views.ops.search_extras`);
- ``/lead-log/lead/{lead_id}``: one lead's timeline (:mod:`gmcrm.web.timeline`): imported,
  quarantined, each event recorded ("Evento criado"), each send attempt with stage, substage, HTTP
  status, the request body and the response as formatted JSON, and a link to the Airflow task log
  of the run that sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from gmcrm import lead_log
from gmcrm.web.filters import LEAD_ID_RE, Filters
from gmcrm.web.links import TaskLogLink, app_root, page_links, task_log_links, timeline_href
from gmcrm.web.pages import Site, site
from gmcrm.web.text import masked
from gmcrm.web.timeline import timeline_items
from gmcrm.web.views.ops import search_extras

SEARCH_LIMIT = 200
LATEST_LIMIT = 50

router = APIRouter()
SiteDep = Annotated[Site, Depends(site)]


@dataclass(frozen=True)
class AttemptRow:
    id: int
    attempted_at: datetime
    dealer_code: str
    lead_id: str
    timeline_href: str
    trigger_code: str
    stage: str | None
    substage: str | None
    outcome: str
    status_code: int | None
    error_code: str | None
    error_message: str | None
    task_log: TaskLogLink | None


@router.get("/", include_in_schema=False)
def home(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{app_root(request)}/lead-log", status_code=307)


@router.get("/lead-log", response_class=HTMLResponse, name="search")
def search_page(request: Request, web: SiteDep) -> HTMLResponse:
    filters = Filters.parse(request.query_params)
    root, ui = app_root(request), web.ui_root(request)
    with web.read_only() as conn:
        tz = conn.info.timezone
        dealerships = lead_log.dealership_choices(conn)
        triggers = lead_log.trigger_choices(conn)
        found: list[dict[str, Any]] = []
        if not filters.errors:
            limit = SEARCH_LIMIT if filters.given else LATEST_LIMIT
            found = lead_log.search(conn, **filters.search_kwargs(), limit=limit)
        links = task_log_links(conn, found, ui_root=ui, lane_counts=web.lane_counts)
        extras = (
            {}
            if filters.errors
            else search_extras(
                conn, dealer_code=filters.dealer_code, lead_id=filters.lead_id, kwargs=filters.search_kwargs()
            )
        )
    rows = [
        AttemptRow(
            id=r["id"],
            attempted_at=r["attempted_at"],
            dealer_code=r["dealer_code"],
            lead_id=r["lead_id"],
            timeline_href=timeline_href(root, r["lead_id"], f"attempt-{r['id']}"),
            trigger_code=r["trigger_code"],
            stage=r["stage"],
            substage=r["substage"],
            outcome=r["outcome"],
            status_code=r["status_code"],
            error_code=r["error_code"],
            error_message=masked(r["error_message"], r["lead_id"]) if r["error_message"] else None,
            task_log=link,
        )
        for r, link in zip(found, links, strict=True)
    ]
    return web.render(
        request,
        "search.html",
        {
            "filters": filters,
            "dealerships": dealerships,
            "triggers": triggers,
            "rows": rows,
            "latest": not filters.given,
            "limit": SEARCH_LIMIT if filters.given else LATEST_LIMIT,
            "lead_href": timeline_href(root, filters.lead_id) if filters.lead_id and not filters.errors else None,
            "tz": tz,
            "tz_name": str(tz),
            **page_links(root, ui),
            **extras,
        },
    )


@router.get("/lead-log/lead/{lead_id}", response_class=HTMLResponse, name="timeline")
def timeline_page(request: Request, lead_id: str, web: SiteDep) -> HTMLResponse:
    if not LEAD_ID_RE.match(lead_id):
        raise HTTPException(status_code=404, detail="Not a Lead ID.")
    with web.read_only() as conn:
        tz = conn.info.timezone
        items = timeline_items(conn, lead_id, ui_root=web.ui_root(request), lane_counts=web.lane_counts, tz=tz)
    if not items:
        raise HTTPException(status_code=404, detail=f"Nothing is recorded for lead {lead_id}.")
    imported = [i for i in items if i.kind == "IMPORTED"]
    attempts = [i for i in items if i.kind == "SEND_ATTEMPT"]
    return web.render(
        request,
        "timeline.html",
        {
            "lead_id": lead_id,
            "items": items,
            "lead_facts": imported[-1].facts if imported else [],
            "counts": {
                "events": sum(1 for i in items if i.kind == "EVENT_CREATED"),
                "attempts": len(attempts),
                "failed": sum(1 for i in attempts if i.outcome == "FAILED"),
            },
            "back_href": f"{app_root(request)}/lead-log?{urlencode({'lead_id': lead_id})}",
            "tz": tz,
            "tz_name": str(tz),
        },
    )
