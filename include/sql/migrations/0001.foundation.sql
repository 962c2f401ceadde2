-- Foundation: the DMS reference tables the import needs (schema dms) and what the integration
-- owns (schema gmcrm). Names are interfaces (../shared/spec/dms.md); extra columns are ours.

CREATE SCHEMA IF NOT EXISTS dms;
CREATE SCHEMA IF NOT EXISTS gmcrm;

-- Functions and triggers (the key functions of dms.customer's generated columns, the updated_at
-- triggers) are in include/sql/routines/, applied by every upgrade (gmcrm.migrate); the key
-- functions before the migrations too, since the generated columns below call them.

-- ---------------------------------------------------------------------------------------------
-- DMS catalogues: departments and users (per dealership).
CREATE TABLE dms.department (
    id          bigserial PRIMARY KEY,
    dealer_code text NOT NULL,
    code        text NOT NULL,
    name        text NOT NULL,
    UNIQUE (dealer_code, code)
);

CREATE TABLE dms.app_user (
    id            bigserial PRIMARY KEY,
    dealer_code   text NOT NULL,
    login         text NOT NULL,
    name          text NOT NULL,
    email         text,
    department_id bigint REFERENCES dms.department (id),
    -- Distribution may pick users by seller origin or sales team (manual: "Distribuição").
    seller_origin text,
    sales_team    text,
    active        boolean NOT NULL DEFAULT true,
    UNIQUE (dealer_code, login)
);

