"""A lead's timeline as the page shows it: each entry of :func:`gmcrm.lead_log.timeline` with its facts,
free text masked, each send attempt with its request and response as formatted JSON and a link to the
task log of the run that sent it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import psycopg

from gmcrm import lead_log
from gmcrm.gm_mapping import load_mapping
from gmcrm.web.links import LaneCounts, TaskLogLink, task_log_links
from gmcrm.web.pages import OUTCOMES
from gmcrm.web.text import free_text, masked, pretty_json, shown, when

KIND_LABELS = {
    "IMPORTED": "Imported",
    "QUARANTINED": "Quarantined",
    "EVENT_CREATED": "Evento criado",
    "SEND_ATTEMPT": "Send attempt",
    "NOT_SENT": "Not sent",
}


# What an import shows, each as the lead log's detail has it: its key -> the fact's label.
IMPORTED_FACTS = {
    "contact_id": "DMS contact",
    "dealer_code": "Dealership",
    "lead_type": "Lead type",
    "status": "Contact status",
    "gm_stage": "GM stage",
    "gm_substage": "GM substage",
}


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


def timeline_items(
    conn: psycopg.Connection[Any],
    lead_id: str,
    *,
    ui_root: str,
    lane_counts: LaneCounts | None,
    tz: tzinfo | None,
) -> list[TimelineItem]:
    entries = lead_log.timeline(conn, lead_id)
    codes = lead_log.attempt_codes(conn, lead_id)
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
        item = TimelineItem(
            anchor=f"entry-{n}",
            at=entry.at,
            kind=entry.kind,
            label=KIND_LABELS.get(entry.kind, entry.kind.title()),
            trigger_code=entry.trigger_code,
            summary=masked(entry.summary or "", lead_id),
        )
        if entry.kind == "SEND_ATTEMPT":
            _attempt(item, entry, codes.get(entry.send_log_id) if entry.send_log_id is not None else None, lead_id)
            item.task_log = link_of.get(id(entry))
        else:
            _facts(item, entry, lead_id, tz)
        items.append(item)
    return items


def _facts(item: TimelineItem, entry: lead_log.TimelineEntry, lead_id: str, tz: tzinfo | None) -> None:
    d = entry.detail or {}
    if entry.kind == "IMPORTED":
        item.anchor = f"contact-{d.get('contact_id')}"
        item.facts = _shown(d, IMPORTED_FACTS)
    elif entry.kind == "QUARANTINED":
        item.facts = [
            Fact("Times seen", shown(d.get("times_seen"))),
            Fact("Resolved at", when(d.get("resolved_at"), tz)),
            Fact("Reason", free_text(d.get("reason"), lead_id), wide=True),
        ]
    elif entry.kind == "EVENT_CREATED":
        item.anchor = f"event-{d.get('outbox_id')}"
        item.facts = [
            *_shown(d, {"outbox_id": "Outbox event", "status": "Status now", "attempts": "Attempts"}),
            Fact("Sent at", when(d.get("sent_at"), tz)),
        ]
        if d.get("last_error"):
            item.facts.append(Fact("Last error", free_text(d.get("last_error"), lead_id), wide=True))
        if why := d.get("cancelled_reason") or d.get("skipped_reason"):
            item.facts.append(Fact("Why not sent", free_text(why, lead_id), wide=True))
    elif entry.kind == "NOT_SENT":
        item.facts = [
            Fact("DMS record", shown(f"{d.get('source_table')} {d.get('source_id')}")),
            *_shown(d, {"reason_code": "Reason", "closed_by_outbox_id": "Closed by event"}),
            Fact("Why not sent", free_text(d.get("reason"), lead_id), wide=True),
        ]


def _shown(detail: Mapping[str, Any], labels: Mapping[str, str]) -> list[Fact]:
    """Facts shown as the entry's detail has them: its key -> the fact's label, in that order."""
    return [Fact(label, shown(detail.get(key))) for key, label in labels.items()]


def _attempt(item: TimelineItem, entry: lead_log.TimelineEntry, codes: dict[str, Any] | None, lead_id: str) -> None:
    """A send attempt: its outcome, the stage and substage sent (from the send log's columns, else from
    the request body under GM's field names of the mapping), GM's answer."""
    d = entry.detail or {}
    extra = codes or {}
    sent = d.get("request_body")
    body: dict[str, Any] = sent if isinstance(sent, dict) else {}
    fields = load_mapping().event_fields
    if entry.send_log_id is not None:
        item.anchor = f"attempt-{entry.send_log_id}"
    item.outcome = d.get("outcome")
    item.status_code = d.get("status_code")
    item.facts = [
        Fact("Outcome", OUTCOMES.get(str(d.get("outcome")), shown(d.get("outcome")))),
        Fact("Stage", shown(extra.get("stage") or body.get(fields["stage"]))),
        Fact("Substage", shown(extra.get("substage") or body.get(fields["substage"]))),
        Fact("HTTP status", shown(d.get("status_code"))),
        Fact("Error code", shown(extra.get("error_code"))),
        Fact("Outbox event", shown(d.get("outbox_id"))),
        Fact("Airflow run", shown(d.get("run_id"))),
        Fact("Try", shown(d.get("try_number"))),
    ]
    if d.get("error_message"):
        item.facts.append(Fact("Error message", free_text(d.get("error_message"), lead_id), wide=True))
    item.request_json = pretty_json(d.get("request_body"))
    item.response_json = pretty_json(d.get("response_body"))
