"""
### GM CRM trigger sender (`gmcrm_send_triggers`)

Every 5 minutes, **and within seconds of a DMS commit that records events** (Asset `gmcrm_trigger_outbox`:
its watcher in the triggerer LISTENs to the DMS's `NOTIFY gmcrm_outbox` and turns each burst of commits
into one Asset event; the import updates it too when it has recorded events). Events committed while a
run is active make one run after it (one run at a time); the 5-minute schedule is the safety net and
picks up RETRY backoffs. `GMCRM_SEND_WAKEUP=off` turns the watcher off. This run:
claims the sendable events of `gmcrm.trigger_outbox` (per lead only the earliest unsent one, so
GM receives them in order), builds the GM payloads from the trigger catalogue, sends them in
sObject Collections upserts of up to 200 events of any leads and dealerships, and records every
attempt in `gmcrm.send_log` and the outcome on the outbox row.

Outcomes: `SENT`; transient (5xx, timeout, `UNABLE_TO_LOCK_ROW`) -> `RETRY` with exponential
backoff; GM's daily limit -> the run stops and leaves everything pending; permanent -> `FAILED`
with GM's code and message, and the later events of that lead `BLOCKED` until it is retried or
skipped.

**Backfilling failed sends** is a run of this DAG with params: `retry_failed` puts `FAILED` events
back in the queue first, within the filters `dealer_codes`, `lead_id`, `trigger_codes`,
`occurred_from`, `occurred_to`. `dry_run` builds and logs the payloads and sends nothing.
`lanes` sends in parallel lanes (the events of one lead always in the same lane); empty: `GMCRM_SEND_LANES` (2).

The log of each lane ends with one line per dealership (`BR0001: 22 sent, 1 failed`), then one per
GM connection with its API calls and what is left today. No personal data or secrets reach the logs.

A run with `retry_failed` is not Airflow's own date-range **Backfill** on the trigger form. That makes
one run per 5-minute interval of past dates; the dates select no events (`occurred_from`/`occurred_to`
do), each run sends whatever is pending now, and `FAILED` events are requeued only with `retry_failed`.

**The run's verdict:** the last task, `no_events_failed`, runs whatever happened before it and is
never retried: it **fails the run** when events failed for good in this run (still `FAILED`), its
message naming each event, its dealership and GM's error, and how many wait `BLOCKED` behind them.
Its XCom `summary` (and return value) is the run's summary: sent, retry, failed, and the `FAILED`
events of earlier runs that still wait. A dry run changes nothing and fails nothing.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task

from gmcrm.assets import TRIGGER_OUTBOX
from gmcrm.dag_defaults import COMMON_DAG_KWARGS, EVERY_5_MINUTES, FINAL_CHECK, SEND_DAG_ID
from gmcrm.dag_params import send_params


@dag(
    dag_id=SEND_DAG_ID,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(EVERY_5_MINUTES, timezone="UTC"),
        assets=[TRIGGER_OUTBOX],
    ),
    tags=["gmcrm", "gm-crm", "triggers", "send"],
    doc_md=__doc__,
    **COMMON_DAG_KWARGS,
    params=send_params(),
)
def gmcrm_send_triggers() -> None:
    @task
    def prepare_queue() -> list[int]:
        """Requeue FAILED events when asked, refresh BLOCKED ones; return the lanes to run."""
        from gmcrm import airflow_support as af
        from gmcrm.send import pipeline

        ctx = get_current_context()
        params = pipeline.SendParams.from_params(ctx["params"])
        with af.dms_connection() as conn:
            return pipeline.prepare(conn, params)

    @task(map_index_template="lane {{ lane_label }}")
    def send_lane(lane: int) -> dict[str, Any]:
        """Claim, build, send and record the events of one lane until none is sendable."""
        from gmcrm import airflow_support as af
        from gmcrm.send import pipeline
        from gmcrm.send.report import RunInfo

        ctx = get_current_context()
        ctx["lane_label"] = str(lane)  # type: ignore[typeddict-unknown-key]
        params = pipeline.SendParams.from_params(ctx["params"])
        ti = ctx["ti"]
        run = RunInfo(dag_id=ti.dag_id, run_id=ctx["run_id"], try_number=ti.try_number)
        with af.dms_connection() as conn:
            return pipeline.send(conn, params, run, lane)

    @task(**FINAL_CHECK)
    def no_events_failed() -> str:
        """The run's verdict and summary: fails (no retries) when events failed for good in this run."""
        from gmcrm import airflow_support as af
        from gmcrm import run_summary

        ctx = get_current_context()
        with af.dms_connection() as conn:
            return run_summary.check_sends(conn, ctx["ti"], ctx["run_id"])

    send_lane.expand(lane=prepare_queue()) >> no_events_failed()


gmcrm_send_triggers()

if __name__ == "__main__":
    gmcrm_send_triggers().test()
