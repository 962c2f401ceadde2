"""The SOQL parser and evaluator alone, without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from simple_salesforce import format_soql

from gmcrm_sandbox import soql
from gmcrm_sandbox.errors import ApiError

ACCEPTED = [
    "SELECT Id FROM Opportunity",
    "select id, stagename from opportunity",
    "SELECT Id FROM Lead_Event__c WHERE DMS_Event_Id__c = 'BR0001-1'",
    "SELECT Id FROM Opportunity WHERE Dealer_Code__c IN ('BR0001', 'BR0002') AND StageName NOT IN ('Converted')",
    "SELECT Id FROM Opportunity WHERE (StageName = 'New' OR StageName = 'Assigned') AND IsDeleted = false",
    "SELECT Id FROM Opportunity WHERE NOT (StageName = 'New' OR Substage__c = null)",
    "SELECT Id FROM Opportunity WHERE SystemModstamp > 2026-11-27T10:00:00Z",
    "SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-11-27T10:00:00.000Z",
    "SELECT Id FROM Opportunity WHERE SystemModstamp <= 2026-11-27T07:00:00-03:00",
    "SELECT Id FROM Opportunity WHERE SystemModstamp < 2026-11-27T10:00:00+00:00 AND CreatedDate <> null",
    "SELECT Id FROM Opportunity WHERE Email__c LIKE '%@gmail.com'",
    "SELECT Id FROM Opportunity ORDER BY SystemModstamp DESC NULLS LAST, Id ASC LIMIT 10",
    "SELECT Id FROM Opportunity ORDER BY Substage__c NULLS FIRST",
    "SELECT Id FROM Lead_Event__c WHERE Trade_In_Value__c > 1000.5 AND Trade_In_Mileage__c != null",
    "SELECT Id FROM Opportunity WHERE Last_Name__c = 'D\\'Ávila \\\\ \\n \\u00e9'",
    "SELECT Id\nFROM Opportunity\nWHERE StageName = 'New'\nLIMIT 5",
]

REJECTED: list[tuple[str, str, str]] = [
    # (query, errorCode, a fragment of the message)
    ("SELECT COUNT() FROM Opportunity", "MALFORMED_QUERY", "unexpected token: '('"),
    ("SELECT Id FROM Opportunity GROUP BY StageName", "MALFORMED_QUERY", "unexpected token: 'GROUP'"),
    ("SELECT Id FROM Opportunity LIMIT 5 OFFSET 5", "MALFORMED_QUERY", "OFFSET"),
    ("SELECT Id FROM Opportunity WHERE Id IN (SELECT Lead__c FROM Lead_Event__c)", "MALFORMED_QUERY", "SELECT"),
    ("SELECT Id FROM Opportunity WHERE StageName = 'A' AND StageName = 'B' OR Id = null", "MALFORMED_QUERY", "'OR'"),
    ("SELECT Id FROM", "MALFORMED_QUERY", "<EOF>"),
    ("SELECT FROM Opportunity", "MALFORMED_QUERY", "unexpected token"),
    ('SELECT Id FROM Opportunity WHERE StageName = "New"', "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Opportunity WHERE StageName = 'New", "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Opportunity WHERE Last_Name__c = 'a\\qb'", "MALFORMED_QUERY", "Illegal character sequence"),
    ("SELECT Id FROM Opportunity WHERE SystemModstamp > TODAY", "MALFORMED_QUERY", "TODAY"),
    ("SELECT Id, Owner.Name FROM Opportunity", "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id, id FROM Opportunity", "MALFORMED_QUERY", "duplicate field selected: Id"),
    ("SELECT Id, Name FROM Opportunity", "INVALID_FIELD", "No such column 'Name' on entity 'Opportunity'"),
    ("SELECT Id FROM Opportunity WHERE Foo__c = 'x'", "INVALID_FIELD", "No such column 'Foo__c'"),
    ("SELECT Id FROM Opportunity ORDER BY Foo__c", "INVALID_FIELD", "Foo__c"),
    ("SELECT Id FROM Lead", "INVALID_TYPE", "sObject type 'Lead' is not supported"),
    ("SELECT Id FROM Opportunity WHERE Model_Year__c = 2026", "INVALID_FIELD", "must be of type string"),
    ("SELECT Id FROM Opportunity WHERE SystemModstamp > '2026-11-27T10:00:00Z'", "INVALID_FIELD", "dateTime"),
    ("SELECT Id FROM Opportunity WHERE CreatedDate > 2026-11-27", "INVALID_FIELD", "dateTime"),
    ("SELECT Id FROM Opportunity WHERE IsDeleted = 'false'", "INVALID_FIELD", "boolean"),
    ("SELECT Id FROM Opportunity WHERE Comments__c = 'x'", "INVALID_FIELD", "can not be filtered"),
    ("SELECT Id FROM Opportunity ORDER BY Comments__c", "INVALID_FIELD", "can not be sorted"),
    ("SELECT Id FROM Opportunity WHERE Id = 'not-an-id'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field"),
    ("SELECT Id FROM Opportunity WHERE IsDeleted > false", "INVALID_QUERY_FILTER_OPERATOR", "boolean"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted(text: str) -> None:
    bound = soql.compile_query(text)
    assert bound.fields[0].name == "Id"


@pytest.mark.parametrize(("text", "code", "fragment"), REJECTED)
def test_rejected(text: str, code: str, fragment: str) -> None:
    with pytest.raises(ApiError) as err:
        soql.compile_query(text)
    assert err.value.status == 400
    assert err.value.error_code == code
    assert fragment in err.value.message


def test_error_message_points_at_the_column_like_salesforce() -> None:
    with pytest.raises(ApiError) as err:
        soql.compile_query("SELECT Id, Nope__c FROM Opportunity")
    assert err.value.message.startswith(
        "\nSELECT Id, Nope__c FROM Opportunity\n           ^\nERROR at Row:1:Column:12\n"
    )


def test_canonical_casing_and_selected_order() -> None:
    bound = soql.compile_query("select systemmodstamp, ID, stagename from OPPORTUNITY")
    assert [f.name for f in bound.fields] == ["SystemModstamp", "Id", "StageName"]
    assert bound.sobject.name == "Opportunity"


def test_keyword_prefix_is_still_a_field_name() -> None:
    # "Last_Name__c" starts with the keyword LAST; "IsDeleted" with IS... must not split.
    bound = soql.compile_query("SELECT Last_Name__c FROM Opportunity ORDER BY Last_Name__c DESC NULLS LAST")
    assert bound.fields[0].name == "Last_Name__c"
    assert bound.order_by[0][1:] == (True, True)


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


RECORDS: list[dict[str, Any]] = [
    {
        "Id": "006WD00000H4eBaYAJ",
        "Dealer_Code__c": "BR0001",
        "StageName": "New",
        "Substage__c": None,
        "Email__c": "Maria_Silva@Gmail.com",
        "Last_Name__c": "D'Ávila",
        "SystemModstamp": dt("2026-11-27T10:00:00"),
        "IsDeleted": False,
    },
    {
        "Id": "006WD00000H4eBbYAJ",
        "Dealer_Code__c": "br0002",
        "StageName": "Deciding",
        "Substage__c": "OfferPresented",
        "Email__c": None,
        "Last_Name__c": "Souza",
        "SystemModstamp": dt("2026-11-27T09:59:59"),
        "IsDeleted": False,
    },
    {
        "Id": "006WD00000H4eBcYAJ",
        "Dealer_Code__c": "BR0003",
        "StageName": "Converted",
        "Substage__c": "New",
        "Email__c": "mariaxsilva@gmail.com",
        "Last_Name__c": "Back\\slash",
        "SystemModstamp": dt("2026-11-27T10:00:01"),
        "IsDeleted": False,
    },
]


def matching(where: str) -> list[str]:
    bound = soql.compile_query(f"SELECT Id FROM Opportunity WHERE {where}")
    assert bound.predicate is not None
    return [r["Id"][-5:-3] for r in RECORDS if bound.predicate(r)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("StageName = 'new'", ["Ba"]),  # text comparison ignores case, as in SOQL
        ("Dealer_Code__c IN ('BR0001', 'BR0002')", ["Ba", "Bb"]),
        ("Dealer_Code__c NOT IN ('BR0001')", ["Bb", "Bc"]),
        ("Email__c != 'maria_silva@gmail.com'", ["Bb", "Bc"]),  # != matches null, as in SOQL
        ("Email__c = null", ["Bb"]),
        ("Substage__c NOT IN ('New')", ["Ba", "Bb"]),  # null is not in the list
        ("Email__c LIKE 'maria\\_%'", ["Ba"]),  # \_ is a literal underscore
        ("Email__c LIKE 'maria_silva%'", ["Ba", "Bc"]),  # _ is any one character
        ("Email__c LIKE '%GMAIL.COM'", ["Ba", "Bc"]),
        ("SystemModstamp >= 2026-11-27T10:00:00Z", ["Ba", "Bc"]),
        ("SystemModstamp > 2026-11-27T07:00:00-03:00", ["Bc"]),
        ("SystemModstamp < 2026-11-27T10:00:00.000+0000", ["Bb"]),
        ("(StageName = 'New' OR StageName = 'Converted') AND Email__c LIKE '%silva%'", ["Ba", "Bc"]),
        ("NOT (StageName = 'New' OR StageName = 'Converted')", ["Bb"]),
        ("Id = '006WD00000H4eBb'", ["Bb"]),  # a 15-character id matches its 18-character form
        ("Id = '006WD00000H4eBbyaj'", ["Bb"]),  # the checksum suffix is case-insensitive
        ("Last_Name__c = 'd\\'ávila'", ["Ba"]),
        ("Last_Name__c = 'Back\\\\slash'", ["Bc"]),
        ("IsDeleted = false AND StageName != null", ["Ba", "Bb", "Bc"]),
    ],
)
def test_evaluation(where: str, expected: list[str]) -> None:
    assert matching(where) == expected


def test_format_soql_values_round_trip() -> None:
    nasty = 'O\'Brien \\ "quoted" \n\t ção 100%_x'
    bound = soql.compile_query(format_soql("SELECT Id FROM Opportunity WHERE Last_Name__c = {}", nasty))
    assert bound.predicate is not None
    assert bound.predicate({"Last_Name__c": nasty})
    assert not bound.predicate({"Last_Name__c": nasty + "!"})


def test_format_soql_datetime_and_lists() -> None:
    stamp = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
    text = format_soql(
        "SELECT Id FROM Opportunity WHERE SystemModstamp >= {} AND Dealer_Code__c IN {}", stamp, ["BR0001", "BR'2"]
    )
    assert "2026-11-27T10:00:00+00:00" in text
    bound = soql.compile_query(text)
    assert bound.predicate is not None
    assert bound.predicate({"SystemModstamp": dt("2026-11-27T10:00:00"), "Dealer_Code__c": "BR'2"})
    assert not bound.predicate({"SystemModstamp": dt("2026-11-27T09:59:59"), "Dealer_Code__c": "BR'2"})


def test_format_soql_like() -> None:
    text = format_soql("SELECT Id FROM Opportunity WHERE Email__c LIKE '{:like}%'", "a_b%")
    bound = soql.compile_query(text)
    assert bound.predicate is not None
    assert bound.predicate({"Email__c": "A_B%@x.com"})
    assert not bound.predicate({"Email__c": "axb%@x.com"})


def test_date_literal_parses_but_is_not_a_datetime() -> None:
    # Parsed as a date (so the message is about the type, not the syntax), then refused against a datetime.
    query = soql.parse("SELECT Id FROM Opportunity WHERE CreatedDate > 2026-11-27")
    assert query.where is not None and isinstance(query.where, soql.Compare)
    assert query.where.value.value == date(2026, 11, 27)


def test_order_by_nulls_and_direction() -> None:
    rows = [{"Substage__c": s, "Id": str(i)} for i, s in enumerate(["b", None, "A", "c"])]
    asc = soql.compile_query("SELECT Id FROM Opportunity ORDER BY Substage__c")
    assert [r["Substage__c"] for r in asc.sort(list(rows))] == [None, "A", "b", "c"]
    desc_last = soql.compile_query("SELECT Id FROM Opportunity ORDER BY Substage__c DESC NULLS LAST")
    assert [r["Substage__c"] for r in desc_last.sort(list(rows))] == ["c", "b", "A", None]
    desc_first = soql.compile_query("SELECT Id FROM Opportunity ORDER BY Substage__c DESC NULLS FIRST")
    assert [r["Substage__c"] for r in desc_first.sort(list(rows))] == [None, "c", "b", "A"]


def test_order_by_several_keys() -> None:
    rows = [
        {"StageName": "New", "Last_Name__c": "b"},
        {"StageName": "Assigned", "Last_Name__c": "z"},
        {"StageName": "New", "Last_Name__c": "a"},
    ]
    bound = soql.compile_query("SELECT Id FROM Opportunity ORDER BY StageName DESC, Last_Name__c")
    assert [(r["StageName"], r["Last_Name__c"]) for r in bound.sort(rows)] == [
        ("New", "a"),
        ("New", "b"),
        ("Assigned", "z"),
    ]


def test_index_hint_for_dealer_filters() -> None:
    bound = soql.compile_query(
        "SELECT Id FROM Opportunity WHERE (Dealer_Code__c IN ('BR0001','Br0002')) AND SystemModstamp > "
        "2026-01-01T00:00:00Z"
    )
    assert bound.index_hints == (("Dealer_Code__c", frozenset({"br0001", "br0002"})),)
    # An OR at the top level cannot use the index.
    assert soql.compile_query("SELECT Id FROM Opportunity WHERE Dealer_Code__c = 'A' OR Id = null").index_hints == ()
    both = soql.compile_query("SELECT Id FROM Opportunity WHERE StageName = 'New' AND Dealer_Code__c = 'BR0001'")
    assert [name for name, _ in both.index_hints] == ["StageName", "Dealer_Code__c"]
