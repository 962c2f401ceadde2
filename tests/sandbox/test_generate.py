"""Generated leads: deterministic from the seed, and as varied as real ones."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from gmcrm.normalize import DocumentKind, document_key
from gmcrm_sandbox import ids
from gmcrm_sandbox.generate import (
    ALL_MODEL_NAMES,
    cnpj_check_digits,
    cpf_check_digits,
    dealer_codes_for,
    generate_leads,
)
from gmcrm_sandbox.schema import CLOSED_STAGES, LEAD_SUBSTAGES, LEAD_TYPES, OPPORTUNITY, STAGES

NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
CODES = ["BR0001", "BR0002", "BR0003"]

PHONE_FORMATS = {
    "international": re.compile(r"^\+55 \d{2} 9\d{4}-\d{4}$"),
    "landline": re.compile(r"^\(\d{2}\) [2-5]\d{3}-\d{4}$"),
    "plain": re.compile(r"^\d{2}9\d{8}$"),
}


@pytest.fixture(scope="module")
def leads() -> list[dict[str, object]]:
    return generate_leads(42, CODES, 40, NOW)


def test_same_seed_same_leads() -> None:
    assert generate_leads(7, CODES, 10, NOW) == generate_leads(7, CODES, 10, NOW)


def test_other_seed_other_leads() -> None:
    a = generate_leads(7, CODES, 10, NOW)
    b = generate_leads(8, CODES, 10, NOW)
    assert {x["Id"] for x in a}.isdisjoint({x["Id"] for x in b})
    assert [x["Last_Name__c"] for x in a] != [x["Last_Name__c"] for x in b]


def test_counts_dealers_and_fields(leads: list[dict[str, object]]) -> None:
    assert len(leads) == 120
    assert Counter(lead["Dealer_Code__c"] for lead in leads) == dict.fromkeys(CODES, 40)
    assert all(list(lead) == [f.name for f in OPPORTUNITY.fields] for lead in leads)


def test_ids_are_real_looking_and_unique(leads: list[dict[str, object]]) -> None:
    lead_ids = [str(lead["Id"]) for lead in leads]
    assert len(set(lead_ids)) == len(lead_ids)
    for lead_id in lead_ids:
        assert len(lead_id) == 18 and lead_id.startswith("006")
        assert ids.to_18(lead_id[:15]) == lead_id


def test_every_dealer_gets_all_five_lead_types(leads: list[dict[str, object]]) -> None:
    for code in CODES:
        assert {lead["Lead_Type__c"] for lead in leads if lead["Dealer_Code__c"] == code} == set(LEAD_TYPES)


def test_stages_mostly_open_some_closed(leads: list[dict[str, object]]) -> None:
    stages = Counter(str(lead["StageName"]) for lead in leads)
    assert set(stages) <= set(STAGES)
    closed = sum(n for stage, n in stages.items() if stage in CLOSED_STAGES)
    assert 0 < closed < len(leads) * 0.3
    for lead in leads:
        assert lead["Substage__c"] is None or lead["Substage__c"] in LEAD_SUBSTAGES
        if lead["StageName"] in ("New", "Assigned"):
            assert lead["Substage__c"] is None


def test_documents_valid_invalid_punctuated_or_not(leads: list[dict[str, object]]) -> None:
    # Judged by the integration's own rules (gmcrm.normalize), not by the generator's arithmetic.
    docs = [str(lead["Document_Number__c"]) for lead in leads if lead["Document_Number__c"]]
    kinds = {d: document_key(d)[1] for d in docs}
    valid = [d for d, kind in kinds.items() if kind is not None]
    invalid = [d for d, kind in kinds.items() if kind is None]
    assert valid and invalid
    assert any(re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", d) for d in valid)
    assert any(re.fullmatch(r"\d{11}", d) for d in valid)
    assert DocumentKind.CNPJ in kinds.values()


def test_check_digits_of_known_documents() -> None:
    assert cpf_check_digits([5, 2, 9, 9, 8, 2, 2, 4, 7]) == (2, 5)  # 529.982.247-25
    assert cnpj_check_digits([1, 1, 2, 2, 2, 3, 3, 3, 0, 0, 0, 1]) == (8, 1)  # 11.222.333/0001-81


def test_all_phone_formats(leads: list[dict[str, object]]) -> None:
    phones = [str(lead["Phone__c"]) for lead in leads] + [
        str(lead["Mobile_Phone__c"]) for lead in leads if lead["Mobile_Phone__c"]
    ]
    for name, pattern in PHONE_FORMATS.items():
        assert any(pattern.match(p) for p in phones), name
    assert all(any(p.match(phone) for p in PHONE_FORMATS.values()) for phone in phones)


def test_names_emails_and_comments_look_brazilian(leads: list[dict[str, object]]) -> None:
    names = " ".join(f"{lead['First_Name__c'] or ''} {lead['Last_Name__c']}" for lead in leads)
    assert re.search(r"[ãâáàçéêíóôõú]", names, re.IGNORECASE)
    company = [lead for lead in leads if lead["First_Name__c"] is None]
    assert company and all(lead["Last_Name__c"] for lead in company)
    emails = [str(lead["Email__c"]) for lead in leads if lead["Email__c"]]
    assert any(e != e.strip() or e != e.lower() for e in emails)
    assert all("@" in e and e.strip().isascii() for e in emails)
    comments = " ".join(str(lead["Comments__c"]) for lead in leads if lead["Comments__c"])
    assert re.search(r"[ãâáàçéêíóôõú]", comments)


def test_chevrolet_models_trims_and_years(leads: list[dict[str, object]]) -> None:
    models = {lead["Model_Of_Interest__c"] for lead in leads if lead["Model_Of_Interest__c"]}
    assert models <= set(ALL_MODEL_NAMES)
    assert len(models) >= 5
    assert any("Turbo" in str(lead["Trim__c"]) for lead in leads)
    years = [int(str(lead["Model_Year__c"])) for lead in leads if lead["Model_Year__c"]]
    assert min(years) >= 2010 and max(years) <= NOW.year + 1


def test_timestamps(leads: list[dict[str, object]]) -> None:
    for lead in leads:
        created, stamp = lead["CreatedDate"], lead["SystemModstamp"]
        assert isinstance(created, datetime) and isinstance(stamp, datetime)
        assert created <= stamp <= NOW
        assert stamp.microsecond == 0 and stamp.tzinfo is not None
        assert lead["IsDeleted"] is False


def test_dealer_codes_for() -> None:
    assert dealer_codes_for(3) == ["BR0001", "BR0002", "BR0003"]
