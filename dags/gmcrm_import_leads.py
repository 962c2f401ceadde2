"""
### GM CRM lead import (`gmcrm_import_leads`)

Every 5 minutes: reads the new and changed GM leads of every enabled dealership (all open leads
on a dealership's first run) with **one paginated Salesforce query per GM connection**, stages
the raw records in PostgreSQL, then loads each dealership **in its own transaction**, in mapped
`load_dealerships` tasks named by the dealer codes they hold: customer match-or-create (CPF/CNPJ,
e-mail, phone), contact by lead type, routing DIRECT or DISTRIBUTION, parts counter service and internal mail,
`LIM`/`LAT` in the trigger outbox, quarantine with a reason for leads that cannot load.
`last_integration_at` moves only once a dealership's load has committed.

**Load tasks:** one per dealership (`BR0001`) while there are no more dealerships than the deployment
runs at once; beyond that, groups (`BR0001..BR0050 (50)`), balanced on the leads each staged, at most
`GMCRM_IMPORT_MAX_TASKS` (default 20) and never more than `[core] parallelism`, the DAG's
`max_active_tasks` or the pool's slots (each task instance costs the scheduler and the worker a fixed
time, whatever it loads). `GMCRM_DEALERS_PER_TASK` fixes the number per task instead. The dealerships
whose last import failed or never ran come first (map index 0 starts first) and are named first in
their task's label: `BR0457, BR0003, then BR0001..BR0048 (50)`.

**Params** (Trigger DAG form): `dealer_codes` (empty: every enabled dealership), `full_resync`
(re-read every open lead, ignoring the watermark), `since` (re-read from a date and time).

**Connections:** `gm_crm` (salesforce; a dealership may name another in `gm_conn_id`),
`dms_postgres` (postgres). Adding a dealership is one row in `gmcrm.dealership`
(`gmcrm dealership set CODE ...`): the next run imports its open leads.

Each load task logs one short line per dealership saying what changed, e.g. `BR0001: 12 leads read:
3 new contacts (2 new customers), 1 updated, 5 events; 1 in quarantine; 0.05s`, or `..., no changes`
on a quiet cycle (the 600 s look-back reads recent leads again). The extract logs the API calls once
per GM connection. No personal data or secrets reach the logs.

**The run's verdict:** `announce_events` wakes the send DAG when events were recorded (also when
other dealerships failed; the Asset event's extra names both). The last task,
`all_dealerships_imported`, runs whatever happened before it and is never retried: it **fails the
run** when a dealership's import failed (extract or load, after its retries), its message naming
each dealership, the stage and the error, and tells the optional `gmcrm_alerts` webhook. Its XCom
`summary` (and return value) is the run's summary: dealerships imported, leads, contacts, events.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, get_current_context, task

from gmcrm.assets import TRIGGER_OUTBOX
from gmcrm.dag_defaults import COMMON_DAG_KWARGS, EVERY_5_MINUTES, FINAL_CHECK, IMPORT_DAG_ID
from gmcrm.dag_params import datetime_value, import_params


@dag(
    dag_id=IMPORT_DAG_ID,
    schedule=EVERY_5_MINUTES,
    tags=["gmcrm", "gm-crm", "leads", "import"],
    doc_md=__doc__,
    **COMMON_DAG_KWARGS,
    params=import_params(),
)
def gmcrm_import_leads() -> None:
    @task
    def extract_leads() -> list[dict[str, Any]]:
        """Stage the leads of every dealership; return the dealership groups to load (codes only)."""
        from gmcrm import airflow_support as af
        from gmcrm.leads import pipeline

        ctx = get_current_context()
        params = ctx["params"]
        since = datetime_value(params, "since")
        with af.dms_connection() as conn:
            summary = pipeline.extract(
                conn,
                ctx["run_id"],
                af.gm_client,
                dealer_codes=list(params.get("dealer_codes") or []),
                full_resync=bool(params.get("full_resync")),
                since=since,
                per_group=af.dealers_per_task(),  # None unless GMCRM_DEALERS_PER_TASK is set: automatic
                max_tasks=af.import_max_tasks(ctx["dag"]),
            )
        if summary.stopped:  # the daily limit: not a failure, but the run's summary says so
            ctx["ti"].xcom_push(key="stopped", value=summary.stopped)
        return [g.to_dict() for g in summary.groups]

    @task(map_index_template="{{ dealer_label }}")
    def load_dealerships(group: dict[str, Any]) -> None:
        """Load one group (one dealership while there are few) in its own transaction(s), one per dealership."""
        from gmcrm import airflow_support as af
        from gmcrm.gm_mapping import load_mapping
        from gmcrm.leads import pipeline

        ctx = get_current_context()
        ctx["dealer_label"] = group["label"]  # type: ignore[typeddict-unknown-key]
        dealer_group = pipeline.DealerGroup(group["dealer_codes"], group["run_id"])
        with af.dms_connection() as conn:
            _done, failed = pipeline.load_group(conn, dealer_group, load_mapping())
        if failed:
            codes = ", ".join(code for code, _ in failed)
            raise RuntimeError(f"load failed for {codes}; the other dealerships of this task loaded")

    @task(outlets=[TRIGGER_OUTBOX], trigger_rule="all_done")
    def announce_events() -> int:
        """Wake the send DAG (Asset event) when this run's loads recorded trigger events, also when other
        dealerships failed; the event's extra says which dealerships recorded events and which failed."""
        from gmcrm import airflow_support as af
        from gmcrm import run_summary

        ctx = get_current_context()
        with af.dms_connection() as conn:
            return run_summary.announce(conn, ctx["run_id"], ctx["outlet_events"][TRIGGER_OUTBOX])

    @task(**FINAL_CHECK)
    def all_dealerships_imported() -> str:
        """The run's verdict and summary: fails (no retries) naming the dealerships whose import failed."""
        from gmcrm import airflow_support as af
        from gmcrm import run_summary

        ctx = get_current_context()
        with af.dms_connection() as conn:
            return run_summary.check_import(conn, ctx["ti"], ctx["run_id"])

    loads = load_dealerships.expand(group=extract_leads())
    loads >> announce_events() >> all_dealerships_imported()


gmcrm_import_leads()

if __name__ == "__main__":
    gmcrm_import_leads().test()
