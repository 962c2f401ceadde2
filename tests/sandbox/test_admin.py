"""The admin API: leads, late commits, reset, generation, clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from simple_salesforce import Salesforce

from gmcrm_sandbox import ids, records
from gmcrm_sandbox.admin import AdminClient, AdminError
from gmcrm_sandbox.generate import generate_leads
from gmcrm_sandbox.schema import OPPORTUNITY

# As conftest.py starts the session's sandbox.
DEALERS = ("BR0001", "BR0002", "BR0003")
LEADS_PER_DEALER = 20


def test_health_and_generated_state(admin: AdminClient) -> None:
    health = admin.health()
    assert health["status"] == "ok"
    assert health["leads"] == len(DEALERS) * LEADS_PER_DEALER
    assert len(admin.leads(dealer_code="BR0002")) == LEADS_PER_DEALER
    assert admin.leads(dealer_code="nope") == []


def test_create_lead_defaults_and_ids(admin: AdminClient) -> None:
    admin.set_clock("2026-11-27T10:00:00Z")
    lead = admin.create_lead(Dealer_Code__c="BR0009", Last_Name__c="Transportes Silva Ltda.")
    assert ids.to_18(lead["Id"][:15]) == lead["Id"] and lead["Id"].startswith("006")
    assert lead["StageName"] == "New" and lead["IsDeleted"] is False
    assert lead["CreatedDate"] == lead["SystemModstamp"] == "2026-11-27T10:00:00.000+0000"
    assert list(lead) == [f.name for f in OPPORTUNITY.fields]
    with pytest.raises(AdminError) as err:
        admin.create_lead(Id=lead["Id"])
    assert err.value.status == 409
    with pytest.raises(AdminError) as err:
        admin.create_lead(Nope__c=1)
    assert err.value.status == 400
    with pytest.raises(AdminError) as err:
        admin.get_lead("006SB0000000000AAA")
    assert err.value.status == 404


def test_changes_move_systemmodstamp_unless_set(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    admin.set_clock("2026-11-27T10:00:00Z")
    changed = admin.update_lead(lead["Id"], Email__c="novo@exemplo.com.br")
    assert changed["SystemModstamp"] == "2026-11-27T10:00:00.000+0000"
    assert changed["CreatedDate"] == lead["CreatedDate"]

    # A late commit: the change becomes visible with a stamp older than one already read.
    late = admin.update_lead(lead["Id"], StageName="Assigned", SystemModstamp="2026-11-27T09:59:00Z")
    assert late["SystemModstamp"] == "2026-11-27T09:59:00.000+0000"
    query = f"SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-11-27T09:59:00Z AND Id = '{lead['Id']}'"
    assert sf.query(query)["totalSize"] == 1

    admin.set_clock(advance_seconds=5)
    deleted = admin.delete_lead(lead["Id"])
    assert deleted["IsDeleted"] is True and deleted["SystemModstamp"] == "2026-11-27T10:00:05.000+0000"
    with pytest.raises(AdminError):
        admin.update_lead(lead["Id"], Id="006SB0000000001AAA")


def test_dealer_code_change_moves_the_lead_between_dealers(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    admin.update_lead(lead["Id"], Dealer_Code__c="BR0003")
    assert len(admin.leads(dealer_code="BR0001")) == LEADS_PER_DEALER - 1
    assert len(admin.leads(dealer_code="BR0003")) == LEADS_PER_DEALER + 1
    found = sf.query_all("SELECT Id FROM Opportunity WHERE Dealer_Code__c = 'BR0003'")["records"]
    assert lead["Id"] in {r["Id"] for r in found}


def test_reset_restores_the_generated_leads(admin: AdminClient) -> None:
    before = admin.leads()
    admin.update_lead(before[0]["Id"], StageName="Converted")
    admin.create_lead(Dealer_Code__c="BR0001")
    admin.set_limits(max=10, used=5)
    admin.fail_next(503, count=5)
    admin.reset()
    assert admin.leads() == before
    assert admin.calls()["api_usage"] == {"used": 0, "max": 15000}
    assert admin.faults() == []
    admin.reset(empty=True)
    assert admin.leads() == [] and admin.health()["leads"] == 0


def test_generate_through_the_admin_api_matches_the_function(admin: AdminClient) -> None:
    admin.reset(empty=True)
    result = admin.generate(7, seed=9, dealer_codes=["SP0001", "RJ0001"], now="2026-11-27T10:00:00Z")
    assert result["created"] == 14
    expected = generate_leads(9, ["SP0001", "RJ0001"], 7, datetime(2026, 11, 27, 10, tzinfo=UTC))
    assert admin.leads() == [records.plain(OPPORTUNITY, lead) for lead in expected]
    assert admin.generate(2, dealers=2)["dealer_codes"] == ["BR0001", "BR0002"]


def test_calls_start_at_zero_after_reset(admin: AdminClient) -> None:
    calls = admin.calls()
    assert calls["total"] == 0
    assert set(calls) >= {"token", "query", "query_more", "query_all", "sobject_get", "collection_upsert", "limits"}


def test_new_leads_arriving_now_and_the_count_of_leads_changed_since(admin: AdminClient) -> None:
    admin.reset(empty=True)
    admin.set_clock("2026-11-27T10:00:00Z")
    admin.generate(3, seed=9, dealer_codes=["SP0001"])  # stamped over the past weeks
    assert admin.changed_leads(since="2026-11-27T09:59:59Z") < 3
    admin.set_clock("2026-11-27T10:05:00Z")
    arrived = admin.generate(4, seed=10, dealer_codes=["SP0001", "RJ0001"], arrived_now=True)["created"]
    assert arrived == 8
    stamps = {(lead["CreatedDate"], lead["SystemModstamp"]) for lead in admin.leads() if lead["Id"]}
    assert ("2026-11-27T10:05:00.000+0000", "2026-11-27T10:05:00.000+0000") in stamps
    assert admin.changed_leads(since="2026-11-27T10:04:59Z") == 8
    assert admin.changed_leads(since="2026-11-27T10:05:00Z") == 0  # after, not at
    lead = admin.leads(dealer_code="SP0001")[0]["Id"]
    admin.set_clock("2026-11-27T10:06:00Z")
    admin.update_lead(lead, StageName="Converted")  # an event applied at GM moves it too
    assert admin.changed_leads(since="2026-11-27T10:05:30Z") == 1
    admin.set_clock()
