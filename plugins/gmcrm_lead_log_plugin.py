"""Airflow plugin: the lead log page (manual: "Consulta de Logs") inside the Airflow 3 UI.

- ``fastapi_apps``: the API server mounts :func:`gmcrm.web.app.create_app` under ``/gmcrm``
  (pages ``/gmcrm/lead-log`` and ``/gmcrm/lead-log/lead/{lead_id}``).
- ``external_views``: an entry "Lead log" in the UI's **Browse** menu (``category: browse``,
  ``destination: nav``). With ``url_route`` set, the UI shows the page inside its own frame at
  ``/plugin/lead-log``, keeping Airflow's navigation around it; and "Operations" (``/gmcrm/ops``, every
  dealership at a glance, its quarantine and failed events) at ``/plugin/gmcrm-ops``.

Auth: Airflow applies no authentication of its own to plugin FastAPI apps (it just mounts them), so
the app requires an Airflow session itself: the UI's JWT cookie or a Bearer token, and permission to
read the task logs of ``gmcrm_send_triggers`` (see ``gmcrm.web.auth``).

Loading this module connects to nothing and imports nothing of the pages: Airflow loads plugins in every
process (scheduler, workers, DAG processor), most of which never serve the page, and the Task SDK
executes each plugin file afresh at the start of **every task instance** (its plugins manager, for the
listeners). Building the FastAPI app there cost ~0.5 CPU-s per task (FastAPI and the pages imported for
nothing; ``benchmarks/bench_task_start.py``), so the API server gets :class:`PagesApp`, which builds the
app at its first request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

#: ``gmcrm.web.app.MOUNT_PREFIX``, not imported from there (that would import the app); a test keeps them equal.
MOUNT_PREFIX = "/gmcrm"

URL_ROUTE = "lead-log"
OPS_URL_ROUTE = "gmcrm-ops"


def _base_path() -> str:
    """Airflow's own base path (``[api] base_url``), so the menu entry also works under a sub-path."""
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


class PagesApp:
    """An ASGI app that is :func:`gmcrm.web.app.create_app`'s app, made at the first request it serves
    (Airflow's API server mounts plugin apps with Starlette's ``Mount``, which takes any ASGI app)."""

    def __init__(self) -> None:
        self._app: Any = None

    def app(self) -> Any:
        if self._app is None:
            from gmcrm.web.app import create_app

            self._app = create_app()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app()(scope, receive, send)


class GmcrmLeadLogPlugin(AirflowPlugin):
    name = "gmcrm_lead_log"
    fastapi_apps: list[Any] = [  # noqa: RUF012 - AirflowPlugin declares these as class attributes
        {"app": PagesApp(), "url_prefix": MOUNT_PREFIX, "name": "gmcrm lead log"},
    ]
    external_views: list[Any] = [  # noqa: RUF012
        {
            "name": "Lead log",
            "href": f"{_base_path()}{MOUNT_PREFIX}/lead-log",
            "destination": "nav",
            "category": "browse",
            "url_route": URL_ROUTE,
        },
        {
            "name": "Operations",
            "href": f"{_base_path()}{MOUNT_PREFIX}/ops",
            "destination": "nav",
            "category": "browse",
            "url_route": OPS_URL_ROUTE,
        },
    ]
