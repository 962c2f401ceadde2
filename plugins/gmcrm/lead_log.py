"""The lead log (manual: "Consulta de Logs"): what happened to one lead, in order.

Besides the import, the events and their send attempts, it shows why an event was never sent: an
event ``CANCELLED`` (the lead deleted at GM) or ``SKIPPED`` with its reason, and DMS activity that
recorded no event at all (``NOT_SENT``: "after the close, not sent", or the lead deleted at GM).

Used by ``gmcrm lead-log`` and the lead log page in the Airflow UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # IMPORTED, QUARANTINED, EVENT_CREATED, SEND_ATTEMPT, NOT_SENT
    trigger_code: str | None
    summary: str
    detail: dict[str, Any]


TIMELINE_SQL = """
SELECT created_at AS at, 'IMPORTED' AS kind, NULL AS trigger_code,
       'Contact ' || id || ' created (' || lead_type || ', ' || status || ')' AS summary,
       jsonb_build_object('contact_id', id, 'dealer_code', dealer_code, 'lead_type', lead_type,
                          'status', status, 'gm_stage', gm_stage, 'gm_substage', gm_substage) AS detail
FROM dms.contact WHERE lead_id = %(lead_id)s
UNION ALL
SELECT first_seen_at, 'QUARANTINED', NULL, reason_code || ': ' || reason,
       jsonb_build_object('reason', reason, 'resolved_at', resolved_at, 'times_seen', times_seen)
FROM gmcrm.lead_quarantine WHERE lead_id = %(lead_id)s
UNION ALL
SELECT occurred_at, 'EVENT_CREATED', trigger_code,
       'Evento criado: ' || trigger_code || ' (outbox ' || id || ', now ' || status || ')'
       || CASE status WHEN 'CANCELLED' THEN coalesce(': ' || cancelled_reason, '')
                      WHEN 'SKIPPED' THEN coalesce(': ' || skipped_reason, '') ELSE '' END,
       jsonb_build_object('outbox_id', id, 'status', status, 'attempts', attempts,
                          'last_error', last_error, 'sent_at', sent_at,
                          'cancelled_reason', cancelled_reason, 'skipped_reason', skipped_reason)
FROM gmcrm.trigger_outbox WHERE lead_id = %(lead_id)s
UNION ALL
-- DMS activity that sends nothing (after the lead's close, or on a lead deleted at GM).
SELECT recorded_at, 'NOT_SENT', trigger_code,
       'Atividade não enviada: ' || trigger_code || coalesce(' (' || source_table || ' ' || source_id || ')', '')
       || ', ' || reason,
       jsonb_build_object('reason_code', reason_code, 'reason', reason, 'contact_id', contact_id,
                          'source_table', source_table, 'source_id', source_id, 'step', step,
                          'closed_by_outbox_id', closed_by_outbox_id)
FROM gmcrm.activity_not_sent WHERE lead_id = %(lead_id)s
UNION ALL
SELECT attempted_at, 'SEND_ATTEMPT', trigger_code,
       'Gatilho ' || trigger_code || ' ' || outcome || coalesce(' · Stage: ' || stage, '')
       || coalesce(' · Substage: ' || substage, '') || coalesce(' · HTTP ' || status_code, '')
       || coalesce(' · ' || error_code, ''),
       jsonb_build_object('outbox_id', outbox_id, 'outcome', outcome, 'status_code', status_code,
                          'request_body', request_body, 'response_body', response_body,
                          'error_message', error_message, 'dag_id', dag_id, 'run_id', run_id,
                          'try_number', try_number)
FROM gmcrm.send_log WHERE lead_id = %(lead_id)s
ORDER BY 1, 2
"""


def timeline(conn: psycopg.Connection[Any], lead_id: str) -> list[TimelineEntry]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(TIMELINE_SQL, {"lead_id": lead_id}).fetchall()
    return [TimelineEntry(r["at"], r["kind"], r["trigger_code"], r["summary"], r["detail"]) for r in rows]


SEARCH_SQL = """
SELECT l.id, l.attempted_at, l.dealer_code, l.lead_id, l.trigger_code, l.stage, l.substage, l.outcome,
       l.status_code, l.error_code, l.error_message, l.dag_id, l.run_id, l.try_number
FROM gmcrm.send_log l
WHERE (%(dealer_code)s::text IS NULL OR l.dealer_code = %(dealer_code)s::text)
  AND (%(lead_id)s::text IS NULL OR l.lead_id = %(lead_id)s::text)
  AND (%(trigger_code)s::text IS NULL OR l.trigger_code = %(trigger_code)s::text)
  AND (%(outcome)s::text IS NULL OR l.outcome = %(outcome)s::text)
  AND (%(date_from)s::timestamptz IS NULL OR l.attempted_at >= %(date_from)s::timestamptz)
  AND (%(date_to)s::timestamptz IS NULL OR l.attempted_at < %(date_to)s::timestamptz)
ORDER BY l.attempted_at DESC, l.id DESC
LIMIT %(limit)s
"""


def search(
    conn: psycopg.Connection[Any],
    *,
    dealer_code: str | None = None,
    lead_id: str | None = None,
    trigger_code: str | None = None,
    outcome: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    params = {
        "dealer_code": dealer_code or None,
        "lead_id": lead_id or None,
        "trigger_code": (trigger_code or "").upper() or None,
        "outcome": (outcome or "").upper() or None,
        "date_from": date_from,
        "date_to": date_to,
        "limit": limit,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SEARCH_SQL, params).fetchall()
