"""A dealership that did not load in a run is first in the next (issue 11): the load groups of a run start
with the dealerships whose last import failed or never ran, the longest waiting first.

The GM sandbox over HTTPS, a real PostgreSQL, the pipeline the DAG runs.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, run_import

pytestmark = pytest.mark.integration

DEALERS = ["BR0001", "BR0002", "BR0003"]


def _order(groups: list[pipeline.DealerGroup]) -> list[str]:
    return [code for group in groups for code in group.dealer_codes]


def test_dealerships_whose_load_failed_or_never_ran_are_first_in_the_next_run(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    client = fast_client()
    create_leads(gm_sandbox, *(lead(code) for code in DEALERS))
    _, done, failed = run_import(dms, lambda _c: client)  # every dealership loads, in code order
    assert not failed and [r.dealer_code for r in done] == DEALERS

    create_leads(gm_sandbox, *(lead(code) for code in DEALERS for _ in range(2)))
    run_id = f"test__{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dms) as conn:
        summary = pipeline.extract(conn, run_id, lambda _c: client)
        assert _order(summary.groups) == DEALERS  # nobody is behind yet
        # BR0003's load fails (its staged records lost), and the run ends before BR0002's task ran (the
        # run's timeout): only BR0001 loads.
        conn.execute("DELETE FROM gmcrm.lead_staging WHERE run_id = %s AND dealer_code = 'BR0003'", (run_id,))
        conn.commit()
        by_code = {g.dealer_codes[0]: g for g in summary.groups}
        for code in ("BR0001", "BR0003"):
            pipeline.load_group(conn, by_code[code], load_mapping())

        # The next run: BR0002 and BR0003 first (BR0002 loaded longer ago: in the first run, before BR0003),
        # then BR0001; grouped into at most 2 tasks, the labels naming the overdue ones first.
        nxt = pipeline.extract(conn, f"test__{uuid.uuid4().hex[:8]}", lambda _c: client, per_group=None, max_tasks=2)
        assert _order(nxt.groups) == ["BR0002", "BR0003", "BR0001"]
        # Each staged 3 records (the look-back reads the earlier ones again): equal weights, cut in the middle.
        assert [g.label for g in nxt.groups] == ["BR0002", "BR0003, then BR0001 (2)"]
        for group in nxt.groups:
            done, failed = pipeline.load_group(conn, group, load_mapping())
            assert not failed

        # Everyone loaded: back to code order, nobody named overdue.
        again = pipeline.extract(conn, f"test__{uuid.uuid4().hex[:8]}", lambda _c: client)
        assert _order(again.groups) == DEALERS
        assert [g.label for g in again.groups] == DEALERS
        count = conn.execute("SELECT count(*) FROM dms.contact WHERE dealer_code = ANY(%s)", (DEALERS,)).fetchone()
        assert count == (9,)  # every lead of the three runs loaded once, none lost or doubled


def test_a_dealership_whose_extract_failed_is_first_once_its_connection_works(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    client = fast_client()
    create_leads(gm_sandbox, *(lead(code) for code in DEALERS))
    run_import(dms, lambda _c: client)
    with psycopg.connect(dms) as conn:
        conn.execute("UPDATE gmcrm.dealership SET gm_conn_id = 'gm_other' WHERE dealer_code = 'BR0003'")
        conn.commit()

    def client_for(conn_id: str) -> object:
        if conn_id == "gm_other":
            raise RuntimeError("connection gm_other refused")
        return client

    summary, _done, _failed = run_import(dms, client_for)
    assert summary.failed == ["BR0003"] and _order(summary.groups) == ["BR0001", "BR0002"]

    summary, _done, failed = run_import(dms, lambda _c: client)  # the connection works again
    assert not failed and _order(summary.groups) == ["BR0003", "BR0001", "BR0002"]
    assert summary.groups[0].label == "BR0003"
