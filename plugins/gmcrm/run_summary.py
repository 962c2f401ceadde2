"""What a run did, in a few lines a person reads in the Airflow UI, and the judgement that makes a run
that failed show red.

Each DAG ends with a check task, its only leaf, so the check's state is the run's state: trigger rule
``all_done`` (it runs whatever happened before it) and no retries (it judges; another try would judge
the same). It writes the run's summary as its XCom ``summary`` and logs it; when something failed for
good it raises :class:`AirflowFailException` with that summary as the message:

- ``all_dealerships_imported`` (import): fails when a dealership's import failed in the run and did not
  load later in it (``gmcrm.import_run_failures``: the extract and load stages), or when a task failed
  as a whole; it also tells the ``gmcrm_alerts`` webhook, naming each dealership, stage and error.
- ``no_events_failed`` (send): fails when events failed for good in this run and are still ``FAILED``.

Why not the DAG run note: in Airflow 3.3 a task cannot set the note of its own run (the Task SDK reads
it; the execution API takes a note only when triggering another run). Every text here is masked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from gmcrm.alerts import alert, import_failures_text
from gmcrm.leads.failures import ImportFailure, run_failures
from gmcrm.logs import get_logger, plural
from gmcrm.normalize import mask_text
from gmcrm.paths import named_queries

_SQL = named_queries("import")

log = get_logger(__name__)

SUMMARY_KEY = "summary"
#: How much of one error a summary keeps (the whole of it is in gmcrm.import_failure or the outbox row).
ERROR_CHARS = 500
SEND_OUTCOMES = ("SENT", "RETRY", "DEFERRED", "ROLLED_BACK", "FAILED", "DRY_RUN")


def failed_task_names(states: Mapping[str, Any], labels: Mapping[str, list[str]], skip: str) -> list[str]:
    """The task instances of a run that failed, named as the UI shows them. ``states`` is what Airflow's
    ``get_task_states`` answers for the run (a mapped instance keyed ``task_id_<map index>``); ``labels``
    gives a mapped task's labels by map index (the load tasks' dealer codes)."""
    names = []
    for key, value in sorted(states.items()):
        if str(getattr(value, "value", value)) != "failed" or key == skip:
            continue
        name = key
        for task_id, task_labels in labels.items():
            index = key[len(task_id) + 1 :]
            if key.startswith(f"{task_id}_") and index.isdigit():
                i = int(index)
                name = f"{task_id}[{task_labels[i] if i < len(task_labels) else i}]"
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------------
# The import


@dataclass
class ImportRunSummary:
    imported: int = 0
    leads_read: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
    quarantined: int = 0
    events_recorded: int = 0
    dealers_with_events: list[str] = field(default_factory=list)
    failures: list[ImportFailure] = field(default_factory=list)
    failed_tasks: list[str] = field(default_factory=list)
    stopped: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.failed_tasks)

    def text(self) -> str:
        parts = []
        if self.failures:
            failed = "; ".join(f"{f.dealer_code} ({f.stage}: {f.error[:ERROR_CHARS]})" for f in self.failures)
            parts.append(f"import failed for {plural(len(self.failures), 'dealership')}: {failed}")
        if self.failed_tasks:
            parts.append(f"failed tasks: {', '.join(self.failed_tasks)} (see their logs)")
        parts.append(
            f"{plural(self.imported, 'dealership')} imported: {plural(self.leads_read, 'lead')} read, "
            f"{plural(self.contacts_created, 'contact')} created, {self.contacts_updated} updated, "
            f"{self.quarantined} quarantined, {plural(self.events_recorded, 'event')} recorded"
        )
        if self.stopped:
            parts.append(f"stopped, everything left for the next run: {self.stopped}")
        return mask_text(". ".join(parts))


def import_summary(
    conn: psycopg.Connection[Any], run_id: str, failed_tasks: Iterable[str] = (), stopped: str | None = None
) -> ImportRunSummary:
    with conn.transaction():
        row = conn.execute(
            _SQL["import_summary"],
            (run_id,),
        ).fetchone()
        failures = run_failures(conn, run_id)
    assert row is not None
    imported, leads_read, created, updated, quarantined, events, with_events = row
    return ImportRunSummary(
        imported=int(imported),
        leads_read=int(leads_read),
        contacts_created=int(created),
        contacts_updated=int(updated),
        quarantined=int(quarantined),
        events_recorded=int(events),
        dealers_with_events=list(with_events),
        failures=failures,
        failed_tasks=list(failed_tasks),
        stopped=stopped,
    )


def failure_streaks(conn: psycopg.Connection[Any], dealer_codes: list[str]) -> dict[str, int]:
    """For each dealership, in how many runs in a row its import has failed (since it last loaded)."""
    with conn.transaction():
        found = conn.execute(
            _SQL["failure_streaks"],
            (dealer_codes,),
        ).fetchall()
    return {code: int(n) for code, n in found}


def announce(conn: psycopg.Connection[Any], run_id: str, outlet: Any) -> int:
    """The import's Asset event: emitted when the run's loads recorded trigger events, also when other
    dealerships failed (their neighbours' events must still wake the send DAG); its extra says why."""
    from airflow.sdk.exceptions import AirflowSkipException

    summary = import_summary(conn, run_id)
    if not summary.events_recorded:
        raise AirflowSkipException("no trigger events recorded")
    outlet.extra = {
        "events_recorded": summary.events_recorded,
        "dealerships_with_events": summary.dealers_with_events,
        "dealerships_failed": [f.dealer_code for f in summary.failures],
    }
    return summary.events_recorded


def check_import(conn: psycopg.Connection[Any], ti: Any, run_id: str) -> str:
    """The import DAG's last task: summary, alert, and AirflowFailException when a dealership failed."""
    from airflow.sdk.exceptions import AirflowFailException

    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
    groups = ti.xcom_pull(task_ids="extract_leads") or []
    labels = {"load_dealerships": [str(g.get("label")) for g in groups if isinstance(g, Mapping)]}
    stopped = ti.xcom_pull(task_ids="extract_leads", key="stopped")
    summary = import_summary(conn, run_id, failed_task_names(states, labels, ti.task_id), stopped)
    text = summary.text()
    ti.xcom_push(key=SUMMARY_KEY, value=text)
    if summary.failures:
        streaks = failure_streaks(conn, [f.dealer_code for f in summary.failures])
        rows = [(f.dealer_code, f.stage, f.error, streaks.get(f.dealer_code, 1)) for f in summary.failures]
        alert(import_failures_text(rows))
    if summary.failed:
        raise AirflowFailException(text)
    log.info("%s", text)
    return text


# ---------------------------------------------------------------------------------------------
# The sends


@dataclass
class SendRunSummary:
    totals: Counter[str] = field(default_factory=Counter)
    #: (dealer_code, outbox_id, trigger_code, error_code, error_message) of the events this run failed
    #: for good and that are still FAILED.
    failed: list[tuple[str, int, str, str | None, str | None]] = field(default_factory=list)
    blocked_behind: int = 0
    failed_before: int = 0
    stopped: list[str] = field(default_factory=list)
    failed_tasks: list[str] = field(default_factory=list)

    @property
    def is_failure(self) -> bool:
        return bool(self.failed or self.failed_tasks)

    def text(self) -> str:
        counts = {outcome: self.totals.get(outcome, 0) for outcome in SEND_OUTCOMES}
        shown = [f"{n} {outcome.lower().replace('_', ' ')}" for outcome, n in counts.items() if n or outcome == "SENT"]
        parts = [", ".join(shown)]
        if self.failed:
            events = "; ".join(
                f"{dealer} event {outbox_id} ({code}): {error_code}: {(message or '')[:ERROR_CHARS].rstrip('. ')}"
                for dealer, outbox_id, code, error_code, message in self.failed[:10]
            )
            more = f" and {len(self.failed) - 10} more" if len(self.failed) > 10 else ""
            blocked = f"; {self.blocked_behind} blocked behind them" if self.blocked_behind else ""
            parts.append(
                f"{plural(len(self.failed), 'event')} failed for good, waiting for a person: {events}{more}{blocked}. "
                "Fix the cause, then run gmcrm_send_triggers with retry_failed (or gmcrm events retry)"
            )
        if self.failed_before:
            parts.append(
                f"{self.failed_before} event(s) FAILED from earlier runs still wait (gmcrm events list --status FAILED)"
            )
        if self.failed_tasks:
            parts.append(f"failed tasks: {', '.join(self.failed_tasks)} (see their logs)")
        if self.stopped:
            parts.append(f"stopped, everything left for the next run: {'; '.join(self.stopped)}")
        return mask_text(". ".join(parts))


def send_summary(
    conn: psycopg.Connection[Any],
    dag_id: str,
    run_id: str,
    lanes: Iterable[Mapping[str, Any]],
    failed_tasks: Iterable[str] = (),
) -> SendRunSummary:
    summary = SendRunSummary(failed_tasks=list(failed_tasks))
    for lane in lanes:
        summary.totals.update(lane.get("totals") or {})
        if lane.get("stopped"):
            summary.stopped.append(str(lane["stopped"]))
    with conn.transaction():
        summary.failed = [
            (str(d), int(i), str(c), e, m)
            for d, i, c, e, m in conn.execute(
                "SELECT DISTINCT ON (l.outbox_id) l.dealer_code, l.outbox_id, l.trigger_code, l.error_code, "
                "l.error_message FROM gmcrm.send_log l "
                "JOIN gmcrm.trigger_outbox o ON o.id = l.outbox_id AND o.status = 'FAILED' "
                "WHERE l.dag_id = %s AND l.run_id = %s AND l.outcome = 'FAILED' ORDER BY l.outbox_id, l.id DESC",
                (dag_id, run_id),
            ).fetchall()
        ]
        leads = conn.execute(
            "SELECT coalesce(array_agg(lead_id), '{}') FROM gmcrm.trigger_outbox WHERE id = ANY(%s)",
            ([i for _, i, *_ in summary.failed],),
        ).fetchone()
        row = conn.execute(
            "SELECT (SELECT count(*) FROM gmcrm.trigger_outbox WHERE status = 'BLOCKED' AND lead_id = ANY(%s)), "
            "(SELECT count(*) FROM gmcrm.trigger_outbox WHERE status = 'FAILED')",
            (leads[0] if leads else [],),
        ).fetchone()
    assert row is not None
    summary.blocked_behind = int(row[0])
    summary.failed_before = int(row[1]) - len(summary.failed)
    return summary


def check_sends(conn: psycopg.Connection[Any], ti: Any, run_id: str) -> str:
    """The send DAG's last task: summary, and AirflowFailException when events failed for good in this run
    (each lane has already alerted the webhook to its own)."""
    from airflow.sdk.exceptions import AirflowFailException

    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
    lanes = [lane for lane in ti.xcom_pull(task_ids=["send_lane"]) or [] if isinstance(lane, Mapping)]
    # Lanes are labelled "lane <map index>" in the UI; there are fewer lanes than task instances.
    labels = {"send_lane": [f"lane {i}" for i in range(len(states))]}
    summary = send_summary(conn, ti.dag_id, run_id, lanes, failed_task_names(states, labels, ti.task_id))
    text = summary.text()
    ti.xcom_push(key=SUMMARY_KEY, value=text)
    if summary.is_failure:
        raise AirflowFailException(text)
    log.info("%s", text)
    return text
