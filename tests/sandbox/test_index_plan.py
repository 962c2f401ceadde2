"""The sandbox answers an OR of indexable alternatives through its dealer-code index, LIKE included,
with exactly the records a scan finds."""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce

from gmcrm_sandbox import soql
from gmcrm_sandbox.admin import AdminClient

QUERY = (
    "SELECT Id FROM Opportunity WHERE (Dealer_Code__c IN ('BR0001') AND SystemModstamp >= 2000-01-01T00:00:00Z) "
    "OR (Dealer_Code__c IN ('BR0002') AND IsDeleted = false) "
    "OR ((Dealer_Code__c LIKE '%\u00a0' OR Dealer_Code__c LIKE '\u3000%') AND SystemModstamp >= 2000-01-01T00:00:00Z) "
    "ORDER BY Id"
)


def test_an_or_of_indexable_alternatives_gets_union_hints() -> None:
    bound = soql.compile_query(QUERY)
    assert bound.union_hints is not None
    assert [(name, sorted(values), len(patterns)) for name, values, patterns in bound.union_hints] == [
        ("Dealer_Code__c", ["br0001"], 0),
        ("Dealer_Code__c", ["br0002"], 0),
        ("Dealer_Code__c", [], 2),
    ]
    assert (
        soql.compile_query("SELECT Id FROM Opportunity WHERE Dealer_Code__c = 'A' OR IsDeleted = true").union_hints
        is None
    )


def test_the_indexed_answer_is_the_scanned_one(sf: Salesforce, admin: AdminClient) -> None:
    made = admin.create_leads(
        [{"Dealer_Code__c": code} for code in ("BR0001\u00a0", "\u3000br0003", "BR0002", "BR0004 x\u00a0")]
    )
    found = {r["Id"] for r in sf.query_all(QUERY)["records"]}
    everything = sf.query_all("SELECT Id, Dealer_Code__c, SystemModstamp, IsDeleted FROM Opportunity")["records"]
    scanned = {r["Id"] for r in everything if _matches(r)}
    assert found == scanned and {m["Id"] for m in made} <= found


def _matches(r: dict[str, Any]) -> bool:
    code = r["Dealer_Code__c"] or ""
    return code.casefold() in ("br0001", "br0002") or code.endswith("\u00a0") or code.startswith("\u3000")
