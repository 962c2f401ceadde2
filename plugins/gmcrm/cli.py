"""The ``gmcrm`` command line: what people do by hand.

Every command works on the DMS database named by ``--dms-url`` / ``GMCRM_DMS_URL``, or on the
embedded PostgreSQL under ``.gmcrm/`` when none is named.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import psycopg
import typer
from typer.core import TyperGroup

from gmcrm import db, dealerships, lead_log, migrate
from gmcrm.cli_deploy import deploy_app
from gmcrm.cli_options import DmsUrl
from gmcrm.cli_quarantine import quarantine_app
from gmcrm.errors import error_text
from gmcrm.normalize import mask_text

#: Seconds to wait for the DMS database before saying it cannot be reached.
CONNECT_TIMEOUT = 10


def _fail(message: str, code: int = 1) -> NoReturn:
    one_line = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    typer.echo(f"Error: {mask_text(one_line)}", err=True)
    raise typer.Exit(code)


class _OneLineErrors(TyperGroup):
    """Every command's failure is one masked line on stderr and a non-zero exit, never a traceback:
    bad option values (exit 2), an unreachable DMS, database errors and anything else (exit 1)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:  # usage errors: bad or missing options, BadParameter...
            if type(exc).__name__ == "NoArgsIsHelpError":  # typer answers these with the help
                raise
            cause = exc.__cause__
            # A database error turned into BadParameter: its useful parts (SQLSTATE, constraint...) in
            # one line rather than the server's multi-line text.
            message = (
                f"Invalid value: {error_text(cause)}" if isinstance(cause, psycopg.Error) else exc.format_message()
            )
            _fail(message, getattr(exc, "exit_code", 2))
        except psycopg.OperationalError as exc:
            _fail(f"cannot reach the DMS database: {error_text(exc)}")
        except psycopg.errors.UndefinedTable as exc:  # a database gmcrm never migrated
            _fail(
                f"{error_text(exc)}. This database has no gmcrm schema: run `gmcrm db upgrade` (and `gmcrm db "
                "seed-demo` for the demo's settings), or point at the right one with --dms-url / GMCRM_DMS_URL "
                "or GMCRM_HOME (make run's is the default; make demo's is GMCRM_HOME=.gmcrm/demo)"
            )
        except Exception as exc:
            _fail(error_text(exc))


def _echo(text: str) -> None:
    """Output goes through the masking too: error texts from GM or the database may quote a customer."""
    typer.echo(mask_text(text))


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty")
    return value


