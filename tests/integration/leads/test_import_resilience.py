"""One bad dealership, connection or record never stops the others; staged records are never lost unseen.

The GM sandbox over HTTPS, a real PostgreSQL, the pipeline the DAG runs.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from gmcrm.airflow_support import salesforce_conn_json
from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, rows, run_import, scalar

pytestmark = pytest.mark.integration


def _contacts(dms: str, dealer: str) -> int:
    return int(scalar(dms, "SELECT count(*) FROM dms.contact WHERE dealer_code = %s", dealer))


def test_a_load_that_finds_fewer_staged_records_refuses_and_the_next_run_loads_them(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    create_leads(gm_sandbox, *(lead("BR0001") for _ in range(36)), lead("BR0003"))
    client = fast_client()
    run_id = f"test__{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dms) as conn:
        summary = pipeline.extract(conn, run_id, lambda _c: client)
        assert summary.records == 37
        # What a crash of an unlogged table or a failover does: staged records gone, the batch row kept.
        conn.execute(
            "DELETE FROM gmcrm.lead_staging WHERE ctid IN (SELECT ctid FROM gmcrm.lead_staging "
            "WHERE run_id = %s AND dealer_code = 'BR0001' LIMIT 35)",
            (run_id,),
        )
        conn.commit()
        done, failed = [], []
        for group in summary.groups:
            d, f = pipeline.load_group(conn, group, load_mapping())
            done += d
            failed += f

    assert [code for code, _ in failed] == ["BR0001"]
    assert [r.dealer_code for r in done if r.leads_read] == ["BR0003"]
    assert _contacts(dms, "BR0001") == 0  # not even the one record left: loading it would skip 35
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_watermark WHERE dealer_code = 'BR0001'") == 0
    failure = rows(dms, "SELECT dealer_code, stage, error FROM gmcrm.import_run_failures(%s)", run_id)
    assert [(code, stage) for code, stage, _ in failure] == [("BR0001", "load")]
    assert "staged records missing (1 of 36)" in failure[0][2] and "next run reads them again" in failure[0][2]

    _, done, failed = run_import(dms, lambda _c: client)  # the next run reads and loads every lead
    assert not failed
    assert _contacts(dms, "BR0001") == 36


def test_a_retried_load_does_not_refuse_what_an_earlier_try_of_the_run_loaded(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0001"))
    client = fast_client()
    with psycopg.connect(dms) as conn:
        summary = pipeline.extract(conn, "retry", lambda _c: client, dealer_codes=["BR0001"])
        group = summary.groups[0]
        first, failed = pipeline.load_group(conn, group, load_mapping())
        assert not failed and first[0].contacts_created == 2
        again, failed = pipeline.load_group(conn, group, load_mapping())  # the task's retry
    assert not failed and again == []
    assert rows(dms, "SELECT leads_read, contacts_created FROM gmcrm.import_log WHERE run_id = 'retry'") == [(2, 2)]
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_run_failures('retry')") == 0


def test_a_gm_connection_airflow_does_not_know_or_that_gm_refuses_fails_only_its_dealerships(
    dms: str, gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0002"), lead("BR0003"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_GM_CRM_WRONG_SECRET",
        salesforce_conn_json(gm_sandbox.instance_url, gm_sandbox.client_id, "not-the-secret", gm_sandbox.ca_bundle),
    )
    with psycopg.connect(dms) as conn:
        conn.execute("UPDATE gmcrm.dealership SET gm_conn_id = 'gm_crm_typo' WHERE dealer_code = 'BR0002'")
        conn.execute("UPDATE gmcrm.dealership SET gm_conn_id = 'gm_crm_wrong_secret' WHERE dealer_code = 'BR0003'")
    summary, done, failed = run_import(dms, fast_client)  # the DAG's way: a client per connection id

    assert not failed
    assert sorted(summary.failed) == ["BR0002", "BR0003"]
    assert [g.dealer_codes for g in summary.groups] == [["BR0001"]]
    assert _contacts(dms, "BR0001") == 1 and [r.dealer_code for r in done] == ["BR0001"]
    errors = dict(rows(dms, "SELECT dealer_code, error FROM gmcrm.import_failure WHERE stage = 'extract'"))
    assert errors.keys() == {"BR0002", "BR0003"}
    assert "'gm_crm_typo' is not defined in Airflow" in errors["BR0002"] and "--gm-conn-id" in errors["BR0002"]
    assert "'gm_crm_wrong_secret'" in errors["BR0003"] and "credentials" in errors["BR0003"]
    assert "not-the-secret" not in errors["BR0003"]
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_watermark WHERE dealer_code <> 'BR0001'") == 0


def test_nul_and_lone_surrogates_are_cleaned_and_the_lead_loads(dms: str, gm_sandbox: SandboxProcess) -> None:
    bad = create_leads(
        gm_sandbox,
        lead("BR0001", First_Name__c="Jo\u0000ana", Comments__c="quero\u0000 um carro \ud83d"),
        lead("BR0001", Last_Name__c="Silva \udc00 Souza"),
    )
    good = create_leads(gm_sandbox, lead("BR0001"))
    summary, _done, failed = run_import(dms, lambda _c: fast_client())

    assert not failed and summary.cleaned == 2 and summary.quarantined == 0
    assert _contacts(dms, "BR0001") == 3
    names = dict(
        rows(
            dms,
            "SELECT c.lead_id, u.name FROM dms.contact c JOIN dms.customer u ON u.id = c.customer_id "
            "WHERE c.lead_id = ANY(%s)",
            [b["Id"] for b in bad + good],
        )
    )
    assert names[bad[0]["Id"]].startswith("Joana") and "\ufffd" in names[bad[1]["Id"]]


def test_a_record_with_a_date_the_dms_cannot_store_is_quarantined_and_the_rest_loads(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    odd = create_leads(gm_sandbox, lead("BR0001", CreatedDate="0001-01-01T00:00:00.000+0000"))[0]
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0001"))
    summary, _done, failed = run_import(dms, lambda _c: fast_client())

    assert not failed and summary.quarantined == 1
    assert _contacts(dms, "BR0001") == 2
    (code, reason, raw), *_ = rows(
        dms, "SELECT reason_code, reason, raw_record FROM gmcrm.lead_quarantine WHERE lead_id = %s", odd["Id"]
    )
    assert code == "UNREADABLE_DATE" and "CreatedDate" in reason and raw["Id"] == odd["Id"]
    # The watermark moved (past a quarantined lead, never past an unloaded one).
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_watermark WHERE dealer_code = 'BR0001'") == 1


def test_dealer_codes_with_unicode_spaces_or_another_case_are_read_and_strays_counted(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    written = ["BR0001\u00a0", "\u3000br0001", "Br0001 ", "BR0002\u2007", "BR0009\u00a0"]
    created = create_leads(gm_sandbox, *(lead(code) for code in written))
    assert created[2]["Dealer_Code__c"] == "Br0001"  # as Salesforce, the sandbox trims ASCII spaces on save
    summary, _done, failed = run_import(dms, lambda _c: fast_client())

    assert not failed
    assert _contacts(dms, "BR0001") == 3 and _contacts(dms, "BR0002") == 1
    assert summary.unmatched == 1  # BR0009's: no such dealership; counted and logged, not staged
    assert gm_sandbox.admin.calls()["query_all"] == 1  # no call more for it


def test_the_odd_code_query_stays_one_call_for_many_dealerships(dms: str, gm_sandbox: SandboxProcess) -> None:
    codes = [f"BR{i:04d}" for i in range(4, 1004)]
    with psycopg.connect(dms) as conn:
        conn.execute(
            "INSERT INTO gmcrm.dealership (dealer_code, name, integration_enabled, routing) "
            "SELECT c, c, true, 'DIRECT' FROM unnest(%s::text[]) AS c",
            (codes,),
        )
    create_leads(gm_sandbox, lead("BR0500\u00a0"), lead("BR0999"))
    summary, _done, failed = run_import(dms, lambda _c: fast_client())

    assert not failed
    assert summary.records == 2
    assert gm_sandbox.admin.calls()["query_all"] == 3  # 1,003 dealerships: 400 a query, as before
    assert json.dumps(summary.failed) == "[]"


def test_a_gm_connection_still_failing_after_the_retries_fails_only_its_dealerships(
    dms: str, gm_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0003"))
    monkeypatch.setenv("AIRFLOW_CONN_GM_CRM_OTHER", json.dumps(gm_sandbox.connection()))
    with psycopg.connect(dms) as conn:
        conn.execute("UPDATE gmcrm.dealership SET gm_conn_id = 'gm_crm_other' WHERE dealer_code = 'BR0003'")
    gm_sandbox.admin.fail_next(503, count=4, applies_to="query_all")  # every try of the first connection's query
    summary, done, failed = run_import(dms, fast_client)

    assert not failed and sorted(summary.failed) == ["BR0001", "BR0002"]
    assert [r.dealer_code for r in done] == ["BR0003"] and _contacts(dms, "BR0003") == 1
    errors = dict(rows(dms, "SELECT dealer_code, error FROM gmcrm.import_failure"))
    assert errors.keys() == {"BR0001", "BR0002"}
    assert "did not answer through connection 'gm_crm' after the retries" in errors["BR0001"]


def test_a_record_the_database_still_refuses_is_quarantined_with_its_words_and_the_page_stages(
    dms: str, gm_sandbox: SandboxProcess
) -> None:
    refused, *others = create_leads(gm_sandbox, lead("BR0001"), lead("BR0001"), lead("BR0001"))
    with psycopg.connect(dms) as conn:  # a DMS rule this code cannot foresee refuses one record (SQLSTATE 22023)
        conn.execute(
            "CREATE FUNCTION public.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.lead_id = '{refused['Id']}' THEN RAISE EXCEPTION 'value out of what we store' "
            "USING ERRCODE = '22023'; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON gmcrm.lead_staging FOR EACH ROW "
            "EXECUTE FUNCTION public.refuse_one()"
        )
    summary, _done, failed = run_import(dms, lambda _c: fast_client())

    assert not failed and summary.records == 2 and summary.quarantined == 1
    assert {r[0] for r in rows(dms, "SELECT lead_id FROM dms.contact")} == {o["Id"] for o in others}
    ((code, reason),) = rows(
        dms, "SELECT reason_code, reason FROM gmcrm.lead_quarantine WHERE lead_id = %s", refused["Id"]
    )
    assert code == "UNSTAGEABLE" and "value out of what we store" in reason and "SQLSTATE 22023" in reason
