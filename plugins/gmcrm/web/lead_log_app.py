"""The lead log page (manual: "Consulta de Logs") as a FastAPI app for the Airflow 3 API server.

``plugins/gmcrm_lead_log_plugin.py`` mounts :func:`create_app` under ``/gmcrm`` and adds it to the
UI's Browse menu. Pages, relative to the mount point:

- ``/lead-log``: a filter form (dealership, date range, Lead ID, trigger code, outcome) and the
  matching send attempts (:func:`gmcrm.lead_log.search`), each linking to its lead's timeline;
- ``/lead-log/lead/{lead_id}``: one lead's timeline (:func:`gmcrm.lead_log.timeline`): imported,
  quarantined, each event recorded ("Evento criado"), each send attempt with stage, substage, HTTP
  status, the request body and the response as formatted JSON, and a link to the Airflow task log
  of the run that sent it.

Server-rendered HTML (Jinja2, autoescaped); the only script makes links to Airflow pages open in
the UI rather than inside the page's frame. Data: one read-only DMS connection per
request through the ``dms_postgres`` Airflow connection; nothing connects at import time, so every
Airflow process can load the plugin without a database.

What the page shows of customers: nothing but Lead IDs. Free text that might quote a CPF/CNPJ,
e-mail or phone (quarantine reasons, error messages, summaries) goes through
:func:`gmcrm.normalize.mask_text`. The JSON bodies are shown as recorded: the events GM receives
carry stages, vehicles, trade-in plates and salesperson names, never customer contact data.

Auth: Airflow mounts plugin FastAPI apps as they are (``app.mount`` in
``airflow.api_fastapi.app.init_plugins``) and applies none of its own authentication to them; its
root ``JWTRefreshMiddleware`` only refreshes a ``_token`` cookie that is already there, it rejects
nothing. So every route here depends on :func:`require_lead_log_access`: the caller must be signed
in to Airflow (the UI's ``_token`` JWT cookie, or ``Authorization: Bearer <JWT>``, resolved by
Airflow's own ``get_user``) and the auth manager must allow reading the task logs of the send DAG
(``is_authorized_dag(GET, TASK_LOGS, gmcrm_send_triggers)``): the lead log shows what those logs
show. Unauthenticated browsers are sent to the auth manager's login page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from psycopg.rows import dict_row
from starlette.exceptions import HTTPException as StarletteHTTPException

from gmcrm import lead_log
from gmcrm.errors import error_text
from gmcrm.logs import get_logger
from gmcrm.normalize import mask_text
from gmcrm.web import ops_app

log = get_logger(__name__)

MOUNT_PREFIX = "/gmcrm"
SEND_DAG_ID = "gmcrm_send_triggers"
SEND_TASK_ID = "send_lane"  # mapped: one task instance per lane (map index == lane)
OUTCOMES: dict[str, str] = {
    "SENT": "Sent",
    "RETRY": "Retry (transient error)",
    "FAILED": "Failed",
    "DEFERRED": "Deferred (daily limit)",
    "DRY_RUN": "Dry run",
    "CANCELLED": "Cancelled (lead deleted at GM)",
}
KIND_LABELS = {
    "IMPORTED": "Imported",
    "QUARANTINED": "Quarantined",
    "EVENT_CREATED": "Evento criado",
    "SEND_ATTEMPT": "Send attempt",
    "NOT_SENT": "Not sent",
}
SEARCH_LIMIT = 200
LATEST_LIMIT = 50
STATEMENT_TIMEOUT = "30s"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

LEAD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DEALER_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,10}$")
# Dates the search accepts: beyond them a day's end is not a date Python or PostgreSQL can hold.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2999, 12, 31)
TRIGGER_CODE_RE = re.compile(r"^[A-Z]{3}$")

# Links to Airflow UI pages (task logs). Inside the UI this page runs in a sandboxed frame
# ("allow-scripts allow-same-origin allow-forms allow-downloads": no top navigation, no pop-ups),
# where a plain link would load a second Airflow UI inside the frame. The frame is same-origin, so it
# may push the UI's own history and tell its router (React Router follows popstate). Anywhere else
# (the page opened on its own) the link is followed as usual.
UI_LINK_SCRIPT = """document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-airflow-ui]") : null;
  if (!link || window.top === window || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  try {
    const ui = window.top;
    const state = ui.history.state;
    const idx = state && typeof state.idx === "number" ? state.idx + 1 : 0;
    ui.history.pushState({ usr: null, key: Math.random().toString(36).slice(2, 10), idx }, "", link.href);
    ui.dispatchEvent(new PopStateEvent("popstate", { state: ui.history.state }));
    event.preventDefault();
  } catch (error) {
    // Framed by another origin: follow the link in the frame.
  }
});"""
UI_LINK_SCRIPT_HASH = base64.b64encode(hashlib.sha256(UI_LINK_SCRIPT.encode()).digest()).decode()

# The page never caches, may only be framed by the Airflow UI (same origin) and runs no script but
# the one above.
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

Connect = Callable[[], "psycopg.Connection[Any]"]
# (dag_id, run_ids) -> number of send lanes (mapped task instances) of each run that is known.
LaneCounts = Callable[[str, Sequence[str]], Mapping[str, int]]


# ---------------------------------------------------------------------------------------------
# Data access: read-only, one connection per request.


def _dms_connection() -> psycopg.Connection[Any]:
    from gmcrm.airflow_support import dms_connection

    return dms_connection()


@contextmanager
def read_only(connect: Connect) -> Iterator[psycopg.Connection[Any]]:
    """A DMS connection in a READ ONLY transaction with a statement timeout, closed afterwards."""
    conn = connect()
    try:
        conn.read_only = True
        with conn.transaction():
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (STATEMENT_TIMEOUT,))
            yield conn
    finally:
        conn.close()


def airflow_lane_counts(dag_id: str, run_ids: Sequence[str]) -> dict[str, int]:
    """How many lanes (mapped ``send_lane`` task instances) each run had, from Airflow's metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    query = (
        select(TaskInstance.run_id, func.max(TaskInstance.map_index))
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.task_id == SEND_TASK_ID,
            TaskInstance.run_id.in_(list(run_ids)),
        )
        .group_by(TaskInstance.run_id)
    )
    with create_session() as session:
        rows = session.execute(query).all()
    return {str(run_id): int(top) + 1 for run_id, top in rows if top is not None and int(top) >= 0}


