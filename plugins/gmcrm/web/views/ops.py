"""The operations pages: every dealership at a glance, its quarantine and the events that wait for a
person, each with the command or the send DAG params that fix it (:mod:`gmcrm.ops_fixes`). Relative to
the mount point:

- ``/ops``: one row per dealership (:func:`gmcrm.ops_queries.dealerships`) and the API calls of today
  per GM connection (:func:`gmcrm.ops_queries.api_usage`);
- ``/ops/quarantine?dealer_code=&reason=``: the leads in quarantine now, with the fix of each;
- ``/ops/events?dealer_code=&status=``: FAILED events (or BLOCKED, PENDING, RETRY, CANCELLED), with
  GM's error and the fix of each.

Airflow 3.3's trigger form cannot be prefilled from a URL (its "Trigger" is a dialog of the DAG page
that reads no query parameters), so the page links to the send DAG's page and shows the params as the
JSON to paste under "Advanced options", and the equivalent ``airflow dags trigger --conf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gmcrm import ops_queries
from gmcrm.web.filters import OpsFilters
from gmcrm.web.links import app_root, page_links
from gmcrm.web.pages import Site, site
from gmcrm.web.text import free_text, shorten

router = APIRouter()
SiteDep = Annotated[Site, Depends(site)]


def _context(request: Request, web: Site) -> dict[str, Any]:
    return {**page_links(app_root(request), web.ui_root(request)), "section": "ops"}


@router.get("/ops", response_class=HTMLResponse, name="ops")
def ops_page(request: Request, web: SiteDep) -> HTMLResponse:
    with web.read_only() as conn:
        tz = conn.info.timezone
        rows = ops_queries.dealerships(conn)
        usage = ops_queries.api_usage(conn)
    for d in rows:
        if d.last_error is not None:
            d.last_error = replace(d.last_error, text=shorten(free_text(d.last_error.text)))
    return web.render(
        request, "ops.html", {**_context(request, web), "rows": rows, "usage": usage, "tz": tz, "tz_name": str(tz)}
    )


@router.get("/ops/quarantine", response_class=HTMLResponse, name="quarantine")
def quarantine_page(request: Request, web: SiteDep) -> HTMLResponse:
    filters = OpsFilters.parse(request.query_params)
    rows: list[dict[str, Any]] = []
    with web.read_only() as conn:
        tz = conn.info.timezone
        if not filters.errors:
            rows = ops_queries.quarantine(conn, filters.dealer_code or None, filters.reason or None)
    for r in rows:
        r["reason_masked"] = free_text(r["reason"], r["lead_id"])
    return web.render(
        request,
        "quarantine.html",
        {
            **_context(request, web),
            "filters": filters,
            "rows": rows,
            "limit": ops_queries.LIST_LIMIT,
            "tz": tz,
            "tz_name": str(tz),
        },
        400 if filters.errors else 200,
    )


@router.get("/ops/events", response_class=HTMLResponse, name="events")
def events_page(request: Request, web: SiteDep) -> HTMLResponse:
    filters = OpsFilters.parse(request.query_params, default_status="FAILED")
    rows: list[dict[str, Any]] = []
    with web.read_only() as conn:
        tz = conn.info.timezone
        if not filters.errors:
            rows = ops_queries.events(conn, filters.dealer_code or None, (filters.status,))
    for r in rows:
        r["error_masked"] = free_text(r["last_error"], r["lead_id"]) if r["last_error"] else None
    return web.render(
        request,
        "events.html",
        {
            **_context(request, web),
            "filters": filters,
            "rows": rows,
            "statuses": ops_queries.EVENT_LIST_STATUSES,
            "limit": ops_queries.LIST_LIMIT,
            "tz": tz,
            "tz_name": str(tz),
        },
        400 if filters.errors else 200,
    )


def search_extras(conn: Any, *, dealer_code: str, lead_id: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What the lead log's search shows beside send attempts: the dealership's imports (loads and
    failures) and quarantined leads (also of one Lead ID). Nothing without a dealership or Lead ID."""
    imports: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    if dealer_code:
        imports = ops_queries.search_imports(
            conn, dealer_code=dealer_code, date_from=kwargs.get("date_from"), date_to=kwargs.get("date_to")
        )
        for r in imports:
            r["error_masked"] = free_text(r["error"]) if r["error"] else None
    if dealer_code or lead_id:
        quarantined = ops_queries.search_quarantined(
            conn,
            dealer_code=dealer_code or None,
            lead_id=lead_id or None,
            date_from=kwargs.get("date_from"),
            date_to=kwargs.get("date_to"),
        )
        for r in quarantined:
            r["reason_masked"] = free_text(r["reason"], r["lead_id"])
    return {"imports": imports, "quarantined": quarantined, "extras_asked": bool(dealer_code or lead_id)}
