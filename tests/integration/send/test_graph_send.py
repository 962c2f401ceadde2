"""A lead's backlog in one call (issue 12, item 3): one composite graph per lead, its events in order,
against the sandbox over real HTTPS. A failed event still stops the later ones of its lead: GM rolls its
graph back, the earlier events go again on the next call, the failed one is classified as before."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import fast_client
from tests.integration.helpers.send import (
    assert_delivered_exactly_once_in_order,
    contacts,
    gm_codes,
    gm_stage,
    import_leads,
    outbox,
    send,
    send_log,
)

pytestmark = pytest.mark.integration


def _deepen(conn: psycopg.Connection[Any], lead_ids: list[str], depth: int) -> None:
    """Each lead's LAT again until it has ``depth`` unsent events (valid payloads, distinct event ids)."""
    conn.execute(
        "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, step, source_table, "
        "source_id, occurred_at, user_id) "
        "SELECT o.dealer_code, o.lead_id, o.contact_id, o.trigger_code, o.step, o.source_table, o.source_id, "
        "o.occurred_at + g * interval '1 second', o.user_id "
        "FROM gmcrm.trigger_outbox o, generate_series(1, %s) g "
        "WHERE o.trigger_code = 'LAT' AND o.lead_id = ANY(%s) ORDER BY g, o.id",
        (depth - 2, lead_ids),
    )


def _calls(sandbox: SandboxProcess) -> tuple[int, int]:
    calls = sandbox.admin.calls()
    return calls["composite_graph"], calls["collection_upsert"]


def test_a_deep_queue_of_400_events_on_10_leads_goes_in_one_call(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    lead_ids = import_leads(dms_url, gm_sandbox, *[("BR0001", "NEW_VEHICLE")] * 10)
    _deepen(conn, lead_ids, 40)
    assert conn.execute("SELECT count(*) FROM gmcrm.trigger_outbox WHERE status = 'PENDING'").fetchone() == (400,)
    graphs, collections = _calls(gm_sandbox)

    report = send(conn)

    assert report.totals() == {"SENT": 400}
    assert report.api_calls == 1
    assert _calls(gm_sandbox) == (graphs + 1, collections)
    # Inserted interleaved (all leads' first copy, then the second...), yet each lead's arrive in order.
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)
    assert {e["outcome"] for e in send_log(conn)} == {"SENT"} and len(send_log(conn)) == 400


@pytest.mark.parametrize(
    ("status_code", "failed_status", "later_status"),
    [
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "FAILED", "BLOCKED"),  # permanent
        ("UNABLE_TO_LOCK_ROW", "RETRY", "PENDING"),  # transient: the later ones wait for its backoff
    ],
)
def test_a_failure_in_the_middle_of_a_leads_graph_stops_the_later_events(
    conn: psycopg.Connection[Any],
    dms_url: str,
    gm_sandbox: SandboxProcess,
    status_code: str,
    failed_status: str,
    later_status: str,
) -> None:
    lead_id, other = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0003", "NEW_VEHICLE"))
    [contact] = contacts(conn, [lead_id])
    dms.register_contact(conn, contact, "PHONE")  # CRE
    dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")  # TDA
    dms.register_no_contact(conn, contact)  # CNR
    rows = outbox(conn, lead_id)
    assert [r.trigger_code for r in rows] == ["LIM", "LAT", "CRE", "TDA", "CNR"]
    cre = rows[2]
    gm_sandbox.admin.record_errors(dms_event_ids=[cre.event_id], status_code=status_code)
    graphs, collections = _calls(gm_sandbox)

    report = send(conn)

    # Call 1: both leads' graphs; this lead's rolled back at CRE. Call 2: its LIM and LAT again.
    assert _calls(gm_sandbox) == (graphs + 2, collections)
    outcome = "FAILED" if failed_status == "FAILED" else "RETRY"
    assert report.totals() == {"SENT": 4, outcome: 1, "ROLLED_BACK": 4}
    after = outbox(conn, lead_id)
    assert [r.status for r in after] == ["SENT", "SENT", failed_status, later_status, later_status]
    assert after[2].last_error_code == status_code
    assert gm_codes(gm_sandbox, lead_id) == ["LIM", "LAT"]
    assert gm_stage(gm_sandbox, lead_id) == ("Assigned", None)
    assert gm_codes(gm_sandbox, other) == ["LIM", "LAT"]
    # Every attempt has its send-log row: the rolled-back ones say why.
    log = [(e["trigger_code"], e["outcome"]) for e in send_log(conn, lead_id)]
    assert log == [
        ("LIM", "ROLLED_BACK"), ("LAT", "ROLLED_BACK"), ("CRE", outcome), ("TDA", "ROLLED_BACK"),
        ("CNR", "ROLLED_BACK"), ("LIM", "SENT"), ("LAT", "SENT"),
    ]  # fmt: skip
    rolled = next(e for e in send_log(conn, lead_id) if e["outcome"] == "ROLLED_BACK")
    assert rolled["error_code"] == "PROCESSING_HALTED" and f"event {cre.id} (CRE) failed" in rolled["error_message"]

    # Once the failure is sorted out (retried by a person, or its backoff over), the rest goes in one call.
    conn.execute("UPDATE gmcrm.trigger_outbox SET next_attempt_at = now() WHERE status = 'RETRY'")
    graphs, _ = _calls(gm_sandbox)
    assert send(conn, retry_failed=True, run_id="again").totals() == {"SENT": 3}
    assert _calls(gm_sandbox)[0] == graphs + 1
    assert gm_codes(gm_sandbox, lead_id) == ["LIM", "LAT", "CRE", "TDA", "CNR"]
    assert gm_stage(gm_sandbox, lead_id) == ("Experiencing", "InProgressUnresponsive")
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)