DEALERSHIPS_SQL = "SELECT dealer_code, name FROM gmcrm.dealership ORDER BY dealer_code"
TRIGGERS_SQL = "SELECT code, name FROM gmcrm.trigger_catalogue ORDER BY code"
# What lead_log.timeline's entries do not carry: the send log's own id (the anchor of an attempt),
# stage, substage and error code, matched to the timeline's attempts by (outbox_id, attempted_at).
ATTEMPTS_SQL = """
SELECT id, outbox_id, attempted_at, stage, substage, communication, error_code
FROM gmcrm.send_log WHERE lead_id = %(lead_id)s ORDER BY id
"""
# The lane of a lead, as the send DAG assigns it (include/sql/queries/send.sql): gmcrm.lead_hash(lead_id) % lanes.
LEAD_HASH_SQL = "SELECT lead_id, gmcrm.lead_hash(lead_id) FROM unnest(%s::text[]) AS lead_id"


# ---------------------------------------------------------------------------------------------
# Links to the Airflow UI.


@dataclass(frozen=True)
class TaskLogLink:
    href: str
    label: str


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
    lead_hash: dict[str, int] = {}
    if hashed:
        lead_hash = {str(k): int(v) for k, v in conn.execute(LEAD_HASH_SQL, (hashed,)).fetchall()}

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
        task_path = f"{run_path}/tasks/{SEND_TASK_ID}/mapped"
        count = lanes.get(str(run_id), 0)
        if count < 1:
            links.append(TaskLogLink(task_path, f"{SEND_TASK_ID} lanes of run {run_id}"))
            continue
        lane = 0 if count == 1 else lead_hash[str(r["lead_id"])] % count
        try_number = r.get("try_number")
        query = f"?{urlencode({'try_number': try_number})}" if try_number else ""
        label = f"{SEND_TASK_ID} lane {lane}" + (f", try {try_number}" if try_number else "") + f" of run {run_id}"
        links.append(TaskLogLink(f"{task_path}/{lane}{query}", label))
    return links


# ---------------------------------------------------------------------------------------------
# Filters of the search form.


