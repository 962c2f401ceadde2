"""`make demo`: one full cycle of gmcrm, end to end, then a summary per dealership.

1. An embedded PostgreSQL and the GM CRM sandbox with generated leads for three dealerships
   (BR0001 DIRECT, BR0002 DISTRIBUTION, BR0003 DIRECT), unless real connections are configured.
2. The DMS schema migrated and the demo settings seeded.
3. The import DAG and the send DAG run through Airflow (``dag.test()``).
4. Dealership staff work some leads in the DMS: a phone contact, a test drive, a proposal sent
   for approval and approved, a lost sale whose reason has no GM reason (it fails, with the
   reason and the fix), a distribution, a service appointment.
5. The send DAG runs again; a summary per dealership is printed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings
from typing import Any

import psycopg

from gmcrm import settings
from gmcrm.paths import STATE_DIR
from gmcrm_devtools import dms_actions as dms
from gmcrm_devtools.run import prepare

SUMMARY_SQL = """
SELECT d.dealer_code, d.routing,
       coalesce(i.leads_read, 0), coalesce(i.contacts_created, 0), coalesce(i.customers_created, 0),
       coalesce(i.customers_matched, 0),
       (SELECT count(*) FROM gmcrm.lead_quarantine q WHERE q.dealer_code = d.dealer_code AND q.resolved_at IS NULL),
       (SELECT count(*) FROM gmcrm.trigger_outbox o WHERE o.dealer_code = d.dealer_code AND o.status = 'SENT'),
       (SELECT count(*) FROM gmcrm.trigger_outbox o WHERE o.dealer_code = d.dealer_code
          AND o.status IN ('PENDING', 'RETRY', 'BLOCKED')),
       (SELECT count(*) FROM gmcrm.trigger_outbox o WHERE o.dealer_code = d.dealer_code AND o.status = 'FAILED')
FROM gmcrm.dealership d
LEFT JOIN (
    SELECT dealer_code, sum(leads_read) AS leads_read, sum(contacts_created) AS contacts_created,
           sum(customers_created) AS customers_created, sum(customers_matched) AS customers_matched
    FROM gmcrm.import_log GROUP BY dealer_code
) i ON i.dealer_code = d.dealer_code
ORDER BY d.dealer_code
"""


def _run_dag(dag_id: str) -> str:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    started = time.perf_counter()
    run = bag.dags[dag_id].test()
    state = str(getattr(run, "state", "?"))
    print(f"  {dag_id}: {state.rsplit('.', 1)[-1]} in {time.perf_counter() - started:.1f}s", flush=True)
    summary = _run_summary(run)
    if summary:  # what the run's last task says, as the Airflow UI shows it (its XCom "summary")
        print(f"    {summary}", flush=True)
    return state


def _run_summary(run: Any) -> str | None:
    """The ``summary`` XCom of the run's final check task (``gmcrm.run_summary``), if any."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from gmcrm.run_summary import SUMMARY_KEY

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.key == SUMMARY_KEY
            )
        ).first()
        return str(XComModel.deserialize_value(row)) if row is not None else None


def _contacts(conn: psycopg.Connection[Any], dealer: str, lead_type: str, status: str | None = None) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM dms.contact WHERE dealer_code = %s AND lead_type = %s AND lead_id IS NOT NULL "
            "AND (%s::text IS NULL OR status = %s::text) ORDER BY id",
            (dealer, lead_type, status, status),
        )
    ]


def work_some_leads(conn: psycopg.Connection[Any]) -> list[str]:
    """What dealership staff do in the DMS screens; the DMS's own triggers record the GM events."""
    done: list[str] = []
    vehicles = _contacts(conn, "BR0001", "NEW_VEHICLE") + _contacts(conn, "BR0001", "USED_VEHICLE")
    if len(vehicles) >= 3:
        first, second, third = vehicles[:3]
        dms.register_contact(conn, first, "PHONE")
        drive = dms.schedule_test_drive(conn, first, "ONIX-10T-PREMIER-25")
        dms.complete_test_drive(conn, drive)
        proposal = dms.save_proposal(conn, first, "ONIX-10T-PREMIER-25", form="IN_PERSON")
        dms.send_proposal_for_approval(conn, proposal)
        dms.approve_proposal(conn, proposal)
        done.append(f"BR0001 contact {first}: phone contact, test drive scheduled and done, proposal approved")
        dms.register_contact(conn, second, "EMAIL")
        dms.register_lost_sale(conn, second, "V99")  # "Desistiu da compra": no GM reason mapped yet
        done.append(f"BR0001 contact {second}: e-mail contact, then a lost sale with reason V99 (not mapped)")
        dms.register_no_contact(conn, third)
        dms.register_lost_sale(conn, third, "V01")
        done.append(f"BR0001 contact {third}: no contact, then a lost sale with reason V01 (BoughtElsewhere)")
    waiting = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM dms.contact WHERE dealer_code = 'BR0002' AND status = 'AWAITING_DISTRIBUTION' "
            "ORDER BY id LIMIT 4"
        )
    ]
    if waiting:
        dms.distribute_contacts(conn, waiting, ["vendedor.vn", "vendedor.vn2"])
        done.append(f"BR0002: {len(waiting)} contacts distributed to two salespeople")
    service = _contacts(conn, "BR0003", "SERVICE")
    if service:
        dms.register_contact(conn, service[0], "PHONE")
        dms.save_service_appointment(conn, service[0], "AE")
        done.append(f"BR0003 contact {service[0]}: phone contact, service appointment AE")
    conn.commit()
    return done


