"""What every view shares: the templates, the DMS connection, where the app is mounted; and rendering
a page with the context every template expects."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from gmcrm.web import dms, links
from gmcrm.web.headers import UI_LINK_SCRIPT
from gmcrm.web.text import format_time

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
OUTCOMES: dict[str, str] = {
    "SENT": "Sent",
    "RETRY": "Retry (transient error)",
    "FAILED": "Failed",
    "DEFERRED": "Deferred (daily limit)",
    "DRY_RUN": "Dry run",
    "ROLLED_BACK": "Rolled back (another event of its lead failed)",
    "CANCELLED": "Cancelled (lead deleted at GM)",
}


def templates() -> Jinja2Templates:
    """The pages' templates (Jinja2, autoescaped), with the ``time`` filter and the globals of
    ``base.html``."""
    found = Jinja2Templates(directory=str(TEMPLATES_DIR))
    found.env.filters["time"] = format_time
    found.env.globals["outcomes"] = OUTCOMES
    found.env.globals["ui_link_script"] = UI_LINK_SCRIPT
    return found


@dataclass(frozen=True)
class Site:
    """The app's settings, kept in ``app.state.site``; views get it with ``Depends(site)``."""

    connect: dms.Connect
    lane_counts: links.LaneCounts | None
    mount_prefix: str
    templates: Jinja2Templates

    def read_only(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return dms.read_only(self.connect)

    def ui_root(self, request: Request) -> str:
        return links.ui_root(request, self.mount_prefix)

    def render(self, request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        root = links.app_root(request)
        base = {"root": root, "search_url": f"{root}/lead-log", "ops_url": f"{root}/ops", "tz_name": ""}
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def site(request: Request) -> Site:
    found: Site = request.app.state.site
    return found
