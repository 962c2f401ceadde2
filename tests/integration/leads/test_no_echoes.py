"""No echoes (issue 11): the integration's own writes at GM do not make leads read again.

Every event GM applies moves its lead (StageName, Substage__c, SystemModstamp) as the integration's user.
The import's incremental read skips leads whose last modifier is that user, reads what GM's people
changed, and once a day takes the integration's own changes too, so that a GM change made just before
one of our events (which hides it) still loads. Real sandbox over HTTPS, real PostgreSQL, the import as
its DAG runs it and the send DAG's pipeline (``gmcrm.send.pipeline``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from gmcrm.gm_client import GmClient
from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline as import_pipeline
from gmcrm.send import pipeline as send_pipeline
from gmcrm.send.report import RunInfo
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.access import USER_ID
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, one_client

pytestmark = pytest.mark.integration

QUERY_KINDS = ("query", "query_all", "query_more")


def _send_all(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """One send DAG run through its pipeline (prepare, then the one lane)."""
    params = send_pipeline.SendParams()
    lanes = send_pipeline.prepare(conn, params)
    assert lanes == [0]
    return send_pipeline.send(conn, params, RunInfo(dag_id="gmcrm_send_triggers", run_id="echo", try_number=1), 0)


def _import(dms_url: str, since: datetime | None = None) -> tuple[int, GmClient, str]:
    """One import run as the DAG's tasks run it, with a fresh client (a new cycle): (leads read as
    import_log says, the client, the run id)."""
    client = fast_client()
    run_id = f"echo__{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dms_url) as conn:
        summary = import_pipeline.extract(conn, run_id, one_client(client), since=since)
        for group in summary.groups:
            _done, failed = import_pipeline.load_group(conn, group, load_mapping())
            assert not failed, failed
        row = conn.execute("SELECT coalesce(sum(leads_read), 0) FROM gmcrm.import_log WHERE run_id = %s", (run_id,))
        read = row.fetchone()
    assert read is not None and read[0] == summary.records
    return int(read[0]), client, run_id


def _query_calls(sandbox: SandboxProcess) -> int:
    calls = sandbox.admin.calls()
    return sum(int(calls[kind]) for kind in QUERY_KINDS)


def _comments(conn: psycopg.Connection[Any], lead_id: str) -> str | None:
    row = conn.execute("SELECT lead_comments FROM dms.contact WHERE lead_id = %s", (lead_id,)).fetchone()
    assert row is not None
    return row[0]


def _imported_and_sent(
    conn: psycopg.Connection[Any], dms_url: str, sandbox: SandboxProcess, n: int
) -> tuple[list[str], datetime]:
    """``n`` GM leads (BR0001 DIRECT, BR0002 DISTRIBUTION) imported, a contact made on some, every
    recorded event sent and applied by GM; (their Lead IDs, when the send began)."""
    created = create_leads(sandbox, *(lead("BR0001" if i % 3 else "BR0002", "NEW_VEHICLE") for i in range(n)))
    lead_ids = [str(c["Id"]) for c in created]
    read, _client, _run = _import(dms_url)
    assert read == n
    direct = [lead_id for i, lead_id in enumerate(lead_ids) if i % 3]
    for lead_id in direct[:5]:  # a salesperson's contacts (BR0002's wait for distribution)
        dms.register_contact(conn, dms.contact_of_lead(conn, lead_id), "PHONE")
    sent_from = datetime.now(UTC).replace(microsecond=0)
    report = _send_all(conn)
    # LIM (+ LAT under DIRECT) of every lead, and a CRE for five: GM applied every one to its lead.
    assert report["totals"] == {"SENT": n + len([i for i in range(n) if i % 3]) + 5}
    changes = sandbox.admin.changes(since=sent_from.isoformat().replace("+00:00", "Z"))
    assert changes["leads_changed_by_api"] == n
    return lead_ids, sent_from


def test_a_cycle_after_a_send_reads_none_of_the_leads_again_in_one_query_call(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    n = 24
    lead_ids, sent_from = _imported_and_sent(conn, dms_url, gm_sandbox, n)
    assert {gm_sandbox.admin.get_lead(i)["LastModifiedById"] for i in lead_ids} == {USER_ID}

    before = _query_calls(gm_sandbox)
    read, client, _run = _import(dms_url)
    assert read == 0
    assert dict(client.stats.by_kind) == {"query": 1}
    assert _query_calls(gm_sandbox) - before == 1
    # The client learned its user from the sign-in (the token answer's identity URL): no extra call.
    assert client.own_user_ids() == (USER_ID,)
    assert client.stats.calls == 1

    # Without the filter the same cycle reads every one of them again: a `since` run reads everything.
    read_all, _client, _run = _import(dms_url, since=sent_from - timedelta(seconds=1))
    assert read_all == n


def test_a_gm_change_after_the_send_is_read_by_the_next_import(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    lead_ids, _sent_from = _imported_and_sent(conn, dms_url, gm_sandbox, 9)
    changed = lead_ids[4]
    gm_sandbox.admin.update_lead(changed, Comments__c="Cliente prefere contato por WhatsApp.")

    before = _query_calls(gm_sandbox)
    read, client, run_id = _import(dms_url)
    assert read == 1
    assert dict(client.stats.by_kind) == {"query": 1} and _query_calls(gm_sandbox) - before == 1
    assert _comments(conn, changed) == "Cliente prefere contato por WhatsApp."
    updated = conn.execute("SELECT sum(contacts_updated) FROM gmcrm.import_log WHERE run_id = %s", (run_id,))
    assert updated.fetchone() == (1,)


def test_a_gm_change_hidden_by_a_later_event_loads_at_the_daily_check(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    """The race: a GM user changes a lead, then one of our events on it reaches GM before the next
    import; the lead's last modifier is then the integration, so the incremental read skips it. The
    daily check of the integration's own changes loads it: late, not lost."""
    lead_ids, _sent_from = _imported_and_sent(conn, dms_url, gm_sandbox, 9)
    raced = lead_ids[8]  # BR0001's sixth lead: no contact made yet, the DMS records one below
    gm_sandbox.admin.update_lead(raced, Comments__c="Mudou de ideia: quer o Tracker.", Model_Of_Interest__c="Tracker")
    dms.register_contact(conn, dms.contact_of_lead(conn, raced), "EMAIL")
    assert _send_all(conn)["totals"] == {"SENT": 1}
    assert gm_sandbox.admin.get_lead(raced)["LastModifiedById"] == USER_ID

    read, _client, _run = _import(dms_url)
    assert read == 0  # hidden this cycle: the lead's last change is our event
    assert _comments(conn, raced) != "Mudou de ideia: quer o Tracker."

    # A day later (the last check moved back a day instead of waiting one): the check is due.
    conn.execute(
        "UPDATE gmcrm.import_watermark SET own_changes_checked_to = own_changes_checked_to - interval '25 hours'"
    )
    before = _query_calls(gm_sandbox)
    read, client, _run = _import(dms_url)
    # Every lead the integration changed since the last check (its own echoes included, once a day).
    assert read == len(lead_ids)
    assert dict(client.stats.by_kind) == {"query": 1} and _query_calls(gm_sandbox) - before == 1
    assert _comments(conn, raced) == "Mudou de ideia: quer o Tracker."
    interest = conn.execute("SELECT interest_model FROM dms.contact WHERE lead_id = %s", (raced,)).fetchone()
    assert interest == ("Tracker",)

    # Checked: the next cycle skips them again.
    read, _client, _run = _import(dms_url)
    assert read == 0
