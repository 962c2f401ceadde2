"""``gmcrm`` commands for onboarding a dealership: its DMS users and departments, its contact settings,
and ``gmcrm dealership check``. Registered on :data:`gmcrm.cli.app` when that module is imported."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import psycopg
import typer

from gmcrm import onboarding
from gmcrm.cli import _connect, _echo, app, dealer_app
from gmcrm.cli_options import DmsUrl
from gmcrm.leads.transform import LEAD_TYPES
from gmcrm.normalize import mask_text
from gmcrm.paths import named_queries

_SQL = named_queries("onboarding")

# Importing Airflow (the GM connection look-up of `dealership check` and `set --enabled`) configures the
# root logger; pgserver then logs its stopping of the embedded PostgreSQL at exit, a dozen lines after
# the answer. Its errors still raise.
logging.getLogger("pgserver").propagate = False

users_app = typer.Typer(
    help="The DMS users of a dealership (created in the DMS; gmcrm points at them).", no_args_is_help=True
)
departments_app = typer.Typer(help="The DMS departments of a dealership.", no_args_is_help=True)
settings_app = typer.Typer(
    help="Contact settings per lead type (contact type and subtype; department for used vehicles) and the "
    "traffic origin: the manual's vehicle, parts, workshop and After Sales parameters.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")
app.add_typer(departments_app, name="departments")
app.add_typer(settings_app, name="contact-settings")

DealerCode = Annotated[str, typer.Argument(help="GM dealer code")]


@users_app.command("list")
def users_list(dealer_code: DealerCode, dms_url: DmsUrl = None) -> None:
    """Login, name, department and whether active, of every DMS user of the dealership."""
    with _connect(dms_url) as conn:
        rows = conn.execute(
            _SQL["users_list"],
            (dealer_code,),
        ).fetchall()
    if not rows:
        typer.echo(f"the DMS has no users for {dealer_code} (they are created in the DMS, not by gmcrm)")
        raise typer.Exit(1)
    _echo(f"{'login':<20} {'department':<11} {'active':<7} name")
    for login, name, department, active in rows:
        _echo(f"{login:<20} {department:<11} {'yes' if active else 'NO':<7} {name}")


@departments_app.command("list")
def departments_list(dealer_code: DealerCode, dms_url: DmsUrl = None) -> None:
    """Code, name and number of active users of every DMS department of the dealership."""
    with _connect(dms_url) as conn:
        rows = conn.execute(
            _SQL["departments_list"],
            (dealer_code,),
        ).fetchall()
    if not rows:
        typer.echo(f"the DMS has no departments for {dealer_code} (they are created in the DMS, not by gmcrm)")
        raise typer.Exit(1)
    _echo(f"{'code':<11} {'users':>5}  name")
    for code, name, users in rows:
        _echo(f"{code:<11} {users:>5}  {name}")


@settings_app.command("list")
def settings_list(dealer_code: DealerCode, dms_url: DmsUrl = None) -> None:
    """The dealership's contact settings per lead type and traffic origin, and the DMS lists they are
    chosen from."""
    with _connect(dms_url) as conn:
        rows = dict(
            (r[0], r[1:])
            for r in conn.execute(
                _SQL["settings_list"],
                (dealer_code,),
            )
        )
        origin = conn.execute(_SQL["dealership_traffic_origin"], (dealer_code,)).fetchone()
        cat = onboarding.read_catalogues(conn, dealer_code)
    if origin is None:
        _echo(f"{dealer_code} is not a gmcrm dealership yet: gmcrm dealership set {dealer_code} --name NAME")
    _echo(f"{'lead type':<13} {'contact type':<13} {'subtype':<15} department")
    for lead_type in LEAD_TYPES:
        ctype, subtype, department = rows.get(lead_type, ("-", "-", "-"))
        department = department if lead_type == onboarding.DEPARTMENT_LEAD_TYPE else "(the user's)"
        _echo(f"{lead_type:<13} {ctype:<13} {subtype:<15} {department}")
    _echo(f"traffic origin: {(origin[0] if origin else None) or '-'}")
    types = "; ".join(f"{t}: {', '.join(subs) or '-'}" for t, subs in cat.contact_types.items())
    _echo(f"DMS contact types (subtypes): {types or 'none'}")
    _echo(f"DMS traffic origins: {', '.join(cat.traffic_origins) or 'none'}")
    _echo(f"DMS departments: {', '.join(sorted(cat.departments)) or 'none'}")


def _upper(value: str | None) -> str | None:
    return value.strip().upper() if value is not None else None


@settings_app.command("set")
def settings_set(
    dealer_code: DealerCode,
    lead_type: Annotated[str | None, typer.Option(help=f"One of {', '.join(LEAD_TYPES)}")] = None,
    contact_type: Annotated[
        str | None, typer.Option(help="Contact type (Tipo do Contato), from the DMS's list")
    ] = None,
    contact_subtype: Annotated[str | None, typer.Option(help="Contact subtype, one of the contact type's")] = None,
    department: Annotated[str | None, typer.Option(help="Department code; USED_VEHICLE leads only")] = None,
    traffic_origin: Annotated[
        str | None, typer.Option(help="Origem de Tráfego of every contact (the dealership's)")
    ] = None,
    dms_url: DmsUrl = None,
) -> None:
    """Set a lead type's contact settings and/or the dealership's traffic origin, each checked against
    the DMS's lists; then `gmcrm dealership check CODE`."""
    lead_type, department = _upper(lead_type), _upper(department)
    if lead_type is None and (contact_type or contact_subtype or department):
        raise typer.BadParameter("--lead-type is needed with --contact-type, --contact-subtype and --department")
    if lead_type is None and traffic_origin is None:
        raise typer.BadParameter("give --lead-type with its settings, or --traffic-origin")
    with _connect(dms_url) as conn:
        exists = conn.execute(_SQL["dealership_exists"], (dealer_code,)).fetchone()
        if exists is None:
            raise typer.BadParameter(
                f"{dealer_code} is not a gmcrm dealership: add it first with gmcrm dealership set {dealer_code} "
                "--name NAME --routing DIRECT"
            )
        cat = onboarding.read_catalogues(conn, dealer_code)
        said: list[str] = []
        if lead_type is not None:
            said.append(_save_setting(conn, cat, dealer_code, lead_type, contact_type, contact_subtype, department))
        if traffic_origin is not None:
            error = onboarding.traffic_origin_error(cat, dealer_code, traffic_origin)
            if error:
                raise typer.BadParameter(error)
            conn.execute(_SQL["set_traffic_origin"], (traffic_origin, dealer_code))
            said.append(f"traffic origin {traffic_origin}")
    _echo(f"{dealer_code}: {'; '.join(said)} saved; see what is left: gmcrm dealership check {dealer_code}")


