"""Ground truth: the counts of the resilience table, from GM's side (the sandbox) and the DMS's tables.

Nothing here trusts the integration's own bookkeeping where the other side can be asked:

- leads lost: open, live leads at GM of the enabled dealerships that are neither a DMS contact nor in
  quarantine once the cycles are quiet;
- leads duplicated: extra contacts per GM lead, plus extra customers per person per dealership (the
  world knows who each lead belongs to);
- events lost: outbox events meant for GM (not skipped or cancelled) that GM never saved;
- events duplicated at GM: events at GM the outbox does not have, one DMS fact recorded (and sent) more
  than once (the same source row, or a second LIM/LAT of a lead), and external ids applied twice;
- per-lead order violations: per lead, events GM saved before an event that comes earlier in the DMS's
  outbox order;
- runs reported green while something failed: a run whose state is success although, when it ended, a
  dealership of it had failed to load, an event had failed for good in it, or leads were left behind the
  watermark's lookback (never to be read again) that were not before it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from gmcrm.gm_mapping import load_mapping
from gmcrm_sandbox.process import SandboxProcess

from .env import IMPORT_DAG, RunRecord
from .world import World


@dataclass
class Counts:
    leads_lost: int = 0
    leads_duplicated: int = 0
    events_lost: int = 0
    events_duplicated: int = 0
    order_violations: int = 0
    green_while_failed: int = 0

    def values(self) -> tuple[int, ...]:
        return (
            self.leads_lost,
            self.leads_duplicated,
            self.events_lost,
            self.events_duplicated,
            self.order_violations,
            self.green_while_failed,
        )


def _gm_open_leads(sandbox: SandboxProcess, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    enabled = {r[0] for r in conn.execute("SELECT dealer_code FROM gmcrm.dealership WHERE integration_enabled")}
    closed = set(load_mapping().closed_stages)
    return [
        lead
        for lead in sandbox.admin.leads(include_deleted=False)
        if str(lead["Dealer_Code__c"]).strip().upper() in enabled and lead["StageName"] not in closed
    ]


def _accounted_leads(conn: psycopg.Connection[Any]) -> set[str]:
    """GM Lead IDs the DMS holds as a contact or keeps in quarantine (with a reason)."""
    rows = conn.execute(
        "SELECT lead_id FROM dms.contact WHERE lead_id IS NOT NULL UNION SELECT lead_id FROM gmcrm.lead_quarantine"
    )
    return {r[0] for r in rows}


def leads_lost(sandbox: SandboxProcess, conn: psycopg.Connection[Any]) -> list[str]:
    accounted = _accounted_leads(conn)
    return [lead["Id"] for lead in _gm_open_leads(sandbox, conn) if lead["Id"] not in accounted]


def stranded_leads(sandbox: SandboxProcess, conn: psycopg.Connection[Any]) -> set[str]:
    """Lost leads older than their dealership's watermark minus the lookback: no later read finds them."""
    lookback = timedelta(seconds=load_mapping().lookback_seconds)
    marks: dict[str, datetime] = {
        r[0]: r[1] for r in conn.execute("SELECT dealer_code, gm_modstamp FROM gmcrm.import_watermark")
    }
    accounted = _accounted_leads(conn)
    out: set[str] = set()
    for lead in _gm_open_leads(sandbox, conn):
        mark = marks.get(str(lead["Dealer_Code__c"]).strip().upper())
        if lead["Id"] in accounted or mark is None:
            continue
        if datetime.fromisoformat(str(lead["SystemModstamp"]).replace("Z", "+00:00")) < mark - lookback:
            out.add(lead["Id"])
    return out


