"""The lead import end to end: the GM sandbox over HTTPS, a real PostgreSQL, the pipeline the DAG runs."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta

import psycopg
import pytest

from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline
from gmcrm.leads.load import load_dealer, prepare_group
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import (
    create_leads,
    fast_client,
    lead,
    one_client,
    rows,
    run_import,
    scalar,
)

pytestmark = pytest.mark.integration


def _contact(dms: str, lead_id: str) -> dict[str, object]:
    with psycopg.connect(dms) as conn:
        cur = conn.execute("SELECT * FROM dms.contact WHERE lead_id = %s", (lead_id,))
        names = [d.name for d in cur.description or []]
        row = cur.fetchone()
    assert row is not None, f"no contact for lead {lead_id}"
    return dict(zip(names, row, strict=True))


def _user(dms: str, dealer: str, login: str) -> tuple[int, int]:
    row = rows(dms, "SELECT id, department_id FROM dms.app_user WHERE dealer_code = %s AND login = %s", dealer, login)
    return row[0]


def test_direct_routing_each_lead_type(dms: str, gm_sandbox: SandboxProcess) -> None:
    created = create_leads(
        gm_sandbox,
        *(lead("BR0001", t) for t in ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")),
    )
    ids = {c["Lead_Type__c"]: c["Id"] for c in created}
    summary, done, failed = run_import(dms, one_client(fast_client()), dealer_codes=["BR0001"])
    assert not failed and summary.records == 5
    assert done[0].contacts_created == 5 and done[0].customers_created == 5

    vendedor, vn_dep = _user(dms, "BR0001", "vendedor.vn")
    vu_dep = scalar(dms, "SELECT id FROM dms.department WHERE dealer_code = 'BR0001' AND code = 'VU'")
    new = _contact(dms, ids["New Vehicle"])
    assert (new["status"], new["assigned_user_id"], new["department_id"]) == ("IN_QUEUE", vendedor, vn_dep)
    assert (new["contact_type"], new["contact_subtype"]) == ("VENDA", "VEICULO_NOVO")
    assert str(new["description"]).startswith("Contato de Vendas criado a partir do Lead CRM")
    assert "Onix" in str(new["description"]) and "test drive à tarde" in str(new["description"])
    assert new["traffic_origin"] == "INTERNET-GM" and new["gm_stage"] == "New"
    used = _contact(dms, ids["Used Vehicle"])
    assert used["department_id"] == vu_dep and used["contact_subtype"] == "VEICULO_USADO"
    service = _contact(dms, ids["Service"])
    assert str(service["description"]).startswith("Contato de Oficina criado a partir do Lead GM")
    after = _contact(dms, ids["After Sales"])
    assert str(after["description"]).startswith("Contato de After Sales criado a partir do Lead GM")

    parts = _contact(dms, ids["Parts"])
    balcao, _ = _user(dms, "BR0001", "balcao.pecas")
    assert parts["assigned_user_id"] == balcao
    service_rows = rows(
        dms, "SELECT salesperson_user_id, status FROM dms.parts_counter_service WHERE contact_id = %s", parts["id"]
    )
    assert service_rows == [(balcao, "OPEN")]
    mails = rows(dms, "SELECT to_user_id, subject FROM dms.internal_mail WHERE contact_id = %s", parts["id"])
    assert len(mails) == 1 and mails[0][0] == balcao and "Peças" in mails[0][1]

    for lead_id in ids.values():
        codes = rows(dms, "SELECT trigger_code FROM gmcrm.trigger_outbox WHERE lead_id = %s ORDER BY id", lead_id)
        assert [c[0] for c in codes] == ["LIM", "LAT"]
    last = scalar(dms, "SELECT last_integration_at FROM gmcrm.dealership WHERE dealer_code = 'BR0001'")
    assert last is not None


def test_distribution_routing_waits_for_distribution(dms: str, gm_sandbox: SandboxProcess) -> None:
    (created,) = create_leads(gm_sandbox, lead("BR0002", "NEW_VEHICLE"))
    run_import(dms, one_client(fast_client()), dealer_codes=["BR0002"])
    gestor, _ = _user(dms, "BR0002", "gestor.leads")
    contact = _contact(dms, created["Id"])
    assert contact["status"] == "AWAITING_DISTRIBUTION"
    assert contact["distribution_owner_user_id"] == gestor and contact["assigned_user_id"] is None
    codes = rows(dms, "SELECT trigger_code FROM gmcrm.trigger_outbox WHERE lead_id = %s", created["Id"])
    assert codes == [("LIM",)]


def test_scenario_8_reading_twice_and_a_change_at_gm(dms: str, gm_sandbox: SandboxProcess) -> None:
    created = create_leads(gm_sandbox, *(lead("BR0001") for _ in range(3)))
    client = fast_client()
    run_import(dms, one_client(client))
    target = created[0]["Id"]
    before = _contact(dms, target)
    # The dealership works the lead in the DMS.
    other_user, _ = _user(dms, "BR0001", "vendedor.vn2")
    with psycopg.connect(dms) as conn:
        conn.execute(
            "UPDATE dms.contact SET status = 'IN_PROGRESS', assigned_user_id = %s WHERE lead_id = %s",
            (other_user, target),
        )
    # GM changes the lead; everything is read again (full resync) and incrementally.
    gm_sandbox.admin.update_lead(target, StageName="Experiencing", Trim__c="1.0 Turbo LTZ")
    run_import(dms, one_client(client), full_resync=True)
    run_import(dms, one_client(client))

    assert scalar(dms, "SELECT count(*) FROM dms.contact") == 3
    assert scalar(dms, "SELECT count(*) FROM dms.customer") == 3
    assert scalar(dms, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE trigger_code = 'LIM'") == 3
    after = _contact(dms, target)
    assert after["gm_stage"] == "Experiencing" and after["interest_version"] == "1.0 Turbo LTZ"
    assert after["gm_modstamp"] >= before["gm_modstamp"]  # type: ignore[operator]
    assert (after["status"], after["assigned_user_id"]) == ("IN_PROGRESS", other_user)
    assert (after["id"], after["customer_id"], after["created_at"]) == (
        before["id"],
        before["customer_id"],
        before["created_at"],
    )


def test_scenario_9_existing_customers_matched(dms: str, gm_sandbox: SandboxProcess) -> None:
    with psycopg.connect(dms) as conn:
        ids = [
            conn.execute(
                "INSERT INTO dms.customer (dealer_code, name, document, email, phone) "
                "VALUES ('BR0001', %s, %s, %s, %s) RETURNING id",
                values,
            ).fetchone()[0]  # type: ignore[index]
            for values in (
                ("Maria CPF", "52998224725", None, None),
                ("João E-mail", None, "Joao.Silva@Example.com", None),
                ("Pedro Telefone", None, None, "+55 (11) 3456-7890"),
                ("Empresa CNPJ", "11.222.333/0001-81", None, None),
            )
        ]
    leads = create_leads(
        gm_sandbox,
        lead("BR0001", Document_Number__c="529.982.247-25", Email__c=None, Mobile_Phone__c=None),
        lead("BR0001", Email__c="  joao.silva@EXAMPLE.com ", Mobile_Phone__c=None),
        lead("BR0001", Email__c=None, Mobile_Phone__c=None, Phone__c="1134567890"),
        lead("BR0001", First_Name__c=None, Last_Name__c="Empresa Ltda", Document_Number__c="11222333000181"),
        # An invalid CPF is neither matched nor stored: a new customer, the number kept in the description.
        lead("BR0001", Document_Number__c="529.982.247-26", Email__c=None),
    )
    _, done, failed = run_import(dms, one_client(fast_client()))
    assert not failed
    assert done[0].customers_matched == 4 and done[0].customers_created == 1
    for lead_record, customer_id in zip(leads, ids, strict=False):
        assert _contact(dms, lead_record["Id"])["customer_id"] == customer_id
    invalid = _contact(dms, leads[4]["Id"])
    assert "529.982.247-26" in str(invalid["description"])
    assert scalar(dms, "SELECT document FROM dms.customer WHERE id = %s", invalid["customer_id"]) is None


def test_first_run_reads_open_leads_then_deleted_and_late_leads(dms: str, gm_sandbox: SandboxProcess) -> None:
    open_lead, closed_lead = create_leads(gm_sandbox, lead("BR0001"), lead("BR0001", StageName="Delivered"))
    client = fast_client()
    run_import(dms, one_client(client))
    assert scalar(dms, "SELECT count(*) FROM dms.contact WHERE lead_id = %s", closed_lead["Id"]) == 0
    watermark = scalar(dms, "SELECT gm_modstamp FROM gmcrm.import_watermark WHERE dealer_code = 'BR0001'")
    assert watermark is not None

    # A lead committed late: its stamp is older than the watermark, but inside the lookback.
    late_stamp = (watermark - timedelta(seconds=120)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    (late,) = create_leads(gm_sandbox, lead("BR0001", SystemModstamp=late_stamp))
    gm_sandbox.admin.delete_lead(open_lead["Id"])
    run_import(dms, one_client(client))
    assert _contact(dms, late["Id"])["status"] == "IN_QUEUE"
    assert _contact(dms, open_lead["Id"])["gm_deleted_at"] is not None
    assert scalar(dms, "SELECT count(*) FROM dms.contact") == 2


def test_quarantine_with_a_reason_then_release(dms: str, gm_sandbox: SandboxProcess) -> None:
    _good, bad = create_leads(gm_sandbox, lead("BR0001"), lead("BR0001", Lead_Type__c="Boats"))
    client = fast_client()
    _, done, _ = run_import(dms, one_client(client))
    assert done[0].contacts_created == 1 and done[0].quarantined == 1
    reason_code, reason, resolved = rows(
        dms, "SELECT reason_code, reason, resolved_at FROM gmcrm.lead_quarantine WHERE lead_id = %s", bad["Id"]
    )[0]
    assert "Boats" in reason and resolved is None and reason_code

    gm_sandbox.admin.update_lead(bad["Id"], Lead_Type__c="Parts")
    run_import(dms, one_client(client))
    assert _contact(dms, bad["Id"])["lead_type"] == "PARTS"
    assert scalar(dms, "SELECT resolved_at FROM gmcrm.lead_quarantine WHERE lead_id = %s", bad["Id"]) is not None


def test_api_calls_do_not_grow_with_dealerships(dms: str, gm_sandbox: SandboxProcess) -> None:
    gm_sandbox.admin.generate(40, dealer_codes=["BR0001", "BR0002", "BR0003"], seed=7)
    client = fast_client()
    _summary, done, failed = run_import(dms, one_client(client))
    assert not failed and len(done) == 3
    assert client.stats.by_kind["query"] == 1  # one query served three dealerships
    # A cycle in which nothing changed costs one query call.
    quiet = fast_client()
    before = gm_sandbox.admin.calls()
    run_import(dms, one_client(quiet))
    after = gm_sandbox.admin.calls()
    assert quiet.stats.calls == 1
    assert after["query_all"] + after["query"] - before["query_all"] - before["query"] == 1


def test_paging_over_2000_leads(dms: str, gm_sandbox: SandboxProcess) -> None:
    gm_sandbox.admin.generate(850, dealer_codes=["BR0001", "BR0002", "BR0003"], seed=11)
    open_leads = sum(
        1
        for lead_record in gm_sandbox.admin.leads(include_deleted=False)
        if lead_record["StageName"] not in ("Converted", "Delivered", "NotConverted")
    )
    client = fast_client()
    summary, _done, failed = run_import(dms, one_client(client))
    assert not failed
    assert summary.records == open_leads > 2000
    assert client.stats.by_kind == {"query": 1, "query_more": (open_leads - 1) // 2000}
    loaded = scalar(dms, "SELECT count(*) FROM dms.contact") + scalar(dms, "SELECT count(*) FROM gmcrm.lead_quarantine")
    assert loaded == open_leads


def test_scenario_10_faults_during_import(dms: str, gm_sandbox: SandboxProcess) -> None:
    leads = create_leads(gm_sandbox, *(lead(code) for code in ("BR0001", "BR0002", "BR0003") for _ in range(4)))
    admin = gm_sandbox.admin

    # The daily limit: the import stops, nothing is loaded, nothing is marked failed.
    admin.exhaust_daily_limit()
    summary, done, failed = run_import(dms, one_client(fast_client()))
    assert summary.stopped and summary.groups == [] and done == [] and not failed
    assert scalar(dms, "SELECT count(*) FROM dms.contact") == 0
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_watermark") == 0
    admin.set_limits(used=0)

    # 503s (with an HTML body), a timeout and an expired session: retried, re-signed in.
    client = fast_client(timeout=1.0)
    client.limits()  # signed in before the session expires
    admin.fail_next(503, count=2, applies_to="query", html=True)
    admin.add_latency(3.0, count=1, applies_to="query")
    admin.expire_sessions()
    summary, done, failed = run_import(dms, one_client(client))
    assert not failed and summary.records == 12
    assert client.stats.retries >= 3 and client.stats.sign_ins == 2

    # Read again after the faults: every lead imported exactly once.
    run_import(dms, one_client(fast_client()), full_resync=True)
    lead_ids = sorted(r["Id"] for r in leads)
    assert [r[0] for r in rows(dms, "SELECT lead_id FROM dms.contact ORDER BY lead_id")] == lead_ids
    assert scalar(dms, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE trigger_code = 'LIM'") == 12


def test_a_lead_of_a_dealership_without_contact_settings_is_quarantined(dms: str, gm_sandbox: SandboxProcess) -> None:
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0003"))
    with psycopg.connect(dms) as conn:
        conn.execute("DELETE FROM gmcrm.contact_setting WHERE dealer_code = 'BR0003'")
    _, done, failed = run_import(dms, one_client(fast_client()))

    assert not failed
    assert [r.dealer_code for r in done if r.contacts_created] == ["BR0001"]
    assert rows(dms, "SELECT dealer_code, reason_code FROM gmcrm.lead_quarantine") == [("BR0003", "NO_CONTACT_SETTING")]


def test_a_dealership_failure_does_not_hold_up_the_others(dms: str, gm_sandbox: SandboxProcess) -> None:
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0003"), lead("BR0003"))
    with psycopg.connect(dms) as conn:  # a DMS rule refuses BR0003's contacts: its load fails in the database
        conn.execute(
            "CREATE FUNCTION public.refuse_br0003() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.dealer_code = 'BR0003' THEN RAISE EXCEPTION 'BR0003 is closed for maintenance'; END IF; "
            "RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_br0003 BEFORE INSERT ON dms.contact "
            "FOR EACH ROW EXECUTE FUNCTION public.refuse_br0003()"
        )
    _, done, failed = run_import(dms, one_client(fast_client()))

    assert [(code, "closed for maintenance" in str(exc)) for code, exc in failed] == [("BR0003", True)]
    assert [r.dealer_code for r in done if r.contacts_created] == ["BR0001"]
    assert rows(dms, "SELECT dealer_code, count(*) FROM dms.contact GROUP BY 1") == [("BR0001", 1)]
    # Nothing of BR0003's transaction stayed: no customer, no event, no log line, watermark and staging as before.
    assert scalar(dms, "SELECT count(*) FROM dms.customer WHERE dealer_code = 'BR0003'") == 0
    assert scalar(dms, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE dealer_code = 'BR0003'") == 0
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_log WHERE dealer_code = 'BR0003'") == 0
    assert scalar(dms, "SELECT count(*) FROM gmcrm.import_watermark WHERE dealer_code = 'BR0003'") == 0
    assert scalar(dms, "SELECT count(*) FROM gmcrm.lead_staging WHERE dealer_code = 'BR0003'") == 2
    # ...but the failure is recorded against BR0003 alone, with the database's own words and SQLSTATE.
    failures = rows(dms, "SELECT dealer_code, stage, error FROM gmcrm.import_failure")
    assert [(code, stage) for code, stage, _ in failures] == [("BR0003", "load")]
    assert "closed for maintenance" in failures[0][2] and "SQLSTATE P0001" in failures[0][2]
    run_id = scalar(dms, "SELECT run_id FROM gmcrm.import_failure")
    assert rows(dms, "SELECT dealer_code FROM gmcrm.import_run_failures(%s)", run_id) == [("BR0003",)]

    with psycopg.connect(dms) as conn:  # the rule goes; the next run loads BR0003's leads
        conn.execute("DROP TRIGGER refuse_br0003 ON dms.contact")
    _, done, failed = run_import(dms, one_client(fast_client()))
    assert not failed
    assert rows(dms, "SELECT dealer_code, count(*) FROM dms.contact GROUP BY 1 ORDER BY 1") == [
        ("BR0001", 1),
        ("BR0003", 2),
    ]


def test_a_lead_whose_contact_was_deleted_gets_it_back_with_its_customer(dms: str, gm_sandbox: SandboxProcess) -> None:
    created = create_leads(gm_sandbox, lead("BR0001"), lead("BR0001"))
    client = fast_client()
    run_import(dms, one_client(client))
    target = created[0]["Id"]
    before = _contact(dms, target)
    with psycopg.connect(dms) as conn:  # someone removes the contact (and its events) in the DMS
        conn.execute("DELETE FROM gmcrm.trigger_outbox WHERE lead_id = %s", (target,))
        conn.execute("DELETE FROM dms.contact WHERE lead_id = %s", (target,))
    _, done, failed = run_import(dms, one_client(client), full_resync=True)

    assert not failed
    after = _contact(dms, target)
    assert after["id"] != before["id"]
    assert after["customer_id"] == before["customer_id"]  # the customer the lead made, not a second one
    assert scalar(dms, "SELECT count(*) FROM dms.customer") == 2
    assert (
        scalar(dms, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE lead_id = %s AND trigger_code = 'LIM'", target)
        == 1
    )
    assert sum(r.customers_matched for r in done) == 1


def test_two_loads_of_one_dealership_at_once_make_each_contact_once(dms: str, gm_sandbox: SandboxProcess) -> None:
    # Two runs overlap (a manual run beside the scheduled one): both prepared the same leads; the
    # second load waits for the first, then finds the contacts made and only compares them.
    create_leads(gm_sandbox, *(lead("BR0001", lead_type) for lead_type in ("NEW_VEHICLE", "PARTS", "SERVICE")))
    client = fast_client()
    mapping = load_mapping()
    with psycopg.connect(dms) as a, psycopg.connect(dms) as b:
        summary = pipeline.extract(a, "overlap", one_client(client), dealer_codes=["BR0001"])
        assert summary.records == 3
        prepare_group(a, "overlap", ["BR0001"], mapping)
        prepare_group(b, "overlap", ["BR0001"], mapping)
        with ThreadPoolExecutor(1) as pool:
            with a.transaction():
                a.execute("SELECT * FROM gmcrm.load_dealer('overlap', 'BR0001')")
                second = pool.submit(load_dealer, b, "BR0001", "overlap")
                time.sleep(0.3)
                assert not second.done(), "the second load waits for the first"
            result = second.result(timeout=30)

    assert (result.contacts_created, result.customers_created, result.events_recorded) == (0, 0, 0)
    assert scalar(dms, "SELECT count(*) FROM dms.contact WHERE dealer_code = 'BR0001'") == 3
    assert (
        scalar(
            dms, "SELECT count(*) FROM dms.customer WHERE dealer_code = 'BR0001' AND created_from_lead_id IS NOT NULL"
        )
        == 3
    )
    assert scalar(dms, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE trigger_code = 'LIM'") == 3
    assert scalar(dms, "SELECT count(*) FROM dms.parts_counter_service") == 1


def test_a_dealer_code_written_in_other_case_at_gm_is_that_dealerships(dms: str, gm_sandbox: SandboxProcess) -> None:
    # SOQL's IN ignores case, so GM returns it; dropping it would also move the watermark past it.
    created = create_leads(gm_sandbox, lead("br0001"), lead("BR0001"))
    summary, done, failed = run_import(dms, one_client(fast_client()))

    assert not failed and summary.records == 2
    assert {_contact(dms, c["Id"])["dealer_code"] for c in created} == {"BR0001"}
    assert sum(r.contacts_created for r in done if r.dealer_code == "BR0001") == 2


def test_each_dealership_logs_the_api_calls_of_its_own_gm_connection(dms: str, gm_sandbox: SandboxProcess) -> None:
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0003"))
    with psycopg.connect(dms) as conn:
        conn.execute("UPDATE gmcrm.dealership SET gm_conn_id = 'gm_crm_other' WHERE dealer_code = 'BR0003'")
    clients = {"gm_crm": fast_client(), "gm_crm_other": fast_client()}
    clients["gm_crm"].limits()  # this connection has made one call more
    summary, done, failed = run_import(dms, clients.__getitem__)

    assert not failed
    assert summary.api_calls == sum(c.stats.calls for c in clients.values())
    logged = dict(
        rows(dms, "SELECT dealer_code, api_calls FROM gmcrm.import_log WHERE dealer_code IN ('BR0001', 'BR0003')")
    )
    assert logged == {"BR0001": clients["gm_crm"].stats.calls, "BR0003": clients["gm_crm_other"].stats.calls}
    assert logged["BR0001"] == logged["BR0003"] + 1
    assert {r.dealer_code: r.api_calls for r in done if r.dealer_code in logged} == logged
