-- Activity: the DMS catalogues (contact forms, reasons, vehicle models) and activity tables
-- (contact actions, test drives, proposals, invoices, service appointments, counter-service items),
-- the trigger catalogue, the capture triggers that write gmcrm.trigger_outbox in the same transaction
-- as the DMS change, the closing rules, and contact distribution.
-- Its functions and triggers (capture, closing rules, distribution, record_trigger) are in
-- include/sql/routines/ (gmcrm.migrate applies them after the migrations).
-- Rules: ../shared/spec/triggers.md and dms.md. The catalogue's data lives in
-- plugins/gmcrm/config/triggers.yaml and is loaded into gmcrm.trigger_catalogue / gmcrm.gm_reason by
-- gmcrm.catalogue.sync_catalogue(); nothing here duplicates it.
--
-- SQLSTATEs raised here (callers recognise them by exc.sqlstate):
--   GMC01  a vehicle/service/parts lead closed as won by a contact action (closing rule)
--   GMC02  a lead closed as lost (or a lost sale / discard / inactivation / cancellation) without a reason
--   GMC03  a reason mapped to a "Motivo no CRM" that is not in GM's list
--   GMC09  the trigger catalogue was never loaded
--   GMC10  distribution refused: contacts not awaiting distribution
--   GMC11  distribution refused: users missing, inactive or of another dealership
-- depends: 0001.foundation

-- ---------------------------------------------------------------------------------------------
-- What the integration owns: GM's reason list and the trigger catalogue (filled from YAML).