@dataclass(frozen=True)
class Filters:
    dealer_code: str = ""
    date_from: str = ""
    date_to: str = ""
    lead_id: str = ""
    trigger_code: str = ""
    outcome: str = ""
    errors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        def value(name: str, limit: int = 64) -> str:
            return (params.get(name) or "").strip()[:limit]

        errors: list[str] = []
        dealer_code, lead_id = value("dealer_code"), value("lead_id")
        trigger_code, outcome = value("trigger_code").upper(), value("outcome").upper()
        date_from, date_to = value("date_from"), value("date_to")
        if dealer_code and not DEALER_CODE_RE.match(dealer_code):
            errors.append("Dealership: not a dealer code.")
        if lead_id and not LEAD_ID_RE.match(lead_id):
            errors.append("Lead ID: letters and digits only, as GM shows it (e.g. 00QWD00000H4eBaYAJ).")
        if trigger_code and not TRIGGER_CODE_RE.match(trigger_code):
            errors.append("Trigger code: three letters, e.g. CRE.")
        if outcome and outcome not in OUTCOMES:
            errors.append("Outcome: one of " + ", ".join(OUTCOMES) + ".")
        parsed: dict[str, date] = {}
        for name, text, label in (("from", date_from, "From"), ("to", date_to, "To")):
            if text:
                try:
                    parsed[name] = date.fromisoformat(text)
                except ValueError:
                    errors.append(f"{label} date: use the date picker (YYYY-MM-DD).")
                    continue
                if not EARLIEST_DATE <= parsed[name] <= LATEST_DATE:
                    errors.append(f"{label} date: between {EARLIEST_DATE} and {LATEST_DATE}, please.")
        if "from" in parsed and "to" in parsed and parsed["to"] < parsed["from"]:
            errors.append("Date range: the end is before the start.")
        return cls(dealer_code, date_from, date_to, lead_id, trigger_code, outcome, tuple(errors))

    @property
    def given(self) -> bool:
        return any(self.as_params().values())

    def as_params(self) -> dict[str, str]:
        return {
            "dealer_code": self.dealer_code,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "lead_id": self.lead_id,
            "trigger_code": self.trigger_code,
            "outcome": self.outcome,
        }

    def search_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`gmcrm.lead_log.search`. Dates are whole days in the DMS's time zone:
        naive datetimes, which PostgreSQL reads in the session's ``TimeZone``."""
        start = datetime.combine(date.fromisoformat(self.date_from), datetime.min.time()) if self.date_from else None
        end = (
            datetime.combine(date.fromisoformat(self.date_to) + timedelta(days=1), datetime.min.time())
            if self.date_to
            else None
        )
        return {
            "dealer_code": self.dealer_code or None,
            "lead_id": self.lead_id or None,
            "trigger_code": self.trigger_code or None,
            "outcome": self.outcome or None,
            "date_from": start,
            "date_to": end,
        }


# ---------------------------------------------------------------------------------------------
# What the templates show.


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


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    wide: bool = False  # free text: a whole row


@dataclass
class TimelineItem:
    anchor: str
    at: datetime
    kind: str
    label: str
    trigger_code: str | None
    summary: str
    facts: list[Fact] = field(default_factory=list)
    outcome: str | None = None
    status_code: int | None = None
    request_json: str | None = None
    response_json: str | None = None
    task_log: TaskLogLink | None = None


def pretty_json(value: Any) -> str | None:
    """Formatted JSON (indented, accents kept); the template escapes it."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def masked(text: str, *keep: str) -> str:
    """:func:`mask_text`, leaving the given tokens (Lead IDs: their digit runs look like phones) whole."""
    tokens = [k for k in keep if k]
    if not tokens:
        return mask_text(text)
    parts = re.split("(" + "|".join(re.escape(k) for k in tokens) + ")", text)
    return "".join(part if part in tokens else mask_text(part) for part in parts)


def _value(value: Any) -> str:
    """A code, id, status or number: shown as it is."""
    return "—" if value is None or value == "" else str(value)


def _free_text(value: Any, *keep: str) -> str:
    """Free text that may quote customer data: masked."""
    return "—" if value is None or value == "" else masked(str(value), *keep)


def _when(value: Any, tz: tzinfo | None) -> str:
    """A time from the timeline's JSON details (ISO text) or from a column (datetime)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return _value(value)
    return format_time(value, tz) if isinstance(value, datetime) else _value(value)


def format_time(value: datetime | None, tz: tzinfo | None = None) -> str:
    if value is None:
        return "—"
    if tz is not None and value.tzinfo is not None:
        value = value.astimezone(tz)
    offset = value.strftime("%z")
    return value.strftime("%Y-%m-%d %H:%M:%S") + (f" {offset[:3]}:{offset[3:]}" if offset else "")


