-- The lead import's own state: raw records between extract and load, watermarks, and a log
-- of every dealership's import.

-- Raw GM records pass from the extract task to the load tasks through here, never through XCom.
-- Unlogged: a crash loses only staging, and the watermark has not moved, so the next run re-reads.
CREATE UNLOGGED TABLE gmcrm.lead_staging (
    run_id      text NOT NULL,
    dealer_code text NOT NULL,
    lead_id     text NOT NULL,
    gm_modstamp timestamptz,
    record      jsonb NOT NULL,
    staged_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_staging_run_idx ON gmcrm.lead_staging (run_id, dealer_code);

-- What one extract saw per dealership: the load advances the watermark to this once it commits.
CREATE TABLE gmcrm.import_batch (
    run_id              text NOT NULL,
    dealer_code         text NOT NULL,
    records             integer NOT NULL DEFAULT 0,
    watermark_candidate timestamptz,
    extracted_at        timestamptz NOT NULL DEFAULT now(),
    api_calls           integer,
    api_remaining       integer,
    PRIMARY KEY (run_id, dealer_code)
);

CREATE TABLE gmcrm.import_watermark (
    dealer_code text PRIMARY KEY REFERENCES gmcrm.dealership (dealer_code) ON DELETE CASCADE,
    gm_modstamp timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gmcrm.import_log (
    id                 bigserial PRIMARY KEY,
    run_id             text NOT NULL,
    dealer_code        text NOT NULL,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz NOT NULL DEFAULT now(),
    leads_read         integer NOT NULL DEFAULT 0,
    contacts_created   integer NOT NULL DEFAULT 0,
    contacts_updated   integer NOT NULL DEFAULT 0,
    customers_created  integer NOT NULL DEFAULT 0,
    customers_matched  integer NOT NULL DEFAULT 0,
    quarantined        integer NOT NULL DEFAULT 0,
    deleted            integer NOT NULL DEFAULT 0,
    skipped_closed     integer NOT NULL DEFAULT 0,
    events_recorded    integer NOT NULL DEFAULT 0,
    api_calls          integer,
    api_remaining      integer
);
CREATE INDEX import_log_dealer_idx ON gmcrm.import_log (dealer_code, finished_at DESC);
CREATE UNIQUE INDEX import_log_run_idx ON gmcrm.import_log (run_id, dealer_code);