-- GM's fixed list of lost-sale reasons ("Motivo no CRM"). Reasons dropped from the YAML are kept
-- inactive rather than deleted, so DMS reasons that point at them stay valid rows; the payload
-- builder refuses to send them.
CREATE TABLE gmcrm.gm_reason (
    code       text PRIMARY KEY,
    active     boolean NOT NULL DEFAULT true,
    position   integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per trigger of triggers.md. The capture triggers read lead_types, sources, contact_form_types
-- and step_count; the other columns are there for people (and the lead log) to read.
CREATE TABLE gmcrm.trigger_catalogue (
    code          text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    name          text NOT NULL,
    action        text,
    communication text NOT NULL,
    stage         text,
    substage      text,
    -- 'contact_form' (CRE) or 'gm_reason' (VPE): the substage is decided when the event is sent.
    substage_from text,
    lead_types    text[] NOT NULL,
    -- Which DMS source (screen/table) may record it for which lead types, when that differs per
    -- source: {"<source key>": [lead types]}. NULL: any source, for every lead type above.
    sources       jsonb,
    -- Recorded only when the contact form used has one of these types (VRE: IN_PERSON). NULL: any.
    contact_form_types text[],
    -- One DMS action may record several events, in order (ACO: 2); each is an outbox row with its step.
    step_count    smallint NOT NULL DEFAULT 1 CHECK (step_count >= 1),
    -- by_lead_type / steps overrides of stage and substage, as loaded from the YAML.
    variants      jsonb NOT NULL DEFAULT '{}'::jsonb,
    carries       text[] NOT NULL DEFAULT '{}',
    notes         text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- DMS catalogues.

-- Formas de contato (CRM Plus > Cadastros > Formas de Contato). Only `type` decides the substage.
CREATE TABLE dms.contact_form (
    id                 bigserial PRIMARY KEY,
    dealer_code        text NOT NULL,
    name               text NOT NULL,
    type               text CHECK (type IN ('EMAIL', 'PHONE', 'IN_PERSON')),
    -- 1 in person, 2 not in person (internet), 3 not in person (call centre).
    presence_indicator smallint CHECK (presence_indicator IN (1, 2, 3)),
    active             boolean NOT NULL DEFAULT true,
    UNIQUE (dealer_code, name)
);

-- 0001 left dms.contact.contact_form_id without a target; it has one now.
ALTER TABLE dms.contact
    ADD CONSTRAINT contact_contact_form_fk FOREIGN KEY (contact_form_id) REFERENCES dms.contact_form (id);

-- Motivos (Configuração > Cadastros > Motivos). The DMS has more reason types than GM cares about;
-- config/triggers.yaml lists the ones that need a GM reason (V, P, W, CAA_LOST, CAA_DISCARD,
-- CAA_INACTIVATION, AFTER_SALES_LOST).
CREATE TABLE dms.reason (
    id          bigserial PRIMARY KEY,
    dealer_code text NOT NULL,
    code        text NOT NULL,
    description text NOT NULL,
    reason_type text NOT NULL CHECK (reason_type ~ '^[A-Z][A-Z_]{0,29}$'),
    -- "Motivo no CRM": one of GM's reasons. Nullable: an unmapped reason is stored, and a VPE that
    -- uses it waits (failed, with a message) until someone maps it.
    gm_reason   text REFERENCES gmcrm.gm_reason (code) ON UPDATE CASCADE,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dealer_code, code)
);

-- Modelos (Manutenção de modelos): description is the model only ('Onix'); version is the TRIN
-- ('1.0 Turbo Premier'), sent to GM apart from the model.
CREATE TABLE dms.vehicle_model (
    id          bigserial PRIMARY KEY,
    dealer_code text NOT NULL,
    code        text NOT NULL,
    description text NOT NULL,
    version     text,
    model_year  text CHECK (model_year ~ '^[0-9]{4}$'),
    active      boolean NOT NULL DEFAULT true,
    UNIQUE (dealer_code, code)
);

-- ---------------------------------------------------------------------------------------------
-- DMS activity.

-- Providências. kind is the manual's situation; result is the closing result ("Fechada" / "Perdido").
CREATE TABLE dms.contact_action (
    id              bigserial PRIMARY KEY,
    contact_id      bigint NOT NULL REFERENCES dms.contact (id),
    kind            text NOT NULL
        CHECK (kind IN ('CONTACT', 'NO_CONTACT', 'FOLLOW_UP', 'CLOSING', 'LOST_SALE', 'DISCARD', 'INACTIVATION')),
    result          text CHECK (result IN ('WON', 'LOST')),
    contact_form_id bigint REFERENCES dms.contact_form (id),
    reason_id       bigint REFERENCES dms.reason (id),
    user_id         bigint REFERENCES dms.app_user (id),
    notes           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- A closing always has a result; nothing else has one.
    CONSTRAINT contact_action_closing_result_check CHECK ((kind = 'CLOSING') = (result IS NOT NULL))
);
CREATE INDEX contact_action_contact_idx ON dms.contact_action (contact_id);

CREATE TABLE dms.test_drive (
    id               bigserial PRIMARY KEY,
    contact_id       bigint NOT NULL REFERENCES dms.contact (id),
    vehicle_model_id bigint REFERENCES dms.vehicle_model (id),
    scheduled_at     timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'SCHEDULED' CHECK (status IN ('SCHEDULED', 'DONE')),
    done_at          timestamptz,
    user_id          bigint REFERENCES dms.app_user (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX test_drive_contact_idx ON dms.test_drive (contact_id);

-- Propostas de venda, with the used-vehicle appraisal taken as payment (trade-in).
CREATE TABLE dms.proposal (
    id                   bigserial PRIMARY KEY,
    contact_id           bigint NOT NULL REFERENCES dms.contact (id),
    -- Defaults to the contact's form (manual: the proposal is created with the contact's form).
    contact_form_id      bigint REFERENCES dms.contact_form (id),
    vehicle_model_id     bigint REFERENCES dms.vehicle_model (id),
    vehicle_model_year   text CHECK (vehicle_model_year ~ '^[0-9]{4}$'),
    price                numeric(14, 2),
    trade_in_model_id    bigint REFERENCES dms.vehicle_model (id),
    trade_in_model       text,
    trade_in_model_year  text CHECK (trade_in_model_year ~ '^[0-9]{4}$'),
    trade_in_version     text,
    trade_in_mileage     integer CHECK (trade_in_mileage >= 0),
    trade_in_plate       text,
    trade_in_value       numeric(14, 2) CHECK (trade_in_value >= 0),
    approval_state       text NOT NULL DEFAULT 'DRAFT'
        CHECK (approval_state IN ('DRAFT', 'SENT_FOR_APPROVAL', 'APPROVED', 'REJECTED', 'CANCELLED')),
    -- Why a proposal was rejected or cancelled (a lost sale).
    reason_id            bigint REFERENCES dms.reason (id),
    user_id              bigint REFERENCES dms.app_user (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proposal_contact_idx ON dms.proposal (contact_id);

-- Parts counter service (0001): its cancellation reason (230), the contact form it is worked with,
-- and when its first item was added (that is the parts contact, CRE, recorded once).
ALTER TABLE dms.parts_counter_service
    ADD COLUMN reason_id bigint REFERENCES dms.reason (id),
    ADD COLUMN contact_form_id bigint REFERENCES dms.contact_form (id),
    ADD COLUMN first_item_at timestamptz,
    ADD COLUMN cancelled_at timestamptz;

CREATE TABLE dms.parts_counter_service_item (
    id                       bigserial PRIMARY KEY,
    parts_counter_service_id bigint NOT NULL REFERENCES dms.parts_counter_service (id) ON DELETE CASCADE,
    part_code                text NOT NULL,
    description              text,
    quantity                 numeric(12, 3) NOT NULL DEFAULT 1 CHECK (quantity > 0),
    unit_price               numeric(14, 2) CHECK (unit_price >= 0),
    created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parts_counter_service_item_pcs_idx ON dms.parts_counter_service_item (parts_counter_service_id);

-- Notas fiscais: vehicle sale, service order (OS) or parts; sent to the cashier, then issued.
CREATE TABLE dms.invoice (
    id                       bigserial PRIMARY KEY,
    -- Filled from the proposal or counter service when not given.
    contact_id               bigint REFERENCES dms.contact (id),
    kind                     text NOT NULL CHECK (kind IN ('VEHICLE', 'SERVICE_ORDER', 'PARTS')),
    number                   text,
    status                   text NOT NULL DEFAULT 'SENT_TO_CASHIER' CHECK (status IN ('SENT_TO_CASHIER', 'ISSUED')),
    vehicle_model_id         bigint REFERENCES dms.vehicle_model (id),
    model_year               text CHECK (model_year ~ '^[0-9]{4}$'),
    proposal_id              bigint REFERENCES dms.proposal (id),
    parts_counter_service_id bigint REFERENCES dms.parts_counter_service (id),
    total                    numeric(14, 2),
    user_id                  bigint REFERENCES dms.app_user (id),
    issued_at                timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoice_contact_idx ON dms.invoice (contact_id);

-- Agendamentos de serviço; type 'AE' (Agendamento Efetivo) is the only one GM hears about.
CREATE TABLE dms.service_appointment (
    id            bigserial PRIMARY KEY,
    contact_id    bigint NOT NULL REFERENCES dms.contact (id),
    type          text NOT NULL,
    scheduled_for timestamptz NOT NULL,
    user_id       bigint REFERENCES dms.app_user (id),
    notes         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_appointment_contact_idx ON dms.service_appointment (contact_id);

-- ---------------------------------------------------------------------------------------------
-- What acts on these tables is in include/sql/routines/: recording a trigger (20), the closing rules
-- (24, 31-34), the capture triggers (40-47) and distribution (50-51).
