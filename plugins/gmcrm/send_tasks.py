"""The send DAG's task bodies (kept out of the DAG file, which only wires tasks)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from gmcrm import airflow_support as af
from gmcrm.logs import get_logger
from gmcrm.sending import RunInfo, Sender, SendFilters

log = get_logger(__name__)


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    import pendulum

    parsed = pendulum.parse(str(value))
    assert isinstance(parsed, datetime)
    return parsed


def filters_from_params(params: Mapping[str, Any]) -> SendFilters:
    return SendFilters(
        dealer_codes=list(params.get("dealer_codes") or []) or None,
        lead_id=(params.get("lead_id") or None),
        trigger_codes=list(params.get("trigger_codes") or []) or None,
        occurred_from=_dt(params.get("occurred_from")),
        occurred_to=_dt(params.get("occurred_to")),
    )


def prepare(conn: psycopg.Connection[Any], params: Mapping[str, Any]) -> list[int]:
    sender = Sender(conn, None, filters=filters_from_params(params))
    requeued = sender.prepare(retry_failed=bool(params.get("retry_failed")))
    if requeued:
        log.info("requeued %d FAILED events for another try", requeued)
    return list(range(max(1, int(params.get("lanes") or 1))))


def send(conn: psycopg.Connection[Any], ctx: Mapping[str, Any], lane: int) -> dict[str, Any]:
    params = ctx["params"]
    ti = ctx["ti"]
    lanes = max(1, int(params.get("lanes") or 1))
    run = RunInfo(dag_id=ti.dag_id, run_id=ctx["run_id"], try_number=ti.try_number)
    sender = Sender(
        conn,
        af.gm_client(),
        run=run,
        filters=filters_from_params(params),
        dry_run=bool(params.get("dry_run")),
        lanes=lanes,
        lane=lane,
    )
    report = sender.run_until_done()
    for line in report.lines():
        log.info("%s; %d API calls used, %s remaining", line, report.api_calls, report.api_remaining)
    if report.stopped:
        log.warning("stopped: %s", report.stopped)
    totals = report.totals()
    log.info("lane %d of %d: %s in %.1fs", lane + 1, lanes, dict(totals) or "nothing to send", report.seconds)
    return {"lane": lane, "totals": dict(totals), "api_calls": report.api_calls, "stopped": report.stopped}
