"""Where the pages link to: their own pages (under the mount point) and the Airflow UI's (task logs of
the send DAG, the DAGs' pages)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from starlette.requests import Request

from gmcrm import lead_log
from gmcrm.dag_defaults import IMPORT_DAG_ID, SEND_DAG_ID, SEND_LANE_TASK_ID
from gmcrm.logs import get_logger

log = get_logger(__name__)

# (dag_id, run_ids) -> number of send lanes (mapped task instances) of each run that is known.
LaneCounts = Callable[[str, Sequence[str]], Mapping[str, int]]


def app_root(request: Request) -> str:
    """Where the app is mounted (``/gmcrm``, after Airflow's own base path)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def ui_root(request: Request, mount_prefix: str) -> str:
    """The Airflow UI's base path: the mount point without the plugin's prefix."""
    root = app_root(request)
    return root.removesuffix(mount_prefix) if mount_prefix else root


def timeline_href(root: str, lead_id: str, anchor: str | None = None) -> str:
    return f"{root}/lead-log/lead/{quote(lead_id, safe='')}" + (f"#{anchor}" if anchor else "")


def page_links(root: str, ui: str) -> dict[str, Any]:
    """URLs the templates build rows' links from."""

    def quarantine(dealer_code: str = "", reason: str = "") -> str:
        query = urlencode({k: v for k, v in (("dealer_code", dealer_code), ("reason", reason)) if v})
        return f"{root}/ops/quarantine" + (f"?{query}" if query else "")

    def events(dealer_code: str = "", status: str = "FAILED") -> str:
        query = urlencode({k: v for k, v in (("dealer_code", dealer_code), ("status", status)) if v})
        return f"{root}/ops/events?{query}"

    def lead(lead_id: str) -> str:
        return timeline_href(root, lead_id)

    def search(**params: str) -> str:
        return f"{root}/lead-log?{urlencode(params)}"

    return {
        "ops_url": f"{root}/ops",
        "quarantine_href": quarantine,
        "events_href": events,
        "lead_url": lead,
        "search_href": search,
        "send_dag_href": f"{ui}/dags/{SEND_DAG_ID}",
        "import_dag_href": f"{ui}/dags/{IMPORT_DAG_ID}",
    }


# ---------------------------------------------------------------------------------------------
# Links to the task logs of the send DAG.


@dataclass(frozen=True)
class TaskLogLink:
    href: str
    label: str


def airflow_lane_counts(dag_id: str, run_ids: Sequence[str]) -> dict[str, int]:
    """How many lanes (mapped ``send_lane`` task instances) each run had, from Airflow's metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    query = (
        select(TaskInstance.run_id, func.max(TaskInstance.map_index))
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.task_id == SEND_LANE_TASK_ID,
            TaskInstance.run_id.in_(list(run_ids)),
        )
        .group_by(TaskInstance.run_id)
    )
    with create_session() as session:
        rows = session.execute(query).all()
    return {str(run_id): int(top) + 1 for run_id, top in rows if top is not None and int(top) >= 0}


def task_log_links(
    conn: psycopg.Connection[Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    ui_root: str,
    lane_counts: LaneCounts | None,
) -> list[TaskLogLink | None]:
    """For each attempt (``lead_id``, ``dag_id``, ``run_id``, ``try_number``): the Airflow 3 UI page
    of the task log that recorded it.

    ``send_lane`` is a mapped task, so its log lives at
    ``/dags/{dag_id}/runs/{run_id}/tasks/send_lane/mapped/{lane}?try_number={n}`` (the UI's
    ``/tasks/send_lane`` without a map index asks for an unmapped instance and finds none). The lane
    is known when Airflow says how many lanes the run had; otherwise the link goes to the run's list
    of lanes (``.../tasks/send_lane/mapped``), one click from the log. Attempts made outside Airflow
    (``gmcrm`` command line) have no run and no link.
    """
    runs = sorted({str(r["run_id"]) for r in rows if r.get("dag_id") == SEND_DAG_ID and r.get("run_id")})
    lanes: Mapping[str, int] = {}
    if runs and lane_counts is not None:
        try:
            lanes = lane_counts(SEND_DAG_ID, runs)
        except Exception as exc:  # Airflow's metadata DB is a nicety here: fall back to the lanes list
            log.debug("lane counts unavailable (%s): linking to the lanes of each run", exc)
            lanes = {}
    hashed = sorted(
        {str(r["lead_id"]) for r in rows if r.get("dag_id") == SEND_DAG_ID and lanes.get(str(r.get("run_id")), 0) > 1}
    )
    lead_hash = lead_log.lead_hashes(conn, hashed) if hashed else {}

    links: list[TaskLogLink | None] = []
    for r in rows:
        dag_id, run_id = r.get("dag_id"), r.get("run_id")
        if not dag_id or not run_id:
            links.append(None)
            continue
        run_path = f"{ui_root}/dags/{quote(str(dag_id), safe='')}/runs/{quote(str(run_id), safe='')}"
        if dag_id != SEND_DAG_ID:
            links.append(TaskLogLink(run_path, f"DAG run {run_id}"))
            continue
        task_path = f"{run_path}/tasks/{SEND_LANE_TASK_ID}/mapped"
        count = lanes.get(str(run_id), 0)
        if count < 1:
            links.append(TaskLogLink(task_path, f"{SEND_LANE_TASK_ID} lanes of run {run_id}"))
            continue
        lane = 0 if count == 1 else lead_hash[str(r["lead_id"])] % count
        try_number = r.get("try_number")
        query = f"?{urlencode({'try_number': try_number})}" if try_number else ""
        label = f"{SEND_LANE_TASK_ID} lane {lane}" + (f", try {try_number}" if try_number else "") + f" of run {run_id}"
        links.append(TaskLogLink(f"{task_path}/{lane}{query}", label))
    return links
