-- Sending trigger events: claims on the outbox and the send log (manual: "Consulta de Logs").

-- A claim is a lease: a send run that dies between the call and the recording of its result
-- leaves the claim to expire; the next run sends again (an upsert at GM: no duplicate).
ALTER TABLE gmcrm.trigger_outbox ADD COLUMN IF NOT EXISTS claimed_by text;
ALTER TABLE gmcrm.trigger_outbox ADD COLUMN IF NOT EXISTS claimed_until timestamptz;
ALTER TABLE gmcrm.trigger_outbox ADD COLUMN IF NOT EXISTS skipped_reason text;
CREATE INDEX IF NOT EXISTS trigger_outbox_sendable_idx ON gmcrm.trigger_outbox (id)
    WHERE status IN ('PENDING', 'RETRY');

CREATE TABLE gmcrm.send_log (
    id            bigserial PRIMARY KEY,
    outbox_id     bigint NOT NULL REFERENCES gmcrm.trigger_outbox (id),
    dealer_code   text NOT NULL,
    lead_id       text NOT NULL,
    trigger_code  text NOT NULL,
    stage         text,
    substage      text,
    communication text,
    request_body  jsonb,
    status_code   integer,
    response_body jsonb,
    -- SENT, RETRY (transient), FAILED (permanent), DEFERRED (daily limit), DRY_RUN
    outcome       text NOT NULL,
    error_code    text,
    error_message text,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    dag_id        text,
    run_id        text,
    try_number    integer
);
CREATE INDEX send_log_lead_idx ON gmcrm.send_log (lead_id, attempted_at);
CREATE INDEX send_log_outbox_idx ON gmcrm.send_log (outbox_id);
CREATE INDEX send_log_dealer_idx ON gmcrm.send_log (dealer_code, attempted_at DESC);
