"""The gmcrm pages (lead log, operations) as one FastAPI app for the Airflow 3 API server.

``plugins/gmcrm_lead_log_plugin.py`` mounts :func:`create_app` under ``/gmcrm`` and adds its pages to
the UI's Browse menu. The app is put together from:

- :mod:`.auth`: sign-in and permissions (every route depends on ``require_lead_log_access``);
- :mod:`.headers`: the security headers of every response (middleware);
- :mod:`.views.lead_log` and :mod:`.views.ops`: the pages, one module per group;
- ``templates/`` and ``static/``: server-rendered HTML (Jinja2, autoescaped) and the one script;
- :mod:`gmcrm.lead_log` and :mod:`gmcrm.ops_queries`: what is read, through a read-only DMS
  connection per request (:mod:`.dms`).

Errors are pages: 401 sends a browser to Airflow's login, 403 and 404 say why, and a DMS that is down,
refusing or too slow is a 503 page, never a traceback.
"""

from __future__ import annotations

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gmcrm.errors import error_text
from gmcrm.logs import get_logger
from gmcrm.web import dms, links
from gmcrm.web.auth import login_url, require_lead_log_access
from gmcrm.web.headers import SecurityHeaders
from gmcrm.web.pages import Site, templates
from gmcrm.web.views import lead_log, ops

log = get_logger(__name__)

MOUNT_PREFIX = "/gmcrm"
ERROR_TITLES = {401: "Sign in to Airflow first", 403: "Not allowed", 404: "Not found"}


def create_app(
    *,
    connect: dms.Connect | None = None,
    lane_counts: links.LaneCounts | None = links.airflow_lane_counts,
    mount_prefix: str = MOUNT_PREFIX,
) -> FastAPI:
    """The app. ``connect`` defaults to ``dms_postgres``; ``lane_counts`` to Airflow's metadata DB
    (``None``: link every attempt to its run's lanes)."""
    site = Site(
        connect=connect or dms.dms_connection,
        lane_counts=lane_counts,
        mount_prefix=mount_prefix,
        templates=templates(),
    )
    app = FastAPI(
        title="gmcrm lead log",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(require_lead_log_access)],
    )
    app.state.site = site
    app.add_middleware(SecurityHeaders)
    app.include_router(lead_log.router)
    app.include_router(ops.router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and request.method == "GET" and (login := login_url(request)):
            return RedirectResponse(login, status_code=303)
        return site.render(
            request,
            "error.html",
            {"title": ERROR_TITLES.get(exc.status_code, "Error"), "message": str(exc.detail)},
            status_code=exc.status_code,
        )

    @app.exception_handler(psycopg.OperationalError)
    async def dms_unreachable(request: Request, exc: psycopg.OperationalError) -> Response:
        # Down, refusing connections or too slow (statement timeout): say so, not a 500 traceback.
        log.warning("lead log: the DMS database did not answer: %s", error_text(exc))
        message = (
            "The lead log cannot reach the DMS database right now. Try again in a few minutes; "
            "if it lasts, check the database and the dms_postgres connection."
        )
        return site.render(request, "error.html", {"title": "DMS database unavailable", "message": message}, 503)

    return app
