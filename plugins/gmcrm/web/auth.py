"""Sign-in and permissions of the gmcrm pages.

Airflow mounts plugin FastAPI apps as they are (``app.mount`` in
``airflow.api_fastapi.app.init_plugins``) and applies none of its own authentication to them; its root
``JWTRefreshMiddleware`` only refreshes a ``_token`` cookie that is already there, it rejects nothing.
So every route depends on :func:`require_lead_log_access`: the caller must be signed in to Airflow (the
UI's ``_token`` JWT cookie, or ``Authorization: Bearer <JWT>``, resolved by Airflow's own ``get_user``)
and the auth manager must allow reading the task logs of the send DAG
(``is_authorized_dag(GET, TASK_LOGS, gmcrm_send_triggers)``): the pages show what those logs show.
Unauthenticated browsers are sent to the auth manager's login page (:func:`login_url`).

Airflow is imported inside the functions: loading the plugin must not need the API server.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from gmcrm.dag_defaults import SEND_DAG_ID


async def airflow_user(request: Request) -> Any:
    """The signed-in Airflow user: ``Authorization: Bearer <JWT>`` or the UI's ``_token`` cookie."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def require_lead_log_access(user: Annotated[Any, Depends(airflow_user)]) -> None:
    """Signed in, and allowed to read the send DAG's task logs (what the pages show)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.configuration import conf

    team_name = None
    if conf.getboolean("core", "multi_team", fallback=False):
        from airflow.models.dag import DagModel

        team_name = DagModel.get_team_name(SEND_DAG_ID)
    allowed = get_auth_manager().is_authorized_dag(
        method="GET",
        access_entity=DagAccessEntity.TASK_LOGS,
        details=DagDetails(id=SEND_DAG_ID, team_name=team_name),
        user=user,
    )
    if not allowed:
        raise HTTPException(status_code=403, detail=f"Reading the task logs of {SEND_DAG_ID} is not allowed for you.")


def login_url(request: Request) -> str | None:
    """The auth manager's login page, coming back to this one; None without an auth manager."""
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return str(get_auth_manager().get_url_login(next_url=str(request.url)))
    except Exception:  # no auth manager in this process: answer 401 as a page
        return None
