"""The per-dealership import line: short, and it says what changed. A quiet cycle (the lookback re-reads
the same leads, or GM touched a lead without changing what the DMS keeps of it) says "no changes"."""

from __future__ import annotations

import time

import pytest

from gmcrm.leads.load import LoadResult
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, one_client, run_import, scalar

pytestmark = pytest.mark.integration

LINE_LIMIT = 160


def _results(dms: str, client: object) -> dict[str, LoadResult]:
    _, done, failed = run_import(dms, one_client(client))
    assert not failed
    return {r.dealer_code: r for r in done}


def test_a_second_cycle_without_changes_at_gm_says_no_changes(dms: str, gm_sandbox: SandboxProcess) -> None:
    create_leads(gm_sandbox, *(lead("BR0001") for _ in range(3)), lead("BR0001", "PARTS"))
    client = fast_client()
    first = _results(dms, client)["BR0001"]
    second = _results(dms, client)["BR0001"]

    assert first.line().startswith("BR0001: 4 leads read: 4 new contacts (4 new customers), 8 events")
    # The lookback reads the same leads again; nothing of them changed.
    assert (second.leads_read, second.contacts_updated, second.contacts_created) == (4, 0, 0)
    assert second.line().startswith("BR0001: 4 leads read, no changes;")
    for result in (first, second):
        assert len(result.line()) < LINE_LIMIT and "API" not in result.line()


def test_a_lead_gm_touched_without_changing_its_fields_is_not_counted_updated(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    """GM moves SystemModstamp for changes the DMS does not keep (another field, GM's own automation, the
    stage our own event set again): the contact takes the new stamp, and the line says no changes."""
    created = create_leads(gm_sandbox, lead("BR0001"), lead("BR0001"))
    client = fast_client()
    _results(dms, client)
    target = created[0]["Id"]
    time.sleep(1.1)  # SystemModstamp has whole seconds at the sandbox
    touched = gm_sandbox.admin.update_lead(target, StageName="New")  # the value it already has
    result = _results(dms, client)["BR0001"]

    assert result.contacts_updated == 0
    assert result.line().startswith("BR0001: 2 leads read, no changes;")
    stamp = scalar(dms, "SELECT to_char(gm_modstamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
                        "FROM dms.contact WHERE lead_id = %s", target)  # fmt: skip
    assert str(touched["SystemModstamp"]).startswith(stamp)
    logged = scalar(dms, "SELECT contacts_updated FROM gmcrm.import_log ORDER BY finished_at DESC LIMIT 1")
    assert logged == 0


def test_a_change_at_gm_is_counted_once(dms: str, gm_sandbox: SandboxProcess) -> None:
    created = create_leads(gm_sandbox, lead("BR0001"), lead("BR0001"))
    client = fast_client()
    _results(dms, client)
    gm_sandbox.admin.update_lead(created[1]["Id"], StageName="Experiencing", Trim__c="1.0 Turbo LTZ")
    changed = _results(dms, client)["BR0001"]
    again = _results(dms, client)["BR0001"]

    assert changed.line().startswith("BR0001: 2 leads read: 1 updated;")
    assert again.line().startswith("BR0001: 2 leads read, no changes;")
