"""gmcrm's 5-minute cycle on an :class:`~gmcrm_devtools.stack.AirflowStack`: waiting for a whole cycle
(import, sends, the send the import's Asset event triggers), staff activity in bulk, and what the DMS
and GM hold afterwards (to compare executors). For ``benchmarks/bench_cycle.py`` and the tests.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from gmcrm.dag_defaults import IMPORT_DAG_ID, SEND_DAG_ID
from gmcrm_devtools.stack import AirflowStack, StackError
from gmcrm_devtools.stack_facts import FINISHED, RunFacts
from gmcrm_sandbox.admin import AdminClient

DAGS = (IMPORT_DAG_ID, SEND_DAG_ID)
# How long an import's Asset event may take to become a send run (the scheduler's loop, loaded machine).
ASSET_GRACE_SECONDS = 90.0

# One staff action per contact, up to N per dealership, on contacts nobody has worked yet: a contact
# registered (CRE, written to the outbox by the DMS's own trigger), by the salesperson whose queue
# holds it or by the distribution list's owner. One statement for every dealership.
STAFF_ACTIONS_SQL = """
WITH picked AS (
    SELECT c.id, coalesce(c.assigned_user_id, c.distribution_owner_user_id) AS user_id,
           row_number() OVER (PARTITION BY c.dealer_code ORDER BY c.id) AS n
    FROM dms.contact c
    WHERE c.lead_id IS NOT NULL AND c.gm_deleted_at IS NULL AND c.dealer_code = ANY(%s)
      AND NOT EXISTS (SELECT 1 FROM dms.contact_action a WHERE a.contact_id = c.id)
)
INSERT INTO dms.contact_action (contact_id, kind, user_id)
SELECT id, 'CONTACT', user_id FROM picked WHERE n <= %s
"""

_COUNTS = {
    "customers": "SELECT count(*) FROM dms.customer",
    "contacts": "SELECT count(*) FROM dms.contact",
    "contact actions": "SELECT count(*) FROM dms.contact_action",
    "outbox": "SELECT count(*) FROM gmcrm.trigger_outbox",
    "quarantined": "SELECT count(*) FROM gmcrm.lead_quarantine",
}
# What must be the same whichever executor ran the cycles: who became which customer and contact,
# and every event with its final status (ids left out: sequences need not agree).
_DIGESTS = {
    "contacts digest": "SELECT lead_id, customer_id IS NOT NULL, lead_type, status FROM dms.contact ORDER BY lead_id",
    "outbox digest": "SELECT lead_id, trigger_code, status FROM gmcrm.trigger_outbox ORDER BY lead_id, trigger_code, "
    "status, occurred_at",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


# Dealerships whose staff actions commit together. Each action takes its lead's advisory lock until
# commit (gmcrm.record_trigger), so one transaction for 1,000 dealerships x 100 actions ran out of
# PostgreSQL's lock table (max_locks_per_transaction); DMS screens commit far smaller units anyway.
STAFF_ACTIONS_DEALERS_PER_COMMIT = 10


def record_staff_actions(dms_url: str, per_dealer: int) -> int:
    """Register a contact on up to ``per_dealer`` unworked contacts of every dealership; how many."""
    recorded = 0
    with psycopg.connect(dms_url, autocommit=True) as conn:
        codes = [r[0] for r in conn.execute("SELECT dealer_code FROM gmcrm.dealership ORDER BY dealer_code")]
        for start in range(0, len(codes), STAFF_ACTIONS_DEALERS_PER_COMMIT):
            chunk = codes[start : start + STAFF_ACTIONS_DEALERS_PER_COMMIT]
            recorded += int(conn.execute(STAFF_ACTIONS_SQL, (chunk, per_dealer)).rowcount)
    return recorded


def settle(
    stack: AirflowStack, since: datetime, *, expect_import: bool = True, timeout: float = 1800.0
) -> list[RunFacts]:
    """Wait until every run of both DAGs queued since ``since`` has finished, and the send run an
    import's Asset event triggers has come and finished too; the runs, oldest first.

    ``expect_import``: also wait for an import run to appear (the scheduler's own first run)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [stack.run(dag, rid) for dag in DAGS for rid in stack.reader.runs_since(dag, since)]
        running = [r for r in runs if r.state not in FINISHED]
        if running:
            stack.wait(running[0].dag_id, running[0].run_id, timeout=max(1.0, deadline - time.monotonic()))
            continue
        waiting = (expect_import and not any(r.dag_id == IMPORT_DAG_ID for r in runs)) or _asset_send_missing(runs)
        if not waiting:
            return sorted(runs, key=lambda r: r.queued_at or r.started_at or since)
        if time.monotonic() > deadline:
            raise StackError(f"the cycle since {since.isoformat()} did not complete in {timeout:.0f} s")
        time.sleep(1)


def _asset_send_missing(runs: list[RunFacts]) -> bool:
    """An import announced events (``announce_events`` succeeded) less than ASSET_GRACE_SECONDS ago and
    no send run was queued after that yet."""
    for run in runs:
        if run.dag_id != IMPORT_DAG_ID:
            continue
        announced = next(
            (t.ended_at for t in run.tasks if t.task_id == "announce_events" and t.state == "success"), None
        )
        if announced is None:
            continue
        sends = [r for r in runs if r.dag_id == SEND_DAG_ID and r.queued_at is not None and r.queued_at >= announced]
        if not sends and utcnow() - announced < timedelta(seconds=ASSET_GRACE_SECONDS):
            return True
    return False


def next_boundary(now: datetime) -> datetime:
    """The next 5-minute boundary, when the cron fires both DAGs."""
    start = now.replace(second=0, microsecond=0)
    return start + timedelta(minutes=5 - start.minute % 5)


def dms_results(dms_url: str) -> dict[str, Any]:
    """Counts of what the DMS holds, outbox rows by status, and digests of contacts and events."""
    results: dict[str, Any] = {}
    with psycopg.connect(dms_url) as conn:
        for name, query in _COUNTS.items():
            results[name] = conn.execute(query).fetchone()[0]  # type: ignore[index]
        rows = conn.execute("SELECT status, count(*) FROM gmcrm.trigger_outbox GROUP BY 1 ORDER BY 1").fetchall()
        results["outbox by status"] = {str(status): int(n) for status, n in rows}
        for name, query in _DIGESTS.items():
            digest = hashlib.sha256()
            for row in conn.execute(query):
                digest.update(repr(row).encode())
            results[name] = digest.hexdigest()[:16]
    return results


def gm_results(admin: AdminClient) -> dict[str, Any]:
    """GM's lead events (one per ``DMS_Event_Id__c``): how many, and a digest of (lead, trigger)."""
    events = admin.events()
    keys = sorted((str(e.get("Lead__c")), str(e.get("Trigger_Code__c"))) for e in events)
    return {
        "GM events": len(events),
        "GM digest": hashlib.sha256(repr(keys).encode()).hexdigest()[:16],
    }


def open_gm_leads(admin: AdminClient) -> set[str]:
    """Ids of the leads GM holds open (not deleted, not in a closed stage): each must reach the DMS."""
    from gmcrm.gm_mapping import load_mapping

    closed = {stage.casefold() for stage in load_mapping().closed_stages}
    return {
        str(lead["Id"])
        for lead in admin.leads(include_deleted=False)
        if str(lead.get("StageName") or "").casefold() not in closed
    }


def dms_leads(dms_url: str) -> set[str]:
    """Ids of the GM leads the DMS holds: a contact, or a row in quarantine with its reason."""
    with psycopg.connect(dms_url) as conn:
        rows = conn.execute(
            "SELECT lead_id FROM dms.contact WHERE lead_id IS NOT NULL UNION SELECT lead_id FROM gmcrm.lead_quarantine"
        ).fetchall()
    return {str(row[0]) for row in rows}
