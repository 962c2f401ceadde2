"""Claims that free themselves (issue 12, item 2): a sender SIGKILLed in the middle of a call leaves its
claims to a session PostgreSQL ends at once, so another sender takes its events within seconds, not
after the 10-minute lease; nothing is lost, nothing applied twice at GM, each lead's order kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.send import (
    assert_delivered_exactly_once_in_order,
    contacts,
    gm_stage,
    import_leads,
    outbox,
    send,
    send_log,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]

# The send task as a process of its own: a Sender on its own connection, against the sandbox.
SENDER = """
import os, sys
import psycopg
from gmcrm.gm_client import GmClient
from gmcrm.send.deliver import Sender
from gmcrm.send.report import RunInfo
client = GmClient.direct(os.environ["SB_URL"], os.environ["SB_ID"], os.environ["SB_SECRET"], os.environ["SB_CA"],
                         retry_attempts=1, timeout=120)
with psycopg.connect(os.environ["DMS_URL"], autocommit=True) as conn:
    sender = Sender(conn, client, run=RunInfo("gmcrm_send_triggers", "doomed", 1), worker="doomed")
    sender.prepare()
    sender.run_until_done()
"""


def _poll(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_sigkilled_sender_frees_its_claims_at_once(
    conn: psycopg.Connection[Any], dms_url: str, gm_sandbox: SandboxProcess
) -> None:
    lead_ids = import_leads(dms_url, gm_sandbox, *[("BR0001", "NEW_VEHICLE")] * 3)
    for contact in contacts(conn, lead_ids):
        dms.register_contact(conn, contact, "PHONE")
        dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")
    total = len(outbox(conn))
    assert total == 12
    # GM is slow: the sender's call waits 6 s at GM before it is applied (the request has arrived).
    gm_sandbox.admin.add_latency(6.0, count=1, applies_to="collection")
    calls = gm_sandbox.admin.calls()["total"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "sandbox"), str(ROOT)]),
        "DMS_URL": dms_url,
        "SB_URL": gm_sandbox.instance_url,
        "SB_ID": gm_sandbox.client_id,
        "SB_SECRET": gm_sandbox.client_secret,
        "SB_CA": gm_sandbox.ca_bundle,
    }
    proc = subprocess.Popen([sys.executable, "-c", SENDER], env=env)
    try:
        claimed = "SELECT count(*) FROM gmcrm.trigger_outbox WHERE claimed_by = 'doomed'"
        _poll(lambda: conn.execute(claimed).fetchone() == (total,), "the sender's claims")
        # Mid-batch: its call (token, then the graphs) has reached GM and waits there.
        _poll(lambda: gm_sandbox.admin.calls()["total"] >= calls + 2, "the sender's call")
        # A run meanwhile leaves a live sender's claims alone.
        assert send(conn, run_id="meanwhile").totals() == {}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    killed = time.monotonic()

    # Another sender, as the next run would: claims and sends the dead sender's events.
    rounds = 0
    while any(r.status != "SENT" for r in outbox(conn)):
        rounds += 1
        assert time.monotonic() - killed < 30, "the dead sender's events still wait"
        send(conn, run_id=f"next-{rounds}")
        if rounds > 1:
            time.sleep(0.05)
    waited = time.monotonic() - killed
    print(f"\nevents of a SIGKILLed sender waited {waited:.2f}s for another sender ({rounds} run(s)); lease 600 s")
    assert waited < 10

    # Nothing lost, nothing twice in effect, order per lead: once GM applied the killed call too.
    log = send_log(conn)
    assert {e["outcome"] for e in log} == {"SENT"} and len(log) == total
    assert {e["run_id"] for e in log} <= {f"next-{i}" for i in range(1, rounds + 1)}
    _poll(lambda: sum(e["receipts"] for e in gm_sandbox.admin.events()) == 2 * total, "the killed call's upserts")
    assert_delivered_exactly_once_in_order(conn, gm_sandbox)
    assert all(e["receipts"] == 2 for e in gm_sandbox.admin.events())
    for lead_id in lead_ids:
        assert gm_stage(gm_sandbox, lead_id) == ("Deciding", "TestDriveScheduled")