def leads_duplicated(conn: psycopg.Connection[Any], world: World) -> int:
    row = conn.execute("SELECT count(*) - count(DISTINCT lead_id) FROM dms.contact WHERE lead_id IS NOT NULL")
    extra_contacts = int((row.fetchone() or (0,))[0])
    customers: dict[tuple[str, str], set[int]] = defaultdict(set)
    for lead_id, dealer, customer in conn.execute(
        "SELECT lead_id, dealer_code, customer_id FROM dms.contact WHERE lead_id IS NOT NULL"
    ):
        person = world.person_of.get(lead_id)
        if person is not None and customer is not None:
            customers[(dealer, person)].add(customer)
    return extra_contacts + sum(len(ids) - 1 for ids in customers.values())


def _outbox(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, dealer_code, lead_id, trigger_code, step, source_table, source_id, status "
        "FROM gmcrm.trigger_outbox ORDER BY id"
    ).fetchall()


def event_counts(sandbox: SandboxProcess, conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    """(events lost, events duplicated at GM, per-lead order violations)."""
    outbox = _outbox(conn)
    ext_id = {row[0]: f"{row[1]}-{row[0]}" for row in outbox}
    receipts = sandbox.admin.receipts()
    saved_order: dict[str, int] = {}  # external id -> sequence of its first successful receipt
    applied: Counter[str] = Counter()
    for receipt in receipts:
        if receipt["success"]:
            saved_order.setdefault(receipt["dms_event_id"], receipt["seq"])
            if receipt.get("applied"):
                applied[receipt["dms_event_id"]] += 1
    meant = [row for row in outbox if row[7] not in ("SKIPPED", "CANCELLED")]
    lost = sum(1 for row in meant if ext_id[row[0]] not in saved_order)

    known = set(ext_id.values())
    phantom = sum(1 for event_id in saved_order if event_id not in known)
    facts: Counter[tuple[Any, ...]] = Counter()
    for row in outbox:
        if ext_id[row[0]] not in saved_order:
            continue
        if row[3] in ("LIM", "LAT"):
            facts[(row[2], row[3], row[4])] += 1  # recorded once per lead by design
        elif row[6] is not None:
            facts[(row[2], row[3], row[4], row[5], row[6])] += 1  # one DMS row, one event
    twice_applied = sum(1 for n in applied.values() if n > 1)
    duplicated = phantom + sum(n - 1 for n in facts.values()) + twice_applied

    violations = 0
    by_lead: dict[str, list[int]] = defaultdict(list)
    for row in outbox:
        seq = saved_order.get(ext_id[row[0]])
        if seq is not None:
            by_lead[row[2]].append(seq)
    for seqs in by_lead.values():
        # An event saved at GM before one that precedes it in the outbox: out of order.
        latest_before = 0
        for seq in seqs:
            if seq < latest_before:
                violations += 1
            latest_before = max(latest_before, seq)
    return lost, duplicated, violations


def run_failed_in_truth(
    conn: psycopg.Connection[Any], sandbox: SandboxProcess, run: RunRecord, stranded_before: set[str]
) -> tuple[bool, set[str]]:
    """Whether something failed and stayed failed in this run; and the stranded leads after it."""
    stranded = stranded_leads(sandbox, conn)
    if run.dag_id == IMPORT_DAG:
        row = conn.execute("SELECT count(*) FROM gmcrm.import_failure WHERE run_id = %s", (run.run_id,)).fetchone()
        failed = bool(row and row[0]) or bool(stranded - stranded_before)
    else:
        row = conn.execute(
            "SELECT count(*) FROM gmcrm.send_log WHERE run_id = %s AND outcome = 'FAILED'", (run.run_id,)
        ).fetchone()
        failed = bool(row and row[0])
    return failed, stranded


def final_counts(
    sandbox: SandboxProcess, conn: psycopg.Connection[Any], world: World, green_while_failed: int
) -> Counts:
    lost, duplicated, violations = event_counts(sandbox, conn)
    return Counts(
        leads_lost=len(leads_lost(sandbox, conn)),
        leads_duplicated=leads_duplicated(conn, world),
        events_lost=lost,
        events_duplicated=duplicated,
        order_violations=violations,
        green_while_failed=green_while_failed,
    )
