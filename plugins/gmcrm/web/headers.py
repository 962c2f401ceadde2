"""The gmcrm pages' security headers, set on every response of the app by :class:`SecurityHeaders`.

The pages never cache, may only be framed by the Airflow UI (same origin) and run no script but
``static/ui_links.js``, which ``templates/base.html`` inlines and the Content-Security-Policy allows by
its SHA-256 (computed here from the file, so editing the script cannot break the policy).

Why that script: inside the Airflow UI the pages run in a sandboxed frame ("allow-scripts
allow-same-origin allow-forms allow-downloads": no top navigation, no pop-ups), where a plain link to an
Airflow page (a task log) would load a second Airflow UI inside the frame. The frame is same-origin, so
the script pushes the UI's own history and tells its router (React Router follows popstate). Anywhere
else (the page opened on its own) the link is followed as usual.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The script as the page carries it (the file's final newline is the file's, not the script's).
UI_LINK_SCRIPT = (STATIC_DIR / "ui_links.js").read_text(encoding="utf-8").removesuffix("\n")
UI_LINK_SCRIPT_HASH = base64.b64encode(hashlib.sha256(UI_LINK_SCRIPT.encode()).digest()).decode()

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        f"default-src 'none'; script-src 'sha256-{UI_LINK_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
    ),
}


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every HTTP response (pages, error pages, redirects)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
