"""Alerts to the ops team's chat (Teams, Slack, ...) through the optional ``gmcrm_alerts`` connection.

An ``http`` connection whose host (and optional endpoint in the extra ``endpoint``) receives a JSON
POST ``{"text": ...}``. No connection: nothing is sent. A failing webhook never fails a run. Told when
events fail for good (each send lane, for its own) and when dealerships' imports fail (the import's
last task, once a run, while a dealership keeps failing).
"""

from __future__ import annotations

from typing import Any

from gmcrm.logs import get_logger
from gmcrm.normalize import mask_text

log = get_logger(__name__)
ALERTS_CONN_ID = "gmcrm_alerts"


def alert(text: str, conn_id: str = ALERTS_CONN_ID) -> bool:
    """Post ``text`` (masked) to the webhook; True when it was delivered."""
    from airflow.providers.http.hooks.http import HttpHook

    try:
        hook = HttpHook(method="POST", http_conn_id=conn_id)
        connection = hook.get_connection(conn_id)
    except Exception:  # no such connection: alerts are optional
        return False
    endpoint = str((connection.extra_dejson or {}).get("endpoint", ""))
    payload: dict[str, Any] = {"text": mask_text(text)}
    try:
        hook.run(endpoint, json=payload, extra_options={"timeout": 10})
    except Exception as exc:  # the webhook's trouble must not fail the send
        log.warning("alert to %s failed: %s", conn_id, type(exc).__name__)
        return False
    return True


def failed_events_text(failures: list[tuple[str, int, str, str | None, str | None]]) -> str:
    """One message for the events that failed for good in a run."""
    lines = [f"gmcrm: {len(failures)} GM event(s) failed for good and wait for a person:"]
    for dealer, outbox_id, code, error_code, message in failures[:20]:
        lines.append(f"- {dealer} event {outbox_id} ({code}): {error_code}: {(message or '')[:300]}")
    if len(failures) > 20:
        lines.append(f"... and {len(failures) - 20} more (gmcrm events list --status FAILED)")
    lines.append("Fix the cause, then run gmcrm_send_triggers with retry_failed (or gmcrm events retry).")
    return "\n".join(lines)


def import_failures_text(failures: list[tuple[str, str, str, int]]) -> str:
    """One message for the dealerships whose import failed in a run: (dealer code, stage, error, in how
    many runs in a row it has failed)."""
    lines = [f"gmcrm: the import of {len(failures)} dealership(s) failed (gmcrm_import_leads):"]
    for dealer, stage, error, streak in failures[:20]:
        again = f", {streak} runs in a row" if streak > 1 else ""
        lines.append(f"- {dealer} ({stage}{again}): {error[:300]}")
    if len(failures) > 20:
        lines.append(f"... and {len(failures) - 20} more (gmcrm.import_failure)")
    lines.append("The other dealerships are not held up. Each one above is tried again by the next run: fix the cause.")
    return "\n".join(lines)
