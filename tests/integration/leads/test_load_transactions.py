"""A load task's transactions: about ``GMCRM_LOAD_ROWS_PER_TRANSACTION`` rows of whole dealerships each
(default 1,000), or one per dealership (``0``); a failing transaction of several is loaded again one
dealership at a time, so the failure stays that dealership's.

The GM sandbox over HTTPS, a real PostgreSQL, the pipeline the DAG runs, with the three demo
dealerships in one load group (as a task holds them when there are hundreds).
"""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest

from gmcrm import settings
from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline
from gmcrm.leads.load import LoadResult
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import (
    contact_transactions,
    create_leads,
    fast_client,
    lead,
    refuse_contacts_of,
    rows,
    scalar,
)

pytestmark = pytest.mark.integration

CODES = ["BR0001", "BR0002", "BR0003"]


def _load_as_one_group(dms: str) -> tuple[list[LoadResult], list[tuple[str, BaseException]]]:
    client = fast_client()
    run_id = f"test__{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dms) as conn:
        pipeline.extract(conn, run_id, lambda _c: client)
        return pipeline.load_group(conn, pipeline.DealerGroup(CODES, run_id), load_mapping())


def test_a_group_s_dealerships_load_in_one_transaction_by_default(
    dms: str, gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.LOAD_ROWS_PER_TRANSACTION, raising=False)
    create_leads(gm_sandbox, *(lead(code) for code in CODES for _ in range(2)))
    done, failed = _load_as_one_group(dms)

    assert not failed
    assert [(r.dealer_code, r.contacts_created, r.loaded_with) for r in done] == [(c, 2, 3) for c in CODES]
    (xmin,) = set.union(*contact_transactions(dms).values())  # one transaction wrote them all
    assert contact_transactions(dms) == {code: {xmin} for code in CODES}
    assert rows(dms, "SELECT dealer_code, leads_read, contacts_created FROM gmcrm.import_log ORDER BY 1") == [
        (c, 2, 2) for c in CODES
    ]


def test_zero_rows_per_transaction_loads_each_dealership_in_its_own(
    dms: str, gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.LOAD_ROWS_PER_TRANSACTION, "0")
    create_leads(gm_sandbox, *(lead(code) for code in CODES for _ in range(2)))
    done, failed = _load_as_one_group(dms)

    assert not failed and [r.loaded_with for r in done] == [1, 1, 1]
    transactions = contact_transactions(dms)
    assert sorted(transactions) == CODES and all(len(t) == 1 for t in transactions.values())
    assert len(set.union(*transactions.values())) == 3


def test_a_failing_dealership_is_loaded_again_alone_and_the_others_of_its_transaction_load(
    dms: str, gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(settings.LOAD_ROWS_PER_TRANSACTION, raising=False)
    create_leads(gm_sandbox, *(lead(code) for code in CODES for _ in range(2)))
    with psycopg.connect(dms) as conn:  # a DMS rule refuses BR0002's contacts: its load fails in the database
        refuse_contacts_of(conn, "BR0002")
    with caplog.at_level(logging.WARNING, logger="gmcrm.leads.pipeline"):
        done, failed = _load_as_one_group(dms)

    assert "the load of 3 dealerships in one transaction failed" in caplog.text
    assert [(code, "closed for maintenance" in str(exc)) for code, exc in failed] == [("BR0002", True)]
    assert [(r.dealer_code, r.contacts_created, r.loaded_with) for r in done] == [("BR0001", 2, 1), ("BR0003", 2, 1)]
    transactions = contact_transactions(dms)
    assert sorted(transactions) == ["BR0001", "BR0003"] and transactions["BR0001"] != transactions["BR0003"]
    # Nothing of BR0002 stayed; its failure is recorded against it alone, its staging kept for the next run.
    assert scalar(dms, "SELECT count(*) FROM dms.customer WHERE dealer_code = 'BR0002'") == 0
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_log WHERE dealer_code = 'BR0002'") == 0
    assert scalar(dms, "SELECT count(*) FROM gmcrm.lead_staging WHERE dealer_code = 'BR0002'") == 2
    assert rows(dms, "SELECT dealer_code, stage FROM gmcrm.import_failure") == [("BR0002", "load")]
