"""The malformed-lead corpus (tests/data/malformed_leads.py) through a real import: each malformed lead
ends as a contact or in quarantine with a reason, and every good lead of the same batch loads."""

from __future__ import annotations

import pytest

from gmcrm_sandbox.admin import AdminError
from gmcrm_sandbox.process import SandboxProcess
from tests.data.malformed_leads import malformed_cases, refused_by_gm
from tests.integration.helpers.imports import create_leads, fast_client, lead, rows, run_import

pytestmark = pytest.mark.integration


def test_the_corpus_has_at_least_50_cases() -> None:
    cases = malformed_cases("BR0001")
    assert len(cases) >= 50 and len({c.name for c in cases}) == len(cases)
    assert malformed_cases("BR0001") == cases  # fixed seed: the same leads every time


def test_every_malformed_lead_is_loaded_or_quarantined_and_the_good_ones_load(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    cases = malformed_cases("BR0001")
    good = [lead("BR0001") for _ in range(5)] + [lead("BR0002") for _ in range(5)]
    half = len(cases) // 2
    # One batch: good leads before, between and after the malformed ones.
    good_ids = [r["Id"] for r in create_leads(gm_sandbox, *good[:3])]
    malformed_ids = [r["Id"] for r in create_leads(gm_sandbox, *(c.fields for c in cases[:half]))]
    good_ids += [r["Id"] for r in create_leads(gm_sandbox, *good[3:7])]
    malformed_ids += [r["Id"] for r in create_leads(gm_sandbox, *(c.fields for c in cases[half:]))]
    good_ids += [r["Id"] for r in create_leads(gm_sandbox, *good[7:])]

    summary, _done, failed = run_import(dms, lambda _c: fast_client())

    assert not failed and not summary.failed
    contacts = {r[0] for r in rows(dms, "SELECT lead_id FROM dms.contact")}
    quarantined = dict(
        rows(dms, "SELECT lead_id, reason FROM gmcrm.lead_quarantine WHERE resolved_at IS NULL AND reason <> ''")
    )
    assert set(good_ids) <= contacts
    names = dict(zip(malformed_ids, (c.name for c in cases), strict=True))
    lost = sorted(names[i] for i in malformed_ids if i not in contacts and i not in quarantined)
    assert lost == []
    both = sorted(names[i] for i in malformed_ids if i in contacts and i in quarantined)
    assert both == []


def test_what_gm_refuses_to_save_never_reaches_the_import(gm_sandbox: SandboxProcess) -> None:
    for case in refused_by_gm("BR0001"):
        with pytest.raises(AdminError) as refused:
            gm_sandbox.admin.create_leads([case.fields])
        assert refused.value.status == 400, case.name
    assert gm_sandbox.admin.leads() == []