def timeline_items(
    conn: psycopg.Connection[Any],
    lead_id: str,
    *,
    ui_root: str,
    lane_counts: LaneCounts | None,
    tz: tzinfo | None,
) -> list[TimelineItem]:
    entries = lead_log.timeline(conn, lead_id)
    with conn.cursor(row_factory=dict_row) as cur:
        extra_rows = cur.execute(ATTEMPTS_SQL, {"lead_id": lead_id}).fetchall()
    extras: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for row in extra_rows:
        extras.setdefault((row["outbox_id"], row["attempted_at"]), []).append(row)
    attempts = [e for e in entries if e.kind == "SEND_ATTEMPT"]
    links = task_log_links(
        conn,
        [{"lead_id": lead_id, **e.detail} for e in attempts],
        ui_root=ui_root,
        lane_counts=lane_counts,
    )
    link_of = {id(e): link for e, link in zip(attempts, links, strict=True)}

    items: list[TimelineItem] = []
    for n, entry in enumerate(entries):
        d = entry.detail or {}
        item = TimelineItem(
            anchor=f"entry-{n}",
            at=entry.at,
            kind=entry.kind,
            label=KIND_LABELS.get(entry.kind, entry.kind.title()),
            trigger_code=entry.trigger_code,
            summary=masked(entry.summary or "", lead_id),
        )
        if entry.kind == "IMPORTED":
            item.anchor = f"contact-{d.get('contact_id')}"
            item.facts = [
                Fact("DMS contact", _value(d.get("contact_id"))),
                Fact("Dealership", _value(d.get("dealer_code"))),
                Fact("Lead type", _value(d.get("lead_type"))),
                Fact("Contact status", _value(d.get("status"))),
                Fact("GM stage", _value(d.get("gm_stage"))),
                Fact("GM substage", _value(d.get("gm_substage"))),
            ]
        elif entry.kind == "QUARANTINED":
            item.facts = [
                Fact("Times seen", _value(d.get("times_seen"))),
                Fact("Resolved at", _when(d.get("resolved_at"), tz)),
                Fact("Reason", _free_text(d.get("reason"), lead_id), wide=True),
            ]
        elif entry.kind == "EVENT_CREATED":
            item.anchor = f"event-{d.get('outbox_id')}"
            item.facts = [
                Fact("Outbox event", _value(d.get("outbox_id"))),
                Fact("Status now", _value(d.get("status"))),
                Fact("Attempts", _value(d.get("attempts"))),
                Fact("Sent at", _when(d.get("sent_at"), tz)),
            ]
            if d.get("last_error"):
                item.facts.append(Fact("Last error", _free_text(d.get("last_error"), lead_id), wide=True))
            if why := d.get("cancelled_reason") or d.get("skipped_reason"):
                item.facts.append(Fact("Why not sent", _free_text(why, lead_id), wide=True))
        elif entry.kind == "NOT_SENT":
            item.facts = [
                Fact("DMS record", _value(f"{d.get('source_table')} {d.get('source_id')}")),
                Fact("Reason", _value(d.get("reason_code"))),
                Fact("Closed by event", _value(d.get("closed_by_outbox_id"))),
                Fact("Why not sent", _free_text(d.get("reason"), lead_id), wide=True),
            ]
        elif entry.kind == "SEND_ATTEMPT":
            matches = extras.get((d.get("outbox_id"), entry.at)) or [{}]
            extra = matches.pop(0) if len(matches) > 1 else matches[0]
            sent = d.get("request_body")
            body: dict[str, Any] = sent if isinstance(sent, dict) else {}
            if extra.get("id") is not None:
                item.anchor = f"attempt-{extra['id']}"
            item.outcome = d.get("outcome")
            item.status_code = d.get("status_code")
            item.facts = [
                Fact("Outcome", OUTCOMES.get(str(d.get("outcome")), _value(d.get("outcome")))),
                Fact("Stage", _value(extra.get("stage") or body.get("Stage__c"))),
                Fact("Substage", _value(extra.get("substage") or body.get("Substage__c"))),
                Fact("HTTP status", _value(d.get("status_code"))),
                Fact("Error code", _value(extra.get("error_code"))),
                Fact("Outbox event", _value(d.get("outbox_id"))),
                Fact("Airflow run", _value(d.get("run_id"))),
                Fact("Try", _value(d.get("try_number"))),
            ]
            if d.get("error_message"):
                item.facts.append(Fact("Error message", _free_text(d.get("error_message"), lead_id), wide=True))
            item.request_json = pretty_json(d.get("request_body"))
            item.response_json = pretty_json(d.get("response_body"))
            item.task_log = link_of.get(id(entry))
        items.append(item)
    return items


# ---------------------------------------------------------------------------------------------
# Auth (see the module docstring).


async def airflow_user(request: Request) -> Any:
    """The signed-in Airflow user: ``Authorization: Bearer <JWT>`` or the UI's ``_token`` cookie."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def require_lead_log_access(user: Annotated[Any, Depends(airflow_user)]) -> None:
    """Signed in, and allowed to read the send DAG's task logs (what this page shows)."""
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


