"""Options every `gmcrm` command group shares, in a module of their own so that a command group
(`cli_quarantine`, `cli_onboarding`) need not import the command line it is registered on."""

from __future__ import annotations

from typing import Annotated

import typer

from gmcrm import db

DmsUrl = Annotated[
    str | None,
    typer.Option(
        "--dms-url",
        envvar=db.DMS_URL_ENV,
        help="DMS database URL; the embedded PostgreSQL under .gmcrm/ when not given.",
        show_envvar=True,
    ),
]
