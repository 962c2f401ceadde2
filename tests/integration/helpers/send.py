"""Helpers for send tests: a seeded DMS, leads imported from the sandbox, a send run as the DAG runs it,
and the two sides to assert on (the DMS tables and what the sandbox received)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gmcrm.gm_client import GmClient
from gmcrm.send.deliver import Sender
from gmcrm.send.report import RunInfo, SendReport
from gmcrm_devtools import demo_seed, dms_actions
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, one_client, run_import

DAG_ID = "gmcrm_send_triggers"


def seed(conn: psycopg.Connection[Any]) -> None:
    """Demo dealerships (BR0001 DIRECT, BR0002 DISTRIBUTION, BR0003 DIRECT), users, catalogues."""
    with conn.transaction():
        demo_seed.seed_demo_world(conn)


def import_leads(dms_url: str, sandbox: SandboxProcess, *specs: tuple[str, str]) -> list[str]:
    """Create one GM lead per (dealer_code, lead_type) at the sandbox, import them; their Lead IDs."""
    created = create_leads(sandbox, *(lead(dealer, lead_type) for dealer, lead_type in specs))
    _, _, failed = run_import(dms_url, one_client(fast_client()))
    assert not failed, failed
    return [str(c["Id"]) for c in created]


def contacts(conn: psycopg.Connection[Any], lead_ids: list[str]) -> list[int]:
    return [dms_actions.contact_of_lead(conn, lead_id) for lead_id in lead_ids]


def send(
    conn: psycopg.Connection[Any],
    client: GmClient | None = None,
    *,
    retry_failed: bool = False,
    run_id: str = "test",
    try_number: int = 1,
    **options: Any,
) -> SendReport:
    """One send DAG run: prepare the queue (requeue FAILED when asked, refresh BLOCKED), then send."""
    sender = Sender(
        conn,
        client or fast_client(),
        run=RunInfo(dag_id=DAG_ID, run_id=run_id, try_number=try_number),
        **options,
    )
    sender.prepare(retry_failed=retry_failed)
    return sender.run_until_done()


@dataclass(frozen=True)
class OutboxState:
    id: int
    dealer_code: str
    lead_id: str
    trigger_code: str
    step: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    last_error_code: str | None
    claimed_by: str | None
    sent_at: datetime | None

    @property
    def event_id(self) -> str:
        """The DMS_Event_Id__c GM upserts on."""
        return f"{self.dealer_code}-{self.id}"


def outbox(conn: psycopg.Connection[Any], lead_id: str | None = None) -> list[OutboxState]:
    query = (
        "SELECT id, dealer_code, lead_id, trigger_code, step, status, attempts, next_attempt_at, last_error, "
        "last_error_code, claimed_by, sent_at FROM gmcrm.trigger_outbox WHERE (%s::text IS NULL OR lead_id = %s) "
        "ORDER BY id"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return [OutboxState(**r) for r in cur.execute(query, (lead_id, lead_id)).fetchall()]


def send_log(conn: psycopg.Connection[Any], lead_id: str | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM gmcrm.send_log WHERE (%s::text IS NULL OR lead_id = %s) ORDER BY id", (lead_id, lead_id)
        ).fetchall()


def codes(conn: psycopg.Connection[Any], lead_id: str) -> list[str]:
    return [r.trigger_code for r in outbox(conn, lead_id)]


def gm_events(sandbox: SandboxProcess, lead_id: str) -> list[dict[str, Any]]:
    """The lead's events at GM, in order of first receipt."""
    return sandbox.admin.events(lead_id)


def gm_codes(sandbox: SandboxProcess, lead_id: str) -> list[str]:
    return [e["Trigger_Code__c"] for e in gm_events(sandbox, lead_id)]


def gm_stage(sandbox: SandboxProcess, lead_id: str) -> tuple[str, str | None]:
    """The lead's StageName and Substage__c at GM."""
    record = sandbox.admin.get_lead(lead_id)
    return record["StageName"], record.get("Substage__c")


def assert_delivered_exactly_once_in_order(conn: psycopg.Connection[Any], sandbox: SandboxProcess) -> None:
    """Every outbox event is SENT and at GM exactly once, applied once, in outbox order per lead."""
    rows = outbox(conn)
    assert rows, "nothing in the outbox"
    assert {r.status for r in rows} == {"SENT"}, [(r.id, r.trigger_code, r.status, r.last_error) for r in rows]
    by_lead: dict[str, list[str]] = {}
    for r in rows:
        by_lead.setdefault(r.lead_id, []).append(r.event_id)
    for lead_id, expected in by_lead.items():
        events = gm_events(sandbox, lead_id)
        got = [e["DMS_Event_Id__c"] for e in events]
        assert got == expected, f"lead {lead_id}: GM has {got}, the DMS sent {expected}"
        assert all(e["applied"] for e in events if e["Communication__c"] == "DISPOSITION_UPDATE")
    # No event at GM that the DMS did not send (exactly once: distinct external ids).
    all_events = sandbox.admin.events()
    ids = [e["DMS_Event_Id__c"] for e in all_events]
    assert len(ids) == len(set(ids)) == len(rows)
