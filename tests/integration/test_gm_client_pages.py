"""Query pages are asked for one ahead (issue 11): GM prepares page N+1 while the import stages page N,
one request in flight at a time, pages in order, and no more calls than pages (against the sandbox over
real HTTPS with the real simple-salesforce client)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from gmcrm.gm_client import GmClient
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead

pytestmark = pytest.mark.integration


def _soql(client: GmClient) -> str:
    f = client.mapping.lead_fields
    return (
        f"SELECT {f['lead_id']} FROM {client.mapping.lead_object} WHERE {f['dealer_code']} = 'BR0001' "
        f"ORDER BY {f['lead_id']} ASC"
    )


def _query_more_calls(sandbox: SandboxProcess) -> int:
    return int(sandbox.admin.calls()["query_more"])


def test_the_next_page_is_asked_for_while_the_caller_holds_this_one(gm_sandbox: SandboxProcess) -> None:
    create_leads(gm_sandbox, *(lead("BR0001") for _ in range(650)))
    client = fast_client()
    client.mapping = dataclasses.replace(client.mapping, page_size=200)
    soql = _soql(client)
    total = len(gm_sandbox.admin.leads("BR0001"))
    pages = client.query_pages(soql)
    before = _query_more_calls(gm_sandbox)

    first = next(pages)
    # Page 2 is requested while page 1 is still with the caller (which has not asked for more yet).
    deadline = time.monotonic() + 10
    while _query_more_calls(gm_sandbox) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _query_more_calls(gm_sandbox) == before + 1
    time.sleep(0.3)  # and only that one: never two ahead
    assert _query_more_calls(gm_sandbox) == before + 1

    rest = [record for page in pages for record in page]
    ids = [r[client.mapping.lead_fields["lead_id"]] for r in first + rest]
    assert len(first) == 200 and len(ids) == total == len(set(ids)) and ids == sorted(ids)
    expected_more = -(-total // 200) - 1
    assert _query_more_calls(gm_sandbox) == before + expected_more
    assert client.stats.calls == 1 + expected_more


def test_a_caller_that_stops_early_costs_at_most_the_page_asked_for_ahead(gm_sandbox: SandboxProcess) -> None:
    create_leads(gm_sandbox, *(lead("BR0001") for _ in range(650)))
    client = fast_client()
    client.mapping = dataclasses.replace(client.mapping, page_size=200)
    before = _query_more_calls(gm_sandbox)
    pages = client.query_pages(_soql(client))
    next(pages)
    pages.close()  # the caller failed while staging page 1
    assert _query_more_calls(gm_sandbox) == before + 1
