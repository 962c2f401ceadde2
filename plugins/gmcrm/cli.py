"""The ``gmcrm`` command line: what people do by hand.

Every command works on the DMS database named by ``--dms-url`` / ``GMCRM_DMS_URL``, or on the
embedded PostgreSQL under ``.gmcrm/`` when none is named.
"""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
import typer

from gmcrm import db, dealerships, migrate

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="Migrate the DMS schema and seed demo settings.", no_args_is_help=True)
dealer_app = typer.Typer(help="Add, change and list dealerships.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dealer_app, name="dealership")

DmsUrl = Annotated[
    str | None,
    typer.Option(
        "--dms-url",
        envvar=db.DMS_URL_ENV,
        help="DMS database URL; the embedded PostgreSQL under .gmcrm/ when not given.",
        show_envvar=True,
    ),
]


def _url(dms_url: str | None) -> str:
    return dms_url or db.EmbeddedPostgres().start()


def _connect(dms_url: str | None) -> psycopg.Connection[Any]:
    return db.connect(_url(dms_url))


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
    with _connect(dms_url) as conn:
        codes = dealerships.seed_demo(conn)
    typer.echo(f"seeded demo dealerships: {', '.join(codes)}")


@dealer_app.command("list")
def dealer_list(dms_url: DmsUrl = None) -> None:
    """Every dealership with its routing, state and last integration."""
    with _connect(dms_url) as conn:
        rows = dealerships.list_dealerships(conn)
    typer.echo(f"{'code':<10} {'enabled':<8} {'routing':<13} {'last integration':<26} name")
    for d in rows:
        last = d.last_integration_at.isoformat(timespec="seconds") if d.last_integration_at else "never"
        typer.echo(f"{d.dealer_code:<10} {d.integration_enabled!s:<8} {d.routing:<13} {last:<26} {d.name}")


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
    name: Annotated[str | None, typer.Option(help="Dealership name")] = None,
    routing: Annotated[str | None, typer.Option(help="DIRECT or DISTRIBUTION")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled", help="Integration on/off")] = None,
    traffic_origin: Annotated[str | None, typer.Option(help="Origem de Tráfego for new contacts")] = None,
    gm_conn_id: Annotated[str | None, typer.Option(help="Airflow connection to GM CRM")] = None,
    vehicles_user: Annotated[str | None, typer.Option(help="Login receiving vehicle leads")] = None,
    parts_user: Annotated[str | None, typer.Option(help="Login receiving parts leads")] = None,
    service_user: Annotated[str | None, typer.Option(help="Login receiving service leads")] = None,
    after_sales_user: Annotated[str | None, typer.Option(help="Login receiving after-sales leads")] = None,
    dms_url: DmsUrl = None,
) -> None:
    """Add a dealership or change its settings; the next scheduled import picks it up."""
    with _connect(dms_url) as conn:
        users = {
            "vehicles": vehicles_user,
            "parts": parts_user,
            "service": service_user,
            "after_sales": after_sales_user,
        }
        try:
            fields = _settings(name, routing, enabled, traffic_origin, gm_conn_id, users, conn, dealer_code)
            dealerships.upsert_dealership(conn, dealer_code, **fields)
        except (ValueError, psycopg.errors.CheckViolation) as exc:
            raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"dealership {dealer_code} saved")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
