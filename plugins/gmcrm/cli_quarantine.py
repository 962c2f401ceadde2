"""``gmcrm quarantine``: the leads that could not become contacts, why, and trying them again.

A lead quarantined for a DMS setting (no receiving user, no contact settings) is tried again by
itself on the next import run after the setting is fixed; ``retry`` is for the others, after their
cause was fixed (gm_crm.yaml, say), or to try any of them now.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gmcrm import quarantine
from gmcrm.cli_options import DmsUrl

quarantine_app = typer.Typer(
    help="List quarantined leads with the reason and the command that fixes it; try them again.",
    no_args_is_help=True,
)

DealerCode = Annotated[str | None, typer.Argument(help="Only this dealership (GM dealer code)")]


def _reason(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return quarantine.reason_code(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="Only this reason code, e.g. NO_CONTACT_SETTING", callback=_reason),
]


@quarantine_app.command("list")
def quarantine_list(
    dealer_code: DealerCode = None,
    reason: ReasonOption = None,
    limit: Annotated[int, typer.Option(help="At most this many leads", min=1)] = 100,
    dms_url: DmsUrl = None,
) -> None:
    """Quarantined leads, one a line: dealership, Lead ID, reason code, first and last seen, times seen,
    and the reason, which names what fixes it."""
    from gmcrm.cli import _connect, _echo

    with _connect(dms_url) as conn:
        leads = quarantine.open_leads(conn, dealer_code, reason, limit=limit)
        by_reason = quarantine.counts(conn, dealer_code, reason)
    for q in leads:
        retry = " retry-requested" if q.retry_requested_at else ""
        _echo(
            f"{q.dealer_code or '-':<8} {q.lead_id} {q.reason_code:<18} first {q.first_seen_at:%Y-%m-%d %H:%M} "
            f"last {q.last_seen_at:%Y-%m-%d %H:%M} seen {q.times_seen}x{retry}  {q.reason}"
        )
    total = sum(by_reason.values())
    shown = f", {len(leads)} shown (--limit)" if len(leads) < total else ""
    summary = ", ".join(f"{code} {n}" for code, n in by_reason.items())
    typer.echo(f"{total} lead(s) in quarantine" + (f" ({summary}){shown}" if total else ""))
    if total:
        typer.echo(
            "Settings reasons (NO_USER, NO_CONTACT_SETTING) are tried again by the next import run once the setting "
            "is fixed; for the others, fix the lead at GM (it loads on its next change), or fix the cause and run "
            "`gmcrm quarantine retry`."
        )


@quarantine_app.command("retry")
def quarantine_retry(
    dealer_code: DealerCode = None,
    reason: ReasonOption = None,
    lead_id: Annotated[str | None, typer.Option("--lead", help="Only this GM Lead ID")] = None,
    all_leads: Annotated[bool, typer.Option("--all", help="Every quarantined lead (of the filters given)")] = False,
    dms_url: DmsUrl = None,
) -> None:
    """Have the next import run try quarantined leads again from their stored GM record: they load (and
    leave quarantine) or stay with today's reason. A lead GM changed meanwhile loads GM's newer record."""
    from gmcrm.cli import _connect

    if not (dealer_code or reason or lead_id or all_leads):
        raise typer.BadParameter("say which leads: a dealer code, --reason, --lead or --all")
    with _connect(dms_url) as conn:
        request = quarantine.request_retry(conn, dealer_code, reason, lead_id)
    if request.marked == 0:
        typer.echo("no quarantined lead matches; `gmcrm quarantine list` shows them", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{request.marked} quarantined lead(s) marked: the next import run tries them again from their stored GM record"
    )
    if request.disabled:
        typer.echo(
            f"integration disabled for {', '.join(request.disabled)}: their leads wait until "
            "`gmcrm dealership set CODE --enabled`"
        )