def _login_url(request: Request) -> str | None:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return str(get_auth_manager().get_url_login(next_url=str(request.url)))
    except Exception:  # no auth manager in this process: answer 401 as a page
        return None


# ---------------------------------------------------------------------------------------------
# The app.


def app_root(request: Request) -> str:
    """Where this app is mounted (``/gmcrm``, after Airflow's own base path)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def ui_root(request: Request, mount_prefix: str) -> str:
    """The Airflow UI's base path: the mount point without the plugin's prefix."""
    root = app_root(request)
    return root.removesuffix(mount_prefix) if mount_prefix else root


def timeline_href(root: str, lead_id: str, anchor: str | None = None) -> str:
    return f"{root}/lead-log/lead/{quote(lead_id, safe='')}" + (f"#{anchor}" if anchor else "")


def create_app(
    *,
    connect: Connect | None = None,
    lane_counts: LaneCounts | None = airflow_lane_counts,
    mount_prefix: str = MOUNT_PREFIX,
) -> FastAPI:
    """The lead log app. ``connect`` defaults to ``dms_postgres``; ``lane_counts`` to Airflow's
    metadata DB (``None``: link every attempt to its run's lanes)."""
    connect_dms: Connect = connect or _dms_connection
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.filters["time"] = format_time
    templates.env.globals["outcomes"] = OUTCOMES
    templates.env.globals["ui_link_script"] = UI_LINK_SCRIPT

    app = FastAPI(
        title="gmcrm lead log",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(require_lead_log_access)],
    )

    def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        root = app_root(request)
        base = {"root": root, "search_url": f"{root}/lead-log", "ops_url": f"{root}/ops", "tz_name": ""}
        return templates.TemplateResponse(
            request, name, {**base, **context}, status_code=status_code, headers=SECURITY_HEADERS
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and request.method == "GET" and (login := _login_url(request)):
            return RedirectResponse(login, status_code=303, headers=SECURITY_HEADERS)
        titles = {401: "Sign in to Airflow first", 403: "Not allowed", 404: "Not found"}
        return page(
            request,
            "error.html",
            {"title": titles.get(exc.status_code, "Error"), "message": str(exc.detail)},
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
        return page(request, "error.html", {"title": "DMS database unavailable", "message": message}, 503)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{app_root(request)}/lead-log", status_code=307)

    @app.get("/lead-log", response_class=HTMLResponse, name="search")
    def search_page(request: Request) -> HTMLResponse:
        filters = Filters.parse(request.query_params)
        root, ui = app_root(request), ui_root(request, mount_prefix)
        rows: list[AttemptRow] = []
        with read_only(connect_dms) as conn:
            tz = conn.info.timezone
            with conn.cursor() as cur:
                dealerships = cur.execute(DEALERSHIPS_SQL).fetchall()
                triggers = cur.execute(TRIGGERS_SQL).fetchall()
            found: list[dict[str, Any]] = []
            if not filters.errors:
                limit = SEARCH_LIMIT if filters.given else LATEST_LIMIT
                found = lead_log.search(conn, **filters.search_kwargs(), limit=limit)
            links = task_log_links(conn, found, ui_root=ui, lane_counts=lane_counts)
            extras = (
                {}
                if filters.errors
                else ops_app.search_extras(
                    conn, dealer_code=filters.dealer_code, lead_id=filters.lead_id, kwargs=filters.search_kwargs()
                )
            )
        for r, link in zip(found, links, strict=True):
            rows.append(
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
            )
        return page(
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
                **ops_app.links(root, ui),
                **extras,
            },
        )

    @app.get("/lead-log/lead/{lead_id}", response_class=HTMLResponse, name="timeline")
    def timeline_page(request: Request, lead_id: str) -> HTMLResponse:
        if not LEAD_ID_RE.match(lead_id):
            raise HTTPException(status_code=404, detail="Not a Lead ID.")
        with read_only(connect_dms) as conn:
            tz = conn.info.timezone
            items = timeline_items(
                conn, lead_id, ui_root=ui_root(request, mount_prefix), lane_counts=lane_counts, tz=tz
            )
        if not items:
            raise HTTPException(status_code=404, detail=f"Nothing is recorded for lead {lead_id}.")
        imported = [i for i in items if i.kind == "IMPORTED"]
        attempts = [i for i in items if i.kind == "SEND_ATTEMPT"]
        return page(
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

    ops_app.add_routes(
        app,
        page=page,
        read_only=lambda: read_only(connect_dms),
        app_root=app_root,
        ui_root=lambda request: ui_root(request, mount_prefix),
    )
    return app
