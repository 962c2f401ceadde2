"""Helpers for import tests: leads at the sandbox, the import run as the DAG runs it, DMS look-ups."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg

from gmcrm.gm_client import GmClient
from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline
from gmcrm.leads.load import LoadResult
from gmcrm_devtools import demo_seed
from gmcrm_sandbox.process import SandboxProcess

_counter = itertools.count(1)

LEAD_TYPES = {
    "NEW_VEHICLE": "New Vehicle",
    "USED_VEHICLE": "Used Vehicle",
    "SERVICE": "Service",
    "PARTS": "Parts",
    "AFTER_SALES": "After Sales",
}


def lead(dealer_code: str = "BR0001", lead_type: str = "NEW_VEHICLE", **fields: Any) -> dict[str, Any]:
    """A GM lead (API names) for the sandbox's admin API."""
    n = next(_counter)
    record: dict[str, Any] = {
        "Dealer_Code__c": dealer_code,
        "Lead_Type__c": LEAD_TYPES.get(lead_type, lead_type),
        "StageName": "New",
        "First_Name__c": "Ana",
        "Last_Name__c": f"Teste {n}",
        "Email__c": f"ana.teste{n}.{uuid.uuid4().hex[:6]}@exemplo.com.br",
        "Phone__c": None,
        "Mobile_Phone__c": f"(11) 9{n % 10}{n:03d}-{n:04d}"[-15:],
        "Document_Number__c": None,
        "Model_Of_Interest__c": "Onix",
        "Model_Year__c": "2026",
        "Trim__c": "1.0 Turbo Premier",
        "Comments__c": "Gostaria de agendar um test drive à tarde.",
        "Lead_Source__c": "Website",
    }
    record.update(fields)
    return record


def seed(conn: psycopg.Connection[Any]) -> None:
    """The demo dealerships: BR0001 DIRECT, BR0002 DISTRIBUTION, BR0003 DIRECT."""
    demo_seed.seed_demo(conn)
    conn.commit()


def run_import(
    dms_url: str,
    client_for: Any,
    *,
    dealer_codes: list[str] | None = None,
    full_resync: bool = False,
    run_id: str | None = None,
) -> tuple[pipeline.ExtractSummary, list[LoadResult], list[tuple[str, BaseException]]]:
    """Extract once and load every group, as the DAG's tasks do."""
    run_id = run_id or f"test__{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dms_url) as conn:
        summary = pipeline.extract(conn, run_id, client_for, dealer_codes=dealer_codes, full_resync=full_resync)
        done: list[LoadResult] = []
        failed: list[tuple[str, BaseException]] = []
        for group in summary.groups:
            d, f = pipeline.load_group(conn, group, load_mapping())
            done += d
            failed += f
    return summary, done, failed


def one_client(client: GmClient) -> Any:
    return lambda _conn_id: client


def create_leads(sandbox: SandboxProcess, *leads: dict[str, Any]) -> list[dict[str, Any]]:
    return sandbox.admin.create_leads(leads)


def rows(dms_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dms_url) as conn:
        return conn.execute(query, params).fetchall()


def scalar(dms_url: str, query: str, *params: Any) -> Any:
    result = rows(dms_url, query, *params)
    return result[0][0] if result else None


def fast_client(conn_id: str = "gm_crm", **kwargs: object) -> GmClient:
    """The real client through the Airflow connection, with short backoffs for tests."""
    options: dict[str, object] = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5.0}
    options.update(kwargs)
    return GmClient.from_conn_id(conn_id, **options)  # type: ignore[arg-type]


def refuse_contacts_of(
    conn: psycopg.Connection[Any], dealer_code: str, words: str = "is closed for maintenance"
) -> None:
    """A DMS rule that refuses a dealership's contacts (``<code> <words>``): its load fails in the database.
    The connection must commit on its own or be committed by the caller."""
    conn.execute(
        "CREATE FUNCTION public.refuse_contacts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.dealer_code = '{dealer_code}' THEN RAISE EXCEPTION '{dealer_code} {words}'; END IF; "
        "RETURN NEW; END $$"
    )
    conn.execute(
        "CREATE TRIGGER refuse_contacts BEFORE INSERT ON dms.contact "
        "FOR EACH ROW EXECUTE FUNCTION public.refuse_contacts()"
    )


def contact_transactions(dms_url: str) -> dict[str, set[str]]:
    """Per dealership, the transactions that wrote its contacts (their xmin)."""
    found: dict[str, set[str]] = {}
    for code, xmin in rows(dms_url, "SELECT dealer_code, xmin::text FROM dms.contact"):
        found.setdefault(code, set()).add(xmin)
    return found