-- ---------------------------------------------------------------------------------------------
-- Integration settings (manual: Fábrica GM > Parâmetros > Gerais > Aba Integração CRM).
CREATE TABLE gmcrm.dealership (
    dealer_code          text PRIMARY KEY CHECK (dealer_code ~ '^[A-Za-z0-9_-]{1,10}$'),
    name                 text NOT NULL,
    integration_enabled  boolean NOT NULL DEFAULT false,
    routing              text NOT NULL DEFAULT 'DIRECT' CHECK (routing IN ('DIRECT', 'DISTRIBUTION')),
    vehicles_user_id     bigint REFERENCES dms.app_user (id),
    parts_user_id        bigint REFERENCES dms.app_user (id),
    service_user_id      bigint REFERENCES dms.app_user (id),
    after_sales_user_id  bigint REFERENCES dms.app_user (id),
    traffic_origin       text,
    last_integration_at  timestamptz,
    gm_conn_id           text NOT NULL DEFAULT 'gm_crm',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Contact settings per dealership and lead type (vehicle parameters tabs Geral / Veículos Usados,
-- parts tab CAC, workshop tab Contato, CRM Plus > After Sales).
CREATE TABLE gmcrm.contact_setting (
    dealer_code     text NOT NULL REFERENCES gmcrm.dealership (dealer_code) ON DELETE CASCADE,
    lead_type       text NOT NULL
        CHECK (lead_type IN ('NEW_VEHICLE', 'USED_VEHICLE', 'SERVICE', 'PARTS', 'AFTER_SALES')),
    contact_type    text NOT NULL,
    contact_subtype text NOT NULL,
    -- Only used-vehicle leads take their department from the settings; the others take the
    -- department of the user who receives the lead.
    department_id   bigint REFERENCES dms.department (id),
    PRIMARY KEY (dealer_code, lead_type)
);

-- ---------------------------------------------------------------------------------------------
-- Customers (the dealership's base) and contacts.
CREATE TABLE dms.customer (
    id                   bigserial PRIMARY KEY,
    dealer_code          text NOT NULL,
    name                 text NOT NULL,
    person_type          text CHECK (person_type IN ('F', 'J')),
    document             text,
    email                text,
    phone                text,
    mobile_phone         text,
    created_from_lead_id text,
    document_key         text GENERATED ALWAYS AS (gmcrm.digits(document)) STORED,
    email_key            text GENERATED ALWAYS AS (gmcrm.email_key(email)) STORED,
    phone_key            text GENERATED ALWAYS AS (gmcrm.phone_key(phone)) STORED,
    mobile_phone_key     text GENERATED ALWAYS AS (gmcrm.phone_key(mobile_phone)) STORED,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_document_idx ON dms.customer (dealer_code, document_key) WHERE document_key IS NOT NULL;
CREATE INDEX customer_email_idx ON dms.customer (dealer_code, email_key) WHERE email_key IS NOT NULL;
CREATE INDEX customer_phone_idx ON dms.customer (dealer_code, phone_key) WHERE phone_key IS NOT NULL;
CREATE INDEX customer_mobile_idx ON dms.customer (dealer_code, mobile_phone_key) WHERE mobile_phone_key IS NOT NULL;
-- A lead creates at most one customer, however often it is read.
CREATE UNIQUE INDEX customer_created_from_lead_idx ON dms.customer (created_from_lead_id)
    WHERE created_from_lead_id IS NOT NULL;

CREATE TABLE dms.contact (
    id                         bigserial PRIMARY KEY,
    dealer_code                text NOT NULL,
    customer_id                bigint NOT NULL REFERENCES dms.customer (id),
    lead_id                    text UNIQUE,
    lead_type                  text
        CHECK (lead_type IN ('NEW_VEHICLE', 'USED_VEHICLE', 'SERVICE', 'PARTS', 'AFTER_SALES')),
    department_id              bigint REFERENCES dms.department (id),
    contact_type               text,
    contact_subtype            text,
    description                text,
    traffic_origin             text,
    status                     text NOT NULL DEFAULT 'IN_QUEUE'
        CHECK (status IN ('AWAITING_DISTRIBUTION', 'IN_QUEUE', 'IN_PROGRESS', 'CLOSED_WON', 'CLOSED_LOST')),
    assigned_user_id           bigint REFERENCES dms.app_user (id),
    distribution_owner_user_id bigint REFERENCES dms.app_user (id),
    -- The contact form the contact was opened with (proposals default to it).
    contact_form_id            bigint,
    -- Interest details from the lead (updated on re-read).
    interest_model             text,
    interest_model_year        text,
    interest_version           text,
    lead_source                text,
    lead_comments              text,
    -- The lead as last read from GM.
    gm_stage                   text,
    gm_substage                text,
    gm_modstamp                timestamptz,
    gm_created_at              timestamptz,
    gm_deleted_at              timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_dealer_idx ON dms.contact (dealer_code, status);
CREATE INDEX contact_customer_idx ON dms.contact (customer_id);

-- Parts leads: a counter service (atendimento balcão) and an internal mail (correio interno).
CREATE TABLE dms.parts_counter_service (
    id                  bigserial PRIMARY KEY,
    dealer_code         text NOT NULL,
    contact_id          bigint NOT NULL REFERENCES dms.contact (id),
    customer_id         bigint NOT NULL REFERENCES dms.customer (id),
    salesperson_user_id bigint NOT NULL REFERENCES dms.app_user (id),
    status              text NOT NULL DEFAULT 'OPEN'
        CHECK (status IN ('OPEN', 'SENT_TO_CASHIER', 'INVOICED', 'CANCELLED')),
    opened_at           timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- One open counter service per parts contact: re-reading a lead never opens a second one.
CREATE UNIQUE INDEX parts_counter_service_contact_idx ON dms.parts_counter_service (contact_id);

CREATE TABLE dms.internal_mail (
    id          bigserial PRIMARY KEY,
    dealer_code text NOT NULL,
    to_user_id  bigint NOT NULL REFERENCES dms.app_user (id),
    contact_id  bigint REFERENCES dms.contact (id),
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);
CREATE INDEX internal_mail_user_idx ON dms.internal_mail (to_user_id, read_at);

-- ---------------------------------------------------------------------------------------------
-- The transactional outbox: DMS changes and their triggers commit together.
CREATE TABLE gmcrm.trigger_outbox (
    id               bigserial PRIMARY KEY,
    dealer_code      text NOT NULL,
    lead_id          text NOT NULL,
    contact_id       bigint REFERENCES dms.contact (id),
    trigger_code     text NOT NULL,
    -- One DMS action can record two events (ACO); step orders them.
    step             smallint NOT NULL DEFAULT 1,
    occurred_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- References the payload needs; read when the event is sent.
    contact_form_id  bigint,
    reason_id        bigint,
    vehicle_model_id bigint,
    vehicle_model_year text,
    trade_in         jsonb,
    user_id          bigint,
    source_table     text,
    source_id        bigint,
    status           text NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'SENT', 'RETRY', 'FAILED', 'BLOCKED', 'SKIPPED')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_error       text,
    last_error_code  text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- Per lead, in order: the earliest-unsent check of the sender, blocking, and the lead log.
CREATE INDEX trigger_outbox_lead_idx ON gmcrm.trigger_outbox (lead_id, id);
CREATE INDEX trigger_outbox_dealer_idx ON gmcrm.trigger_outbox (dealer_code, status);
-- LIM is recorded once per lead, however often the lead is read.
CREATE UNIQUE INDEX trigger_outbox_lim_once_idx ON gmcrm.trigger_outbox (lead_id)
    WHERE trigger_code = 'LIM';

-- ---------------------------------------------------------------------------------------------
-- Leads that could not become contacts, with a reason a person can act on.
CREATE TABLE gmcrm.lead_quarantine (
    lead_id       text PRIMARY KEY,
    dealer_code   text,
    reason_code   text NOT NULL,
    reason        text NOT NULL,
    raw_record    jsonb NOT NULL,
    gm_modstamp   timestamptz,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    times_seen    integer NOT NULL DEFAULT 1,
    -- Set when the lead changed at GM, became loadable and left quarantine.
    resolved_at   timestamptz
);
CREATE INDEX lead_quarantine_open_idx ON gmcrm.lead_quarantine (dealer_code) WHERE resolved_at IS NULL;
