"""Queries through unmodified simple-salesforce: paging, queryAll, SOQL, errors, sObject reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from gmcrm_sandbox.admin import AdminClient
from gmcrm_sandbox.process import SandboxProcess

BIG = ("BX0001", "BX0002", "BX0003")
BIG_QUERY = format_soql("SELECT Id, Dealer_Code__c, SystemModstamp FROM Opportunity WHERE Dealer_Code__c IN {}", BIG)


def query_calls(admin: AdminClient) -> int:
    calls = admin.calls()
    return int(calls["query"] + calls["query_more"] + calls["query_all"])


def test_query_all_iter_pages_over_2000_records(sf: Salesforce, admin: AdminClient) -> None:
    admin.generate(1500, seed=5, dealer_codes=BIG)
    before_calls, before_used = query_calls(admin), admin.calls()["api_usage"]["used"]

    records = list(sf.query_all_iter(BIG_QUERY))

    assert len(records) == 4500
    assert len({r["Id"] for r in records}) == 4500
    assert {r["Dealer_Code__c"] for r in records} == set(BIG)
    calls = admin.calls()
    assert query_calls(admin) - before_calls == 3  # one query, two query_more
    assert calls["query_more"] == 2
    assert calls["api_usage"]["used"] - before_used == 3


def test_first_page_shape(sf: Salesforce, admin: AdminClient) -> None:
    admin.generate(1500, seed=5, dealer_codes=BIG)
    page = sf.query(BIG_QUERY)
    assert page["totalSize"] == 4500
    assert page["done"] is False
    assert len(page["records"]) == 2000
    assert re.fullmatch(r"/services/data/v59\.0/query/01g[0-9A-Za-z]{15}-2000", page["nextRecordsUrl"])
    record = page["records"][0]
    assert list(record) == ["attributes", "Id", "Dealer_Code__c", "SystemModstamp"]
    assert record["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v59.0/sobjects/Opportunity/{record['Id']}",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000", record["SystemModstamp"])
    second = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 2000 and second["nextRecordsUrl"].endswith("-4000")
    last = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert last["done"] is True and "nextRecordsUrl" not in last and len(last["records"]) == 500


def test_batch_size_header(sf: Salesforce, admin: AdminClient) -> None:
    admin.generate(300, seed=5, dealer_codes=BIG[:1])
    query = "SELECT Id FROM Opportunity WHERE Dealer_Code__c = 'BX0001'"
    page = sf.query(query, headers={"Sforce-Query-Options": "batchSize=200"})
    assert len(page["records"]) == 200 and page["nextRecordsUrl"].endswith("-200")
    # Below the minimum Salesforce uses 200.
    assert len(sf.query(query, headers={"Sforce-Query-Options": "batchSize=10"})["records"]) == 200


def test_cursor_is_a_snapshot(sf: Salesforce, admin: AdminClient) -> None:
    admin.generate(300, seed=5, dealer_codes=BIG[:1])
    query = "SELECT Id, StageName FROM Opportunity WHERE Dealer_Code__c = 'BX0001' ORDER BY Id"
    page = sf.query(query, headers={"Sforce-Query-Options": "batchSize=200"})
    later = sf.query_all(query)["records"][250]
    admin.update_lead(later["Id"], StageName="Delivered")
    rest = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)["records"]
    assert rest[50]["Id"] == later["Id"]
    assert rest[50]["StageName"] == later["StageName"] != "Delivered"


def test_query_all_includes_deleted_query_does_not(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0001")[0]
    admin.delete_lead(lead["Id"])
    query = format_soql("SELECT Id, IsDeleted FROM Opportunity WHERE Id = {}", lead["Id"])

    assert sf.query_all(query)["records"] == []
    everything = sf.query_all(query, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(lead["Id"], True)]
    assert admin.calls()["query_all"] == 1
    total = sf.query_all("SELECT Id FROM Opportunity")["totalSize"]
    assert total == 59 and sf.query_all("SELECT Id FROM Opportunity", include_deleted=True)["totalSize"] == 60


@pytest.fixture
def known(admin: AdminClient) -> list[dict[str, object]]:
    """Five leads of dealer TS0001 with values chosen for the filters below."""
    base = {"Dealer_Code__c": "TS0001", "Lead_Type__c": "New Vehicle"}
    return admin.create_leads(
        [
            {**base, "Last_Name__c": "D'Ávila", "StageName": "New", "Email__c": "a_b@x.com",
             "SystemModstamp": "2026-11-27T10:00:00.000+0000"},
            {**base, "Last_Name__c": "Back\\slash", "StageName": "Assigned", "Email__c": None,
             "SystemModstamp": "2026-11-27T10:00:00Z"},
            {**base, "Last_Name__c": "Quote\"Line\nBreak", "StageName": "Deciding", "Substage__c": "OfferPresented",
             "Email__c": "axb@x.com", "SystemModstamp": "2026-11-27T10:00:01Z"},
            {**base, "Last_Name__c": "Souza", "StageName": "Converted", "Substage__c": "New",
             "Email__c": "SOUZA@X.COM", "SystemModstamp": "2026-11-27T09:00:00Z"},
            {**base, "Last_Name__c": "Lima", "StageName": "NotConverted", "Substage__c": "BoughtElsewhere",
             "Email__c": "lima@y.com", "SystemModstamp": "2026-11-26T09:00:00Z"},
        ]
    )  # fmt: skip


def names(sf: Salesforce, where: str, *args: object, order: str = "") -> list[str]:
    query = format_soql(f"SELECT Last_Name__c FROM Opportunity WHERE Dealer_Code__c = 'TS0001' AND ({where})", *args)
    if order:
        query += f" ORDER BY {order}"
    return [r["Last_Name__c"] for r in sf.query_all(query)["records"]]


def test_escaping_with_format_soql(sf: Salesforce, known: list[dict[str, object]]) -> None:
    for name in ("D'Ávila", "Back\\slash", 'Quote"Line\nBreak'):
        assert names(sf, "Last_Name__c = {}", name) == [name]


def test_in_not_in_and_or(sf: Salesforce, known: list[dict[str, object]]) -> None:
    assert sorted(names(sf, "StageName IN {}", ["New", "Assigned"])) == ["Back\\slash", "D'Ávila"]
    open_ = names(sf, "StageName NOT IN {}", ["Converted", "Delivered", "NotConverted"])
    assert sorted(open_) == ["Back\\slash", "D'Ávila", 'Quote"Line\nBreak']
    assert names(
        sf, "(StageName = 'New' OR StageName = 'Converted') AND Email__c LIKE '%x.com'", order="Last_Name__c"
    ) == [
        "D'Ávila",
        "Souza",
    ]
    assert names(sf, "Email__c = 'souza@x.com'") == ["Souza"]  # case-insensitive
    assert names(sf, "Email__c LIKE '{:like}%'", "a_b") == ["D'Ávila"]
    assert names(sf, "Email__c = null") == ["Back\\slash"]


def test_datetime_filters(sf: Salesforce, known: list[dict[str, object]]) -> None:
    since = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    assert sorted(names(sf, "SystemModstamp >= {}", since)) == ["Back\\slash", "D'Ávila", 'Quote"Line\nBreak']
    assert names(sf, "SystemModstamp > 2026-11-27T10:00:00Z") == ['Quote"Line\nBreak']
    assert names(sf, "SystemModstamp > 2026-11-27T10:00:00.000Z") == ['Quote"Line\nBreak']
    assert names(sf, "SystemModstamp < 2026-11-27T07:00:00-03:00", order="SystemModstamp") == ["Lima", "Souza"]


def test_order_by_and_limit(sf: Salesforce, known: list[dict[str, object]]) -> None:
    query = (
        "SELECT Last_Name__c, Substage__c FROM Opportunity WHERE Dealer_Code__c = 'TS0001' "
        "ORDER BY Substage__c DESC NULLS LAST, Last_Name__c LIMIT 4"
    )
    result = sf.query(query)
    assert result["totalSize"] == 4
    assert [r["Substage__c"] for r in result["records"]] == ["OfferPresented", "New", "BoughtElsewhere", None]
    assert result["records"][3]["Last_Name__c"] == "Back\\slash"


def test_field_names_are_case_insensitive_and_come_back_canonical(
    sf: Salesforce, known: list[dict[str, object]]
) -> None:
    rows = sf.query("select last_name__c, ID, stagename from opportunity where dealer_code__c = 'ts0001' limit 1")
    assert list(rows["records"][0]) == ["attributes", "Last_Name__c", "Id", "StageName"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT Id FROM Opportunity GROUP BY StageName", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE Id IN (SELECT Lead__c FROM Lead_Event__c)", "MALFORMED_QUERY"),
        ("SELECT Id, Nope__c FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
    ],
)
def test_bad_queries_raise_malformed_request(sf: Salesforce, query: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(query)
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == code
    assert "ERROR at Row:1:Column:" in err.value.content[0]["message"]


def test_invalid_field_names_it(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Nope__c FROM Opportunity")
    assert "No such column 'Nope__c' on entity 'Opportunity'" in err.value.content[0]["message"]


def test_sobject_get(sf: Salesforce, admin: AdminClient) -> None:
    lead = admin.leads(dealer_code="BR0002")[0]
    got = sf.Opportunity.get(lead["Id"])
    assert got["Id"] == lead["Id"]
    assert got["Last_Name__c"] == lead["Last_Name__c"]
    assert got["CreatedDate"] == lead["CreatedDate"]
    assert got["attributes"]["type"] == "Opportunity"
    assert sf.Opportunity.get(lead["Id"][:15])["Id"] == lead["Id"]
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Opportunity.get("006SB0000000000AAA")
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"
    assert admin.calls()["sobject_get"] == 3


def test_uri_longer_than_16384_is_414(sf: Salesforce) -> None:
    codes = [f"BR{n:06d}" for n in range(2000)]
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query(format_soql("SELECT Id FROM Opportunity WHERE Dealer_Code__c IN {}", codes))
    assert err.value.status == 414


def test_any_api_version(sandbox: SandboxProcess, sf: Salesforce, http: requests.Session) -> None:
    old = Salesforce(instance_url=sandbox.instance_url, session_id=sf.session_id, session=http, version="52.0")
    page = old.query("SELECT Id FROM Opportunity LIMIT 1")
    assert page["records"][0]["attributes"]["url"].startswith("/services/data/v52.0/")
    response = http.get(
        f"{sandbox.instance_url}/services/data/v59/limits/",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        timeout=10,
    )
    assert response.status_code == 404