def _save_setting(
    conn: psycopg.Connection[Any],
    cat: onboarding.Catalogues,
    dealer_code: str,
    lead_type: str,
    contact_type: str | None,
    contact_subtype: str | None,
    department: str | None,
) -> str:
    row = conn.execute(
        _SQL["contact_setting"],
        (dealer_code, lead_type),
    ).fetchone()
    # A change of one part keeps the others; a new lead type needs both type and subtype.
    ctype = contact_type if contact_type is not None else (row[0] if row else None)
    subtype = contact_subtype if contact_subtype is not None else (row[1] if row else None)
    errors = onboarding.setting_errors(cat, dealer_code, lead_type, ctype, subtype, department)
    if not errors and (ctype is None or subtype is None):
        errors = [f"{lead_type} has no contact settings yet: give both --contact-type and --contact-subtype"]
    if errors:
        raise typer.BadParameter("; ".join(errors))
    department_id = cat.departments[department] if department else None
    conn.execute(
        _SQL["save_contact_setting"],
        (dealer_code, lead_type, ctype, subtype, department_id),
    )
    return f"{lead_type} {ctype}/{subtype}" + (f" department {department}" if department else "")


@dealer_app.command("check")
def dealer_check(dealer_code: DealerCode, dms_url: DmsUrl = None) -> None:
    """Everything that would make the dealership's leads quarantine or its import fail, each with the
    command that fixes it. Exit 0: nothing to fix; 1: something to fix."""
    with _connect(dms_url) as conn:
        report = onboarding.check(conn, dealer_code)
    for line in onboarding.report_lines(report):
        _echo(line)
    _echo(summary(report))
    if report.problems:
        raise typer.Exit(1)


def summary(report: onboarding.Report) -> str:
    code = report.dealer_code
    if not report.problems:
        return f"{code}: ready, no lead would be quarantined" + ("" if report.enabled else " (disabled)")
    stopped = [t for t in LEAD_TYPES if t in report.stopped]
    what = (
        "every lead would be quarantined or not imported"
        if report.every_lead_stopped
        else (f"{', '.join(stopped)} leads would be quarantined" if stopped else "leads would load, but see above")
    )
    return f"{code}: {len(report.problems)} problem(s); {what}"


def refuse_enabling(conn: psycopg.Connection[Any], dealer_code: str, force: bool) -> list[str]:
    """After `dealership set ... --enabled` wrote its changes (not committed yet): refuse (exit 2, with
    the list) when every lead would quarantine, unless forced; else the problems left, to print."""
    report = onboarding.check(conn, dealer_code)
    lines = onboarding.report_lines(report)
    if report.every_lead_stopped and not force:
        for line in lines:
            typer.echo(mask_text(line), err=True)
        typer.echo(
            mask_text(f"Error: not enabled: {summary(report)}. Fix the above, or enable anyway with --force"), err=True
        )
        raise typer.Exit(2)  # inside the connection's transaction: nothing is saved
    return [*lines, summary(report)] if report.problems else []
