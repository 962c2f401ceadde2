"""``gmcrm deploy``: the production shape's ``.env`` with fresh secrets, and the DMS login it runs as
(docs/deployment.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gmcrm import deploy
from gmcrm.cli_options import DmsUrl

deploy_app = typer.Typer(help="Secrets and the DMS login of the docker-compose deployment.", no_args_is_help=True)


@deploy_app.command("env")
def env(
    path: Annotated[Path, typer.Option("--path", help="Where to write it")] = Path(".env"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file (and every secret in it)")] = False,
    base_url: Annotated[str, typer.Option(help="Where people open the Airflow UI")] = "http://localhost:8080",
    keycloak_url: Annotated[
        str, typer.Option(help="Keycloak's address, the same for browsers and containers")
    ] = "http://host.docker.internal:48080",
) -> None:
    """Write .env for docker compose: every secret generated here, the GM connection left to fill."""
    deploy.write_env(path, force=force, base_url=base_url, keycloak_url=keycloak_url)
    # Names only: the values are secrets.
    typer.echo(f"{path}: fresh secrets written (mode 0600). Fill AIRFLOW_CONN_GM_CRM, then `docker compose up -d`.")


@deploy_app.command("app-user")
def app_user(
    name: Annotated[str, typer.Argument(help="The login to create or update")] = deploy.APP_USER,
    dms_url: DmsUrl = None,
) -> None:
    """As the DMS's owner: create the integration's login (password from $GMCRM_DMS_APP_PASSWORD), a member
    of gmcrm_integration only. Run after `gmcrm db upgrade`."""
    from gmcrm.cli import _connect

    password = os.environ.get(deploy.APP_PASSWORD_ENV, "")
    if not password:
        raise typer.BadParameter(f"set {deploy.APP_PASSWORD_ENV} to the login's password (never an argument)")
    with _connect(dms_url) as conn:
        created = deploy.ensure_app_user(conn, name, password)
        conn.commit()
    typer.echo(f"{name}: {'created' if created else 'password set'}, member of {deploy.INTEGRATION_ROLE}")
