-- The lead log (gmcrm.lead_log): one lead's timeline, the search of send attempts, and what the lead
-- log page shows beside them. Named statements; parameters are psycopg named params. Read-only.

-- name: timeline
-- What happened to one lead, in order: imported, quarantined, each event recorded, DMS activity that
-- recorded no event, each send attempt (with its send log id, which the page anchors attempts by).
SELECT created_at AS at, 'IMPORTED' AS kind, NULL AS trigger_code,
       'Contact ' || id || ' created (' || lead_type || ', ' || status || ')' AS summary,
       jsonb_build_object('contact_id', id, 'dealer_code', dealer_code, 'lead_type', lead_type,
                          'status', status, 'gm_stage', gm_stage, 'gm_substage', gm_substage) AS detail,
       NULL::bigint AS send_log_id
FROM dms.contact WHERE lead_id = %(lead_id)s
UNION ALL
SELECT first_seen_at, 'QUARANTINED', NULL, reason_code || ': ' || reason,
       jsonb_build_object('reason', reason, 'resolved_at', resolved_at, 'times_seen', times_seen),
       NULL
FROM gmcrm.lead_quarantine WHERE lead_id = %(lead_id)s
UNION ALL
SELECT occurred_at, 'EVENT_CREATED', trigger_code,
       'Evento criado: ' || trigger_code || ' (outbox ' || id || ', now ' || status || ')'
       || CASE status WHEN 'CANCELLED' THEN coalesce(': ' || cancelled_reason, '')
                      WHEN 'SKIPPED' THEN coalesce(': ' || skipped_reason, '') ELSE '' END,
       jsonb_build_object('outbox_id', id, 'status', status, 'attempts', attempts,
                          'last_error', last_error, 'sent_at', sent_at,
                          'cancelled_reason', cancelled_reason, 'skipped_reason', skipped_reason),
       NULL
FROM gmcrm.trigger_outbox WHERE lead_id = %(lead_id)s
UNION ALL
-- DMS activity that sends nothing (after the lead's close, or on a lead deleted at GM).
SELECT recorded_at, 'NOT_SENT', trigger_code,
       'Atividade não enviada: ' || trigger_code || coalesce(' (' || source_table || ' ' || source_id || ')', '')
       || ', ' || reason,
       jsonb_build_object('reason_code', reason_code, 'reason', reason, 'contact_id', contact_id,
                          'source_table', source_table, 'source_id', source_id, 'step', step,
                          'closed_by_outbox_id', closed_by_outbox_id),
       NULL
FROM gmcrm.activity_not_sent WHERE lead_id = %(lead_id)s
UNION ALL
SELECT attempted_at, 'SEND_ATTEMPT', trigger_code,
       'Gatilho ' || trigger_code || ' ' || outcome || coalesce(' · Stage: ' || stage, '')
       || coalesce(' · Substage: ' || substage, '') || coalesce(' · HTTP ' || status_code, '')
       || coalesce(' · ' || error_code, ''),
       jsonb_build_object('outbox_id', outbox_id, 'outcome', outcome, 'status_code', status_code,
                          'request_body', request_body, 'response_body', response_body,
                          'error_message', error_message, 'dag_id', dag_id, 'run_id', run_id,
                          'try_number', try_number),
       id
FROM gmcrm.send_log WHERE lead_id = %(lead_id)s
ORDER BY 1, 2;

-- name: attempt_codes
-- What the timeline's attempts do not carry in their details: stage, substage and error code, by
-- send log id.
SELECT id, stage, substage, communication, error_code
FROM gmcrm.send_log WHERE lead_id = %(lead_id)s ORDER BY id;

-- name: search
-- Send attempts within the filters, newest first.
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
LIMIT %(limit)s;

-- name: dealerships
-- The search form's choice of dealership.
SELECT dealer_code, name FROM gmcrm.dealership ORDER BY dealer_code;

-- name: triggers
-- The search form's choice of trigger.
SELECT code, name FROM gmcrm.trigger_catalogue ORDER BY code;

-- name: lead_hashes
-- The lane of a lead, as the send DAG assigns it (send.sql): gmcrm.lead_hash(lead_id) modulo the lanes.
SELECT lead_id, gmcrm.lead_hash(lead_id) FROM unnest(%(lead_ids)s::text[]) AS lead_id;
