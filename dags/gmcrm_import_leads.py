"""
### GM CRM lead import (`gmcrm_import_leads`)

Every 5 minutes: reads the new and changed GM leads of every enabled dealership (all open leads
on a dealership's first run) with **one paginated Salesforce query per GM connection**, stages
the raw records in PostgreSQL, then loads each dealership **in its own mapped task and
transaction** (named by dealer code): customer match-or-create (CPF/CNPJ, e-mail, phone),
contact by lead type, routing DIRECT or DISTRIBUTION, parts counter service and internal mail,
`LIM`/`LAT` in the trigger outbox, quarantine with a reason for leads that cannot load.
`last_integration_at` moves only once a dealership's load has committed.

**Params** (Trigger DAG form): `dealer_codes` (empty: every enabled dealership), `full_resync`
(re-read every open lead, ignoring the watermark), `since` (re-read from a date and time).

**Connections:** `gm_crm` (salesforce; a dealership may name another in `gm_conn_id`),
`dms_postgres` (postgres). Adding a dealership is one row in `gmcrm.dealership`
(`gmcrm dealership set CODE ...`): the next run imports its open leads.

Each load task logs one line per dealership: counts, API calls used and remaining, time taken.
No personal data or secrets reach the logs.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from gmcrm.assets import TRIGGER_OUTBOX
from gmcrm.dag_defaults import COMMON_DAG_KWARGS, EVERY_5_MINUTES


@dag(
    dag_id="gmcrm_import_leads",
    schedule=EVERY_5_MINUTES,
    tags=["gmcrm", "gm-crm", "leads", "import"],
    doc_md=__doc__,
    **COMMON_DAG_KWARGS,
    params={
        "dealer_codes": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Dealer codes",
            description="GM dealer codes to import. Empty: every dealership with the integration enabled.",
        ),
        "full_resync": Param(
            False,
            type="boolean",
            title="Full resync",
            description="Re-read every open lead of these dealerships, ignoring the watermark.",
        ),
        "since": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Re-read since",
            description="Re-read the leads changed since this date and time (UTC). Empty: from the watermark.",
        ),
    },
)
def gmcrm_import_leads() -> None:
    @task
    def extract_leads() -> list[dict[str, Any]]:
        """Stage the leads of every dealership; return the dealership groups to load (codes only)."""
        from gmcrm import airflow_support as af
        from gmcrm.leads import pipeline

        ctx = get_current_context()
        params = ctx["params"]
        since = pendulum.parse(params["since"]) if params.get("since") else None
        with af.dms_connection() as conn:
            summary = pipeline.extract(
                conn,
                ctx["run_id"],
                af.gm_client,
                dealer_codes=list(params.get("dealer_codes") or []),
                full_resync=bool(params.get("full_resync")),
                since=since,  # type: ignore[arg-type]
                per_group=af.dealers_per_task(),
            )
        return [g.to_dict() for g in summary.groups]

    @task(map_index_template="{{ dealer_label }}")
    def load_dealerships(group: dict[str, Any]) -> None:
        """Load one group (by default one dealership) in its own transaction(s)."""
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
        """Wake the send DAG (Asset event) when this run's loads recorded trigger events."""
        from airflow.sdk.exceptions import AirflowSkipException

        from gmcrm import airflow_support as af

        with af.dms_connection() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(events_recorded), 0) FROM gmcrm.import_log WHERE run_id = %s",
                (get_current_context()["run_id"],),
            ).fetchone()
        recorded = int(row[0]) if row else 0
        if not recorded:
            raise AirflowSkipException("no trigger events recorded")
        return recorded

    load_dealerships.expand(group=extract_leads()) >> announce_events()


gmcrm_import_leads()

if __name__ == "__main__":
    gmcrm_import_leads().test()