def test_leads_with_one_event_keep_going_in_collections(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    """80 leads with one event and 2 with a backlog: a collection and a graph request (2 calls), not
    82 graphs in 2 graph requests (a tie keeps the collection)."""
    lead_ids = import_leads(dms_url, gm_sandbox, *[("BR0001", "NEW_VEHICLE")] * 82)
    conn.execute(
        "UPDATE gmcrm.trigger_outbox SET status = 'SENT', sent_at = now() WHERE trigger_code = 'LIM' "
        "AND lead_id = ANY(%s)",
        (lead_ids[2:],),
    )
    graphs, collections = _calls(gm_sandbox)
    client = fast_client()
    report = send(conn, client)
    assert report.totals() == {"SENT": 84}
    assert _calls(gm_sandbox) == (graphs + 1, collections + 1)
    assert dict(client.stats.by_kind) == {"composite_graph": 1, "collection_upsert": 1}
    assert len(gm_sandbox.admin.events()) == 84
    assert [gm_codes(gm_sandbox, lead) for lead in lead_ids[:3]] == [["LIM", "LAT"], ["LIM", "LAT"], ["LAT"]]


def test_new_leads_lim_and_lat_go_level_by_level_and_a_failed_lim_holds_its_lat(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    """200 new leads, each with its LIM and LAT: two collections (every LIM, then every LAT), not three
    graph requests of 75 leads; a lead whose LIM failed keeps its LAT (waiting behind it, unsent)."""
    lead_ids = import_leads(dms_url, gm_sandbox, *[("BR0001", "NEW_VEHICLE")] * 200)
    rows = {lead: outbox(conn, lead) for lead in lead_ids[:2]}
    assert [[r.trigger_code for r in rows[lead]] for lead in lead_ids[:2]] == [["LIM", "LAT"]] * 2
    failing, locked = lead_ids[0], lead_ids[1]
    gm_sandbox.admin.record_errors(
        dms_event_ids=[rows[failing][0].event_id], status_code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )
    gm_sandbox.admin.record_errors(dms_event_ids=[rows[locked][0].event_id], status_code="UNABLE_TO_LOCK_ROW")
    graphs, collections = _calls(gm_sandbox)
    client = fast_client()

    report = send(conn, client)

    assert report.totals() == {"SENT": 396, "FAILED": 1, "RETRY": 1}
    assert _calls(gm_sandbox) == (graphs, collections + 2)
    assert dict(client.stats.by_kind) == {"collection_upsert": 2}
    assert [r.status for r in outbox(conn, failing)] == ["FAILED", "BLOCKED"]
    assert [r.status for r in outbox(conn, locked)] == ["RETRY", "PENDING"]
    assert gm_codes(gm_sandbox, failing) == [] and gm_codes(gm_sandbox, locked) == []
    assert all(gm_codes(gm_sandbox, lead) == ["LIM", "LAT"] for lead in lead_ids[2:])
    # The held LATs were never attempted: no send-log row.
    assert [e["trigger_code"] for e in send_log(conn, failing)] == ["LIM"]

    # The transient one's backoff over, the failed one retried by a person: each LIM, then its LAT.
    conn.execute("UPDATE gmcrm.trigger_outbox SET next_attempt_at = now() WHERE status = 'RETRY'")
    assert send(conn, retry_failed=True, run_id="again").totals() == {"SENT": 4}
    assert gm_codes(gm_sandbox, locked) == ["LIM", "LAT"] and gm_codes(gm_sandbox, failing) == ["LIM", "LAT"]
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)


def test_a_full_claim_keeps_its_part_filled_collections_for_the_next_one(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    """400 new leads (800 events) in claims of 500: each full claim sends only full collections (200
    LIMs, then their 200 LATs) and gives the other leads back to fill the next claim: 4 calls, as
    800 / 200 (part-filled collections or graph requests of 75 leads would take 6 to 11)."""
    lead_ids = import_leads(dms_url, gm_sandbox, *[("BR0001", "NEW_VEHICLE")] * 400)
    assert conn.execute("SELECT count(*) FROM gmcrm.trigger_outbox WHERE status = 'PENDING'").fetchone() == (800,)
    graphs, collections = _calls(gm_sandbox)
    client = fast_client()

    report = send(conn, client, claim_size=500)

    assert report.totals() == {"SENT": 800}
    assert _calls(gm_sandbox) == (graphs, collections + 4)
    assert all(gm_codes(gm_sandbox, lead) == ["LIM", "LAT"] for lead in lead_ids)
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)