def print_summary(conn: psycopg.Connection[Any], api: dict[str, Any] | None) -> None:
    header = (
        f"{'dealer':<8} {'routing':<13} {'read':>5} {'contacts':>8} {'cust.new':>8} {'matched':>7} "
        f"{'quarant.':>8} {'sent':>5} {'waiting':>7} {'failed':>6}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in conn.execute(SUMMARY_SQL):
        code, routing, read, created, cust_new, matched, quarantined, sent, waiting, failed = row
        print(
            f"{code:<8} {routing:<13} {read:>5} {created:>8} {cust_new:>8} {matched:>7} "
            f"{quarantined:>8} {sent:>5} {waiting:>7} {failed:>6}"
        )
    failures = conn.execute(
        "SELECT dealer_code, id, lead_id, trigger_code, last_error_code, last_error FROM gmcrm.trigger_outbox "
        "WHERE status = 'FAILED' ORDER BY id"
    ).fetchall()
    if failures:
        print("\nFailed events, with their reasons:")
        for dealer, oid, lead, code, err_code, err in failures:
            print(f"  {dealer} event {oid} ({code}, lead {lead}): {err_code}: {err}")
    quarantined = conn.execute(
        "SELECT dealer_code, lead_id, reason FROM gmcrm.lead_quarantine WHERE resolved_at IS NULL ORDER BY 1, 2"
    ).fetchall()
    if quarantined:
        print("\nQuarantined leads, with their reasons:")
        for dealer, lead, reason in quarantined:
            print(f"  {dealer} lead {lead}: {reason}")
    if api:
        print(
            f"\nGM CRM API calls used: {api.get('total')} "
            f"(query {api.get('query_all', 0) + api.get('query', 0)}, more pages {api.get('query_more', 0)}, "
            f"collection upserts {api.get('collection_upsert', 0)}, token {api.get('token', 0)})"
        )


def main() -> int:
    print("gmcrm demo: one full cycle, end to end", flush=True)
    # The demo prints its own summary and each run's (its final task's XCom): Airflow's task chatter,
    # including the traceback Airflow logs for the run that fails on purpose, stays out of the way.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    state_dir = STATE_DIR / "demo"
    shutil.rmtree(state_dir, ignore_errors=True)  # every demo starts from nothing
    env = prepare(leads_per_dealer=settings.demo_leads(), state_dir=state_dir)
    try:
        where = env.sandbox.instance_url + " (sandbox)" if env.sandbox else "AIRFLOW_CONN_GM_CRM"
        print(f"  GM CRM: {where}; DMS: {'embedded PostgreSQL' if env.embedded else 'configured database'}")
        print("\n1. Import and send through Airflow", flush=True)
        states = [_run_dag("gmcrm_import_leads"), _run_dag("gmcrm_send_triggers")]
        print("\n2. Dealership staff work some leads in the DMS", flush=True)
        with psycopg.connect(env.dms_url) as conn:
            for line in work_some_leads(conn):
                print(f"  {line}")
        print("\n3. Send again", flush=True)
        states.append(_run_dag("gmcrm_send_triggers"))
        api = env.sandbox.admin.calls() if env.sandbox else None
        with psycopg.connect(env.dms_url) as conn:
            print_summary(conn, api)
        print(
            "\nNext: map the reason (gmcrm reasons map BR0001 V99 NotInterested) and backfill with a run of "
            "gmcrm_send_triggers with retry_failed; see one lead with gmcrm lead-log <Lead ID>."
        )
        home = os.path.relpath(state_dir)
        print(
            f"The gmcrm commands work on this demo's database with GMCRM_HOME={home} (for example "
            f"GMCRM_HOME={home} gmcrm users list BR0042, then the README's 'Adding a dealership'); "
            "make run's database needs nothing."
        )
        # The second send run fails on purpose: the lost sale with reason V99 (no GM reason) fails for
        # good, and a run with such an event is not green (its last task, no_events_failed, says why).
        expected = ["success", "success", "failed"]
        return 0 if [s.rsplit(".", 1)[-1] for s in states] == expected else 1
    finally:
        env.stop()


if __name__ == "__main__":
    sys.exit(main())
