-- The lead import's own state: raw records between extract and load, watermarks, and a log
-- of every dealership's import. The load function is include/sql/routines/60.gmcrm.load_dealer.sql.

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

-- The row types of the session's temporary tables that the load function reads: a group's
-- transformed leads are COPYed there once (temporary: no WAL), then each dealership loads.
CREATE TYPE gmcrm.lead_row AS (
    lead_id                    text,
    dealer_code                text,
    lead_type                  text,
    is_open                    boolean,
    customer_name              text,
    person_type                text,
    document                   text,
    email                      text,
    email_key                  text,
    phone                      text,
    phone_key                  text,
    mobile_phone               text,
    mobile_phone_key           text,
    contact_type               text,
    contact_subtype            text,
    department_id              bigint,
    traffic_origin             text,
    status                     text,
    assigned_user_id           bigint,
    distribution_owner_user_id bigint,
    description                text,
    interest_model             text,
    interest_model_year        text,
    interest_version           text,
    lead_source                text,
    lead_comments              text,
    gm_stage                   text,
    gm_substage                text,
    gm_modstamp                timestamptz,
    gm_created_at              timestamptz
);

CREATE TYPE gmcrm.quarantine_row AS (
    lead_id     text,
    dealer_code text,
    reason_code text,
    reason      text,
    raw_record  jsonb,
    gm_modstamp timestamptz
);

CREATE TYPE gmcrm.deleted_row AS (lead_id text, dealer_code text, gm_modstamp timestamptz);