app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_show_locals=False, cls=_OneLineErrors)
db_app = typer.Typer(help="Migrate the DMS schema and seed demo settings.", no_args_is_help=True)
dealer_app = typer.Typer(help="Add, change and list dealerships.", no_args_is_help=True)
events_app = typer.Typer(help="List, retry and skip trigger events.", no_args_is_help=True)
reasons_app = typer.Typer(help="Map DMS lost-sale reasons to GM reasons (Motivo no CRM).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dealer_app, name="dealership")
app.add_typer(events_app, name="events")
app.add_typer(reasons_app, name="reasons")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(deploy_app, name="deploy")


def _url(dms_url: str | None) -> str:
    return dms_url or db.EmbeddedPostgres().start()


def _connect(dms_url: str | None) -> psycopg.Connection[Any]:
    url = _url(dms_url)
    options = (
        {} if "connect_timeout" in psycopg.conninfo.conninfo_to_dict(url) else {"connect_timeout": CONNECT_TIMEOUT}
    )
    return db.connect(url, **options)


@db_app.command("upgrade")
def db_upgrade(dms_url: DmsUrl = None) -> None:
    """Apply every pending migration (safe to run any number of times)."""
    url = _url(dms_url)
    applied = migrate.upgrade(url)
    typer.echo(f"{db.redact_url(url)}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


@db_app.command("status")
def db_status(dms_url: DmsUrl = None) -> None:
    """List applied and pending migrations."""
    state = migrate.status(_url(dms_url))
    for mid in state.applied:
        typer.echo(f"applied  {mid}")
    for mid in state.pending:
        typer.echo(f"pending  {mid}")


@db_app.command("seed-demo")
def db_seed_demo(dms_url: DmsUrl = None) -> None:
    """Seed the demo dealerships (one per routing mode), their users, departments and settings."""
    try:  # the demo's data lives with the devtools (sandbox/gmcrm_devtools), not in production code
        from gmcrm_devtools.demo_seed import seed_demo_world
    except ImportError:
        raise typer.BadParameter("the demo seed needs gmcrm_devtools (sandbox/), which is not installed here") from None

    with _connect(dms_url) as conn:
        codes = seed_demo_world(conn)
    typer.echo(f"seeded demo dealerships with users, contact forms, reasons and models: {', '.join(codes)}")


@dealer_app.command("list")
def dealer_list(dms_url: DmsUrl = None) -> None:
    """Every dealership with its routing, state and last integration."""
    with _connect(dms_url) as conn:
        rows = dealerships.list_dealerships(conn)
    _echo(f"{'code':<10} {'enabled':<8} {'routing':<13} {'last integration':<26} name")
    for d in rows:
        last = d.last_integration_at.isoformat(timespec="seconds") if d.last_integration_at else "never"
        _echo(f"{d.dealer_code:<10} {d.integration_enabled!s:<8} {d.routing:<13} {last:<26} {d.name}")


def _settings(
    name: str | None,
    routing: str | None,
    enabled: bool | None,
    traffic_origin: str | None,
    gm_conn_id: str | None,
    users: dict[str, str | None],
    conn: psycopg.Connection[Any],
    dealer_code: str,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in (
        ("name", name),
        ("routing", routing.upper() if routing else None),
        ("integration_enabled", enabled),
        ("traffic_origin", traffic_origin),
        ("gm_conn_id", gm_conn_id),
    ):
        if value is not None:
            fields[key] = value
    for kind, login in users.items():
        if login:
            fields[f"{kind}_user_id"] = dealerships.user_id(conn, dealer_code, login)
    return fields


@dealer_app.command("set")
def dealer_set(
    dealer_code: Annotated[str, typer.Argument(help="GM dealer code")],
    name: Annotated[str | None, typer.Option(help="Dealership name", callback=_not_blank)] = None,
    routing: Annotated[str | None, typer.Option(help="DIRECT or DISTRIBUTION")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled", help="Integration on/off")] = None,
    traffic_origin: Annotated[str | None, typer.Option(help="Origem de Tráfego for new contacts")] = None,
    gm_conn_id: Annotated[str | None, typer.Option(help="Airflow connection to GM CRM")] = None,
    vehicles_user: Annotated[str | None, typer.Option(help="Login receiving vehicle leads")] = None,
    parts_user: Annotated[str | None, typer.Option(help="Login receiving parts leads")] = None,
    service_user: Annotated[str | None, typer.Option(help="Login receiving service leads")] = None,
    after_sales_user: Annotated[str | None, typer.Option(help="Login receiving after-sales leads")] = None,
    force: Annotated[bool, typer.Option("--force", help="Enable even if every lead would quarantine")] = False,
    dms_url: DmsUrl = None,
) -> None:
    """Add a dealership or change its settings; the next scheduled import picks it up. Logins are DMS
    users (gmcrm users list CODE). --enabled is refused (exit 2, with what to fix) when every lead would
    be quarantined, unless --force; `gmcrm dealership check CODE` says the same at any time."""
    from gmcrm import onboarding
    from gmcrm.cli_onboarding import refuse_enabling

    if gm_conn_id is not None:
        try:
            dealerships.check_gm_connection(gm_conn_id)
        except dealerships.UnknownConnection as exc:
            typer.echo(f"gmcrm dealership set: {exc}", err=True)  # one line, nothing saved
            raise typer.Exit(2) from None
    with _connect(dms_url) as conn:
        users = {
            "vehicles": vehicles_user,
            "parts": parts_user,
            "service": service_user,
            "after_sales": after_sales_user,
        }
        try:
            fields = _settings(name, routing, enabled, traffic_origin, gm_conn_id, users, conn, dealer_code)
            origin_error = traffic_origin and onboarding.traffic_origin_error(
                onboarding.read_catalogues(conn, dealer_code), dealer_code, traffic_origin
            )
            if origin_error:
                raise ValueError(origin_error)
            dealerships.upsert_dealership(conn, dealer_code, **fields)
        except (ValueError, psycopg.errors.CheckViolation) as exc:
            raise typer.BadParameter(str(exc)) from exc
        left = refuse_enabling(conn, dealer_code, force) if enabled else []
    typer.echo(f"dealership {dealer_code} saved" + (", enabled" if enabled else ""))
    for line in left:
        _echo(line)


@events_app.command("list")
def events_list(
    status: Annotated[
        str, typer.Option(help="PENDING, RETRY, FAILED, BLOCKED, SENT, SKIPPED or CANCELLED (lead deleted at GM)")
    ] = "FAILED",
    dealer_code: Annotated[str | None, typer.Option(help="Only this dealership")] = None,
    lead_id: Annotated[str | None, typer.Option(help="Only this Lead ID")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows", min=1)] = 50,
    dms_url: DmsUrl = None,
) -> None:
    """Events in the outbox with their last error (or why they were skipped or cancelled): what waits,
    and why."""
    from gmcrm.send.outbox import list_events
    from gmcrm.send.report import OutboxStatus

    if status.upper() not in OutboxStatus.__members__:
        raise typer.BadParameter(f"--status must be one of {', '.join(OutboxStatus)}")
    with _connect(dms_url) as conn:
        rows = list_events(conn, status.upper(), dealer_code=dealer_code, lead_id=lead_id, limit=limit)
    for r in rows:
        _echo(
            f"{r.id:>8} {r.dealer_code:<8} {r.lead_id} {r.trigger_code} {r.status:<8} tries={r.attempts} "
            f"{r.occurred_at:%Y-%m-%d %H:%M:%S} {r.why}"
        )
    typer.echo(f"{len(rows)} event(s) {status.upper()}")


@events_app.command("retry")
def events_retry(
    outbox_ids: Annotated[list[int] | None, typer.Argument(help="Outbox ids; none with --all-failed")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every FAILED event (of --dealer-code)")] = False,
    dealer_code: Annotated[str | None, typer.Option(help="With --all-failed: only this dealership")] = None,
    dms_url: DmsUrl = None,
) -> None:
    """Put FAILED events back in the queue (after fixing the cause); the next send run takes them."""
    from gmcrm.send.outbox import SendFilters, prepare

    if not outbox_ids and not all_failed:
        raise typer.BadParameter("give outbox ids or --all-failed")
    filters = SendFilters(dealer_codes=[dealer_code] if dealer_code else None, outbox_ids=outbox_ids or None)
    with _connect(dms_url) as conn:
        # The same requeue as a send run with retry_failed: the events behind them are unblocked too.
        requeued = prepare(conn, filters, retry_failed=True)
    typer.echo(f"{requeued} event(s) back in the queue")


@events_app.command("skip")
def events_skip(
    outbox_id: Annotated[int, typer.Argument(help="Outbox id of the event never to send")],
    why: Annotated[str, typer.Option("--why", help="Why it is skipped (kept on the event)", callback=_not_blank)],
    dms_url: DmsUrl = None,
) -> None:
    """Never send this event; the events waiting behind it move on."""
    from gmcrm.send.outbox import skip_event

    with _connect(dms_url) as conn:
        ok = skip_event(conn, outbox_id, why)
    if not ok:
        raise typer.BadParameter(f"event {outbox_id} is not waiting (already sent or skipped?)")
    typer.echo(f"event {outbox_id} skipped")


@reasons_app.command("list")
def reasons_list(
    dealer_code: Annotated[str, typer.Argument(help="GM dealer code")],
    unmapped: Annotated[bool, typer.Option("--unmapped", help="Only reasons without a GM reason")] = False,
    dms_url: DmsUrl = None,
) -> None:
    """The dealership's reasons with their GM reason."""
    from gmcrm.dms_catalogues import list_reasons

    with _connect(dms_url) as conn:
        rows = list_reasons(conn, dealer_code, unmapped=unmapped)
    for code, rtype, gm, desc in rows:
        _echo(f"{code:<10} {rtype:<18} {gm:<20} {desc}")


@reasons_app.command("map")
def reasons_map(
    dealer_code: Annotated[str, typer.Argument(help="GM dealer code")],
    code: Annotated[str, typer.Argument(help="DMS reason code")],
    gm_reason: Annotated[str, typer.Argument(help="GM reason, e.g. BoughtElsewhere")],
    dms_url: DmsUrl = None,
) -> None:
    """Set a reason's GM reason (Motivo no CRM); then retry the events that failed on it."""
    from gmcrm.dms_catalogues import map_reason

    with _connect(dms_url) as conn:
        try:
            map_reason(conn, dealer_code, code, gm_reason)
        except (psycopg.Error, LookupError, ValueError) as exc:
            raise typer.BadParameter(str(exc).splitlines()[0]) from exc
    typer.echo(f"{dealer_code} reason {code} -> {gm_reason}; retry its failed events: gmcrm events retry --all-failed")


@app.command("lead-log")
def lead_log_cmd(
    lead_id: Annotated[str, typer.Argument(help="GM Lead ID")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the details as JSON")] = False,
    dms_url: DmsUrl = None,
) -> None:
    """What happened to one lead: imported, each event created, each send attempt."""
    import json

    with _connect(dms_url) as conn:
        entries = lead_log.timeline(conn, lead_id)
    if not entries:
        typer.echo(f"nothing recorded for lead {lead_id}")
        raise typer.Exit(1)
    for e in entries:
        _echo(f"{e.at:%Y-%m-%d %H:%M:%S} {e.kind:<14} {e.summary}")
        if json_out:
            _echo(json.dumps(e.detail, indent=2, ensure_ascii=False, default=str))


@app.command("sandbox")
def sandbox_cmd(
    port: Annotated[int, typer.Option(help="HTTPS port (0: any free one)")] = 8443,
    dealers: Annotated[int, typer.Option(help="Dealerships to generate leads for (BR0001...)")] = 3,
    leads_per_dealer: Annotated[int, typer.Option(help="Leads per dealership")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the generated leads")] = 42,
    state_dir: Annotated[str, typer.Option(help="Where the certificate and sandbox.json go")] = ".gmcrm/sandbox",
) -> None:
    """Start the GM CRM sandbox (a local Salesforce stand-in over HTTPS) in the foreground."""
    import subprocess
    import sys

    raise typer.Exit(
        subprocess.call(
            [
                sys.executable,
                "-m",
                "gmcrm_sandbox",
                "serve",
                "--port",
                str(port),
                "--dealers",
                str(dealers),
                "--leads-per-dealer",
                str(leads_per_dealer),
                "--seed",
                str(seed),
                "--state-dir",
                state_dir,
            ]
        )
    )


# The onboarding commands (users, departments, contact-settings, dealership check) live in their own
# module; importing it registers them on `app`.
from gmcrm import cli_onboarding  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    # `python -m gmcrm.cli`: run the importable module's app, the one the onboarding commands joined.
    from gmcrm.cli import main as _main

    _main()
