"""Helpers for customer-matching tests: GM records staged directly and loaded through the real load path.

Staging is written as the extract writes it (``gmcrm.lead_staging`` and ``gmcrm.import_batch``), then
``prepare_group`` and ``load_dealer`` (or ``load_dealers``) run exactly as a load task does, so the transform and the
database function are the real ones; only the HTTPS read from GM is left out (hundreds of loads per
test would take minutes through the sandbox).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from gmcrm.gm_mapping import GmMapping
from gmcrm.leads.load import LoadResult, load_dealer, load_dealers, prepare_group

EPOCH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    """The keys a lead or a DMS customer carries (any of them may be missing)."""

    document: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None


@dataclass(frozen=True)
class Lead:
    keys: Person
    created_minute: int  # small ranges make ties, which the lead id breaks
    modstamp_minute: int  # the order staging is read in: not the order leads are matched in
    is_open: bool = True
    loaded_before: bool = False  # loaded by an earlier load: re-read by the one under test


def add_dealership(conn: psycopg.Connection[Any], code: str, like: str = "BR0001") -> None:
    """A dealership with the routing, users and contact settings of ``like`` (seeded beforehand)."""
    conn.execute(
        "INSERT INTO gmcrm.dealership (dealer_code, name, integration_enabled, routing, vehicles_user_id, "
        "parts_user_id, service_user_id, after_sales_user_id, traffic_origin) "
        "SELECT %s, 'Matching ' || %s, true, routing, vehicles_user_id, parts_user_id, service_user_id, "
        "after_sales_user_id, traffic_origin FROM gmcrm.dealership WHERE dealer_code = %s",
        (code, code, like),
    )
    conn.execute(
        "INSERT INTO gmcrm.contact_setting SELECT %s, lead_type, contact_type, contact_subtype, department_id "
        "FROM gmcrm.contact_setting WHERE dealer_code = %s",
        (code, like),
    )
    conn.commit()


def add_customer(conn: psycopg.Connection[Any], dealer: str, name: str, keys: Person) -> int:
    row = conn.execute(
        "INSERT INTO dms.customer (dealer_code, name, document, email, phone, mobile_phone) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (dealer, name, keys.document, keys.email, keys.phone, keys.mobile_phone),
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def lead_id(dealer: str, index: int) -> str:
    """An 18-character Salesforce-like id; within a dealership ids sort as their indexes do."""
    return f"006{dealer}{index:04d}".ljust(18, "A")


def lead_index(dealer: str, lead: str) -> int:
    prefix = f"006{dealer}"
    assert lead.startswith(prefix), lead
    return int(lead[len(prefix) : len(prefix) + 4])


def gm_record(dealer: str, index: int, lead: Lead) -> dict[str, Any]:
    """The lead as the GM API returns it (the mapping's default API names)."""

    def stamp(minute: int) -> str:
        return (EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    return {
        "Id": lead_id(dealer, index),
        "Dealer_Code__c": dealer,
        "Lead_Type__c": "New Vehicle",
        "StageName": "New" if lead.is_open else "NotConverted",
        "Substage__c": None,
        "First_Name__c": "Cliente",
        "Last_Name__c": f"Lead {index}",
        "Email__c": lead.keys.email,
        "Phone__c": lead.keys.phone,
        "Mobile_Phone__c": lead.keys.mobile_phone,
        "Document_Number__c": lead.keys.document,
        "Model_Of_Interest__c": "Onix",
        "Model_Year__c": "2026",
        "Trim__c": None,
        "Comments__c": None,
        "Lead_Source__c": "Website",
        "CreatedDate": stamp(lead.created_minute),
        "SystemModstamp": stamp(60 + lead.modstamp_minute),
        "IsDeleted": False,
    }


def stage(conn: psycopg.Connection[Any], run_id: str, dealer: str, records: list[dict[str, Any]]) -> None:
    """Stage the records as the extract of ``run_id`` would for ``dealer`` (records and batch)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO gmcrm.lead_staging (run_id, dealer_code, lead_id, gm_modstamp, record) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(run_id, dealer, r["Id"], r["SystemModstamp"], Jsonb(r)) for r in records],
        )
        cur.execute(
            "INSERT INTO gmcrm.import_batch (run_id, dealer_code, records) VALUES (%s, %s, %s)",
            (run_id, dealer, len(records)),
        )
    conn.commit()


def stage_and_load(
    conn: psycopg.Connection[Any], dealer: str, records: list[dict[str, Any]], mapping: GmMapping
) -> LoadResult:
    """Stage the records as one extract of ``dealer`` would, then load them as one load task does."""
    run_id = f"match__{uuid.uuid4().hex[:10]}"
    stage(conn, run_id, dealer, records)
    prepared = prepare_group(conn, run_id, [dealer], mapping)
    assert not prepared.failed, prepared.failed
    return load_dealer(conn, dealer, run_id)


def stage_and_load_together(
    conn: psycopg.Connection[Any], records: dict[str, list[dict[str, Any]]], mapping: GmMapping
) -> list[LoadResult]:
    """Stage several dealerships' records in one run and load them all in one statement."""
    run_id = f"match__{uuid.uuid4().hex[:10]}"
    for dealer, theirs in records.items():
        stage(conn, run_id, dealer, theirs)
    prepared = prepare_group(conn, run_id, list(records), mapping)
    assert not prepared.failed, prepared.failed
    return load_dealers(conn, prepared.ready, run_id)


def created_order(leads: list[Lead]) -> list[int]:
    """The indexes of the leads in CreatedDate order, ties broken by lead id (= index)."""
    return sorted(range(len(leads)), key=lambda i: (leads[i].created_minute, i))


def customer_labels(conn: psycopg.Connection[Any], dealer: str, existing: list[int]) -> dict[int, str]:
    """Each loaded lead's customer, named so two dealerships can be compared: ``existing 2`` (the third
    customer that was there before) or ``made by lead 5``."""
    position = {customer_id: i for i, customer_id in enumerate(existing)}
    rows = conn.execute(
        "SELECT ct.lead_id, c.id, c.created_from_lead_id FROM dms.contact ct "
        "JOIN dms.customer c ON c.id = ct.customer_id WHERE ct.dealer_code = %s",
        (dealer,),
    ).fetchall()
    labels: dict[int, str] = {}
    for lead, customer_id, made_by in rows:
        if customer_id in position:
            labels[lead_index(dealer, lead)] = f"existing {position[customer_id]}"
        else:
            assert made_by is not None, "a customer made by the load names its lead"
            labels[lead_index(dealer, lead)] = f"made by lead {lead_index(dealer, made_by)}"
    return labels


def partition(labels: dict[int, str]) -> set[frozenset[int]]:
    groups: dict[str, set[int]] = {}
    for lead, label in labels.items():
        groups.setdefault(label, set()).add(lead)
    return {frozenset(g) for g in groups.values()}
