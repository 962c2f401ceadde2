"""The operations page: every dealership at a glance, its quarantine and the events that wait for a
person, each with the command or the send DAG params that fix it.

Routes of the lead log app (:func:`gmcrm.web.lead_log_app.create_app` calls :func:`add_routes`), so they
share its sign-in (``require_lead_log_access``), its read-only DMS connection, its error pages (a bad
filter is a message, a DMS outage a 503 page) and its masking. Pages, relative to the mount point:

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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from gmcrm import ops_queries
from gmcrm.normalize import mask_text

REASON_RE = re.compile(r"^[A-Z_]{1,40}$")
LAST_ERROR_CHARS = 200  # the overview's last error: enough to know what it is
DEALER_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,10}$")

Page = Callable[..., HTMLResponse]


@dataclass(frozen=True)
class OpsFilters:
    dealer_code: str = ""
    reason: str = ""
    status: str = ""
    errors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str], *, default_status: str = "") -> OpsFilters:
        errors: list[str] = []
        dealer_code = (params.get("dealer_code") or "").strip()[:64]
        reason = (params.get("reason") or "").strip().upper()[:64]
        status = (params.get("status") or default_status).strip().upper()[:64]
        if dealer_code and not DEALER_CODE_RE.match(dealer_code):
            errors.append("Dealership: not a dealer code (letters, digits, - and _, up to 10).")
        if reason and not REASON_RE.match(reason):
            errors.append("Reason: a reason code such as NO_CONTACT_SETTING.")
        if status and status not in ops_queries.EVENT_LIST_STATUSES:
            errors.append("Status: one of " + ", ".join(ops_queries.EVENT_LIST_STATUSES) + ".")
        return cls(dealer_code, reason, status, tuple(errors))


def links(root: str, ui: str) -> dict[str, Any]:
    """URLs the templates build rows' links from."""

    def quarantine(dealer_code: str = "", reason: str = "") -> str:
        query = urlencode({k: v for k, v in (("dealer_code", dealer_code), ("reason", reason)) if v})
        return f"{root}/ops/quarantine" + (f"?{query}" if query else "")

    def events(dealer_code: str = "", status: str = "FAILED") -> str:
        query = urlencode({k: v for k, v in (("dealer_code", dealer_code), ("status", status)) if v})
        return f"{root}/ops/events?{query}"

    def lead(lead_id: str) -> str:
        return f"{root}/lead-log/lead/{quote(lead_id, safe='')}"

    def search(**params: str) -> str:
        return f"{root}/lead-log?{urlencode(params)}"

    return {
        "ops_url": f"{root}/ops",
        "quarantine_href": quarantine,
        "events_href": events,
        "lead_url": lead,
        "search_href": search,
        "send_dag_href": f"{ui}/dags/{ops_queries.SEND_DAG_ID}",
        "import_dag_href": f"{ui}/dags/gmcrm_import_leads",
    }


def add_routes(
    app: FastAPI,
    *,
    page: Page,
    read_only: Callable[[], Any],
    app_root: Callable[[Request], str],
    ui_root: Callable[[Request], str],
) -> None:
    """The operations pages, on the lead log's app. ``read_only()`` is a context manager giving a
    read-only DMS connection; ``page(request, template, context, status_code)`` renders."""

    def context(request: Request) -> dict[str, Any]:
        return links(app_root(request), ui_root(request))

    @app.get("/ops", response_class=HTMLResponse, name="ops")
    def ops_page(request: Request) -> HTMLResponse:
        with read_only() as conn:
            tz = conn.info.timezone
            rows = ops_queries.dealerships(conn)
            usage = ops_queries.api_usage(conn)
        for d in rows:
            if d.last_error is not None:
                d.last_error = replace(d.last_error, text=shorten(masked(d.last_error.text)))
        return page(
            request,
            "ops.html",
            {**context(request), "rows": rows, "usage": usage, "tz": tz, "tz_name": str(tz), "section": "ops"},
        )

    @app.get("/ops/quarantine", response_class=HTMLResponse, name="quarantine")
    def quarantine_page(request: Request) -> HTMLResponse:
        filters = OpsFilters.parse(request.query_params)
        rows: list[dict[str, Any]] = []
        with read_only() as conn:
            tz = conn.info.timezone
            if not filters.errors:
                rows = ops_queries.quarantine(conn, filters.dealer_code or None, filters.reason or None)
        for r in rows:
            r["reason_masked"] = masked(r["reason"], r["lead_id"])
        return page(
            request,
            "quarantine.html",
            {
                **context(request),
                "filters": filters,
                "rows": rows,
                "limit": ops_queries.LIST_LIMIT,
                "tz": tz,
                "tz_name": str(tz),
                "section": "ops",
            },
            400 if filters.errors else 200,
        )

    @app.get("/ops/events", response_class=HTMLResponse, name="events")
    def events_page(request: Request) -> HTMLResponse:
        filters = OpsFilters.parse(request.query_params, default_status="FAILED")
        rows: list[dict[str, Any]] = []
        with read_only() as conn:
            tz = conn.info.timezone
            if not filters.errors:
                rows = ops_queries.events(conn, filters.dealer_code or None, (filters.status,))
        for r in rows:
            r["error_masked"] = masked(r["last_error"], r["lead_id"]) if r["last_error"] else None
        return page(
            request,
            "events.html",
            {
                **context(request),
                "filters": filters,
                "rows": rows,
                "statuses": ops_queries.EVENT_LIST_STATUSES,
                "limit": ops_queries.LIST_LIMIT,
                "tz": tz,
                "tz_name": str(tz),
                "section": "ops",
            },
            400 if filters.errors else 200,
        )


def shorten(text: str, limit: int = LAST_ERROR_CHARS) -> str:
    """A long error cut for the table (the lists and the lead log show it whole)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def masked(text: Any, *keep: str) -> str:
    """:func:`mask_text`, leaving Lead IDs whole (their digit runs look like phones)."""
    if text is None or text == "":
        return "—"
    tokens = [k for k in keep if k]
    if not tokens:
        return mask_text(str(text))
    parts = re.split("(" + "|".join(re.escape(k) for k in tokens) + ")", str(text))
    return "".join(part if part in tokens else mask_text(part) for part in parts)


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
            r["error_masked"] = masked(r["error"]) if r["error"] else None
    if dealer_code or lead_id:
        quarantined = ops_queries.search_quarantined(
            conn,
            dealer_code=dealer_code or None,
            lead_id=lead_id or None,
            date_from=kwargs.get("date_from"),
            date_to=kwargs.get("date_to"),
        )
        for r in quarantined:
            r["reason_masked"] = masked(r["reason"], r["lead_id"])
    return {"imports": imports, "quarantined": quarantined, "extras_asked": bool(dealer_code or lead_id)}
