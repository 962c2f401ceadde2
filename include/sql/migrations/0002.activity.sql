-- Activity: the DMS catalogues (contact forms, reasons, vehicle models) and activity tables
-- (contact actions, test drives, proposals, invoices, service appointments, counter-service items),
-- the trigger catalogue, the capture triggers that write gmcrm.trigger_outbox in the same transaction
-- as the DMS change, the closing rules, and contact distribution.
-- Rules: ../shared/spec/triggers.md and dms.md. The catalogue's data lives in
-- plugins/gmcrm/config/triggers.yaml and is loaded into gmcrm.trigger_catalogue / gmcrm.gm_reason by
-- gmcrm.triggers.sync_catalogue(); nothing here duplicates it.
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
CREATE TRIGGER reason_touch BEFORE UPDATE ON dms.reason
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

-- The foreign key alone would accept a GM reason that GM has withdrawn, and its message names no fix.
CREATE FUNCTION dms.reason_check_gm_reason() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.gm_reason IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM gmcrm.gm_reason g WHERE g.code = NEW.gm_reason AND g.active) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'GMC03',
                MESSAGE = format('Motivo no CRM %L não está na lista da GM (motivo %s da revenda %s) / '
                                 'GM reason %L is not in GM''s list',
                                 NEW.gm_reason, NEW.code, NEW.dealer_code, NEW.gm_reason),
                HINT = 'Use one of: ' || coalesce((SELECT string_agg(code, ', ' ORDER BY position)
                                                   FROM gmcrm.gm_reason WHERE active), '(none loaded)');
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER reason_gm_reason_check BEFORE INSERT OR UPDATE OF gm_reason ON dms.reason
    FOR EACH ROW EXECUTE FUNCTION dms.reason_check_gm_reason();

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
CREATE TRIGGER test_drive_touch BEFORE UPDATE ON dms.test_drive
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

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
CREATE TRIGGER proposal_touch BEFORE UPDATE ON dms.proposal
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

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
CREATE TRIGGER invoice_touch BEFORE UPDATE ON dms.invoice
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

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
CREATE TRIGGER service_appointment_touch BEFORE UPDATE ON dms.service_appointment
    FOR EACH ROW EXECUTE FUNCTION gmcrm.touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Recording a trigger.

-- Records trigger p_code for a contact, once per step of the catalogue row, when the contact came
-- from a live GM lead and the catalogue says the trigger applies to its lead type from that source.
-- Returns the number of outbox rows written (0 when nothing applies). Usable by any DMS screen or
-- import code (LIM, LAT): it is the single place that decides.
-- p_source is a source key of the catalogue's `sources` ('contact_action', 'proposal',
-- 'invoice:VEHICLE', ...); a key 'table:qualifier' also matches an entry for 'table'.
CREATE FUNCTION gmcrm.record_trigger(
    p_code               text,
    p_contact_id         bigint,
    p_source             text,
    p_source_table       text,
    p_source_id          bigint,
    p_contact_form_id    bigint DEFAULT NULL,
    p_reason_id          bigint DEFAULT NULL,
    p_vehicle_model_id   bigint DEFAULT NULL,
    p_vehicle_model_year text DEFAULT NULL,
    p_trade_in           jsonb DEFAULT NULL,
    p_user_id            bigint DEFAULT NULL
) RETURNS integer
    LANGUAGE plpgsql
    AS $$
    DECLARE
        c        record;
        cat      gmcrm.trigger_catalogue%ROWTYPE;
        allowed  jsonb;
        written  integer := 0;
        one      integer;
    BEGIN
        SELECT ct.dealer_code, ct.lead_id, ct.lead_type, ct.gm_deleted_at INTO c
        FROM dms.contact ct WHERE ct.id = p_contact_id;
        -- Contacts the dealership created itself never tell GM anything; nor do leads GM deleted.
        IF NOT FOUND OR c.lead_id IS NULL OR c.gm_deleted_at IS NOT NULL THEN
            RETURN 0;
        END IF;

        SELECT * INTO cat FROM gmcrm.trigger_catalogue t WHERE t.code = p_code;
        IF NOT FOUND THEN
            -- An empty catalogue is a deployment mistake: refuse loudly rather than lose events.
            -- A loaded catalogue without this code means GM no longer wants it.
            IF NOT EXISTS (SELECT 1 FROM gmcrm.trigger_catalogue) THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'GMC09',
                    MESSAGE = 'gmcrm.trigger_catalogue está vazio: os gatilhos da GM não podem ser registrados / '
                              'the trigger catalogue is empty, GM triggers cannot be recorded',
                    HINT = 'Load it from plugins/gmcrm/config/triggers.yaml with '
                           'gmcrm.triggers.sync_catalogue(conn) (run after every schema upgrade).';
            END IF;
            RETURN 0;
        END IF;

        IF c.lead_type IS NULL OR NOT (c.lead_type = ANY (cat.lead_types)) THEN
            RETURN 0;
        END IF;
        IF cat.sources IS NOT NULL THEN
            allowed := coalesce(cat.sources -> p_source, cat.sources -> split_part(p_source, ':', 1));
            IF allowed IS NULL OR NOT (allowed ? c.lead_type) THEN
                RETURN 0;
            END IF;
        END IF;
        IF cat.contact_form_types IS NOT NULL
           AND coalesce(NOT (dms.contact_form_type(p_contact_form_id) = ANY (cat.contact_form_types)), true) THEN
            RETURN 0;
        END IF;

        FOR s IN 1 .. cat.step_count LOOP
            INSERT INTO gmcrm.trigger_outbox (
                dealer_code, lead_id, contact_id, trigger_code, step, occurred_at,
                contact_form_id, reason_id, vehicle_model_id, vehicle_model_year, trade_in, user_id,
                source_table, source_id)
            VALUES (
                c.dealer_code, c.lead_id, p_contact_id, p_code, s, clock_timestamp(),
                p_contact_form_id, p_reason_id, p_vehicle_model_id, p_vehicle_model_year, p_trade_in,
                p_user_id, p_source_table, p_source_id)
            -- LIM is unique per lead (0001): a re-import records it once.
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS one = ROW_COUNT;
            written := written + one;
        END LOOP;
        RETURN written;
    END
    $$;

-- The contact is being worked: leaves the salesperson's queue. Applies to every contact (the
-- status is the DMS's own), not only to leads.
CREATE FUNCTION dms.mark_contact_in_progress(p_contact_id bigint) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE dms.contact SET status = 'IN_PROGRESS' WHERE id = p_contact_id AND status = 'IN_QUEUE'
    $$;

CREATE FUNCTION dms.mark_contact_closed(p_contact_id bigint, p_status text) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE dms.contact SET status = p_status
    WHERE id = p_contact_id AND status IS DISTINCT FROM p_status
    $$;

CREATE FUNCTION dms.contact_form_type(p_contact_form_id bigint) RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT type FROM dms.contact_form WHERE id = p_contact_form_id $$;

-- ---------------------------------------------------------------------------------------------
-- Closing rules (triggers.md "Closing a lead"). They apply to contacts of live GM leads: that is
-- what keeps the lead from being closed in the DMS while it stays open at GM.

CREATE FUNCTION dms.assert_lost_has_reason(p_contact_id bigint, p_reason_id bigint, p_what text)
    RETURNS void
    LANGUAGE plpgsql
    AS $$
    DECLARE
        c record;
    BEGIN
        IF p_reason_id IS NOT NULL THEN
            RETURN;
        END IF;
        SELECT ct.lead_id, ct.lead_type INTO c FROM dms.contact ct
        WHERE ct.id = p_contact_id AND ct.lead_id IS NOT NULL AND ct.gm_deleted_at IS NULL;
        IF FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'GMC02',
                MESSAGE = format('Lead GM não pode ser fechado como perdido sem motivo (%s; contato %s, Lead ID %s): '
                                 'informe o motivo na aba Venda Perdida / a GM lead cannot be closed as lost '
                                 'without a reason: give the lost-sale reason',
                                 p_what, p_contact_id, c.lead_id),
                DETAIL = format('lead type %s; nothing was recorded', c.lead_type),
                HINT = 'Repeat the action with a lost-sale reason (motivo de venda perdida); '
                       'GM receives the reason''s "Motivo no CRM".';
        END IF;
    END
    $$;

CREATE FUNCTION dms.contact_action_rules() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        c record;
    BEGIN
        SELECT ct.lead_id, ct.lead_type, ct.contact_form_id, ct.gm_deleted_at INTO c
        FROM dms.contact ct WHERE ct.id = NEW.contact_id;
        -- A contact registered without a form takes the contact's own (manual: the form is required).
        IF NEW.kind = 'CONTACT' AND NEW.contact_form_id IS NULL THEN
            NEW.contact_form_id := c.contact_form_id;
        END IF;

        IF NEW.kind = 'CLOSING' AND NEW.result = 'WON' AND c.lead_id IS NOT NULL AND c.gm_deleted_at IS NULL
           AND c.lead_type IN ('NEW_VEHICLE', 'USED_VEHICLE', 'SERVICE', 'PARTS') THEN
            RAISE EXCEPTION USING
                ERRCODE = 'GMC01',
                MESSAGE = format('Lead GM de %s não pode ser fechado como ganho por uma providência (contato %s, '
                                 'Lead ID %s): registre a venda perdida com um motivo, ou conclua a venda pelo '
                                 'faturamento / a %s GM lead cannot be closed as won by a contact action: register '
                                 'a lost sale with a reason, or complete the sale through its invoice',
                                 c.lead_type, NEW.contact_id, c.lead_id, c.lead_type),
                DETAIL = 'Closing it as won here would close the contact in the DMS and leave the lead open at GM; '
                         'nothing was recorded.',
                HINT = 'Only after-sales leads are closed as won by a contact action.';
        END IF;

        IF (NEW.kind = 'CLOSING' AND NEW.result = 'LOST') OR NEW.kind IN ('LOST_SALE', 'DISCARD', 'INACTIVATION') THEN
            PERFORM dms.assert_lost_has_reason(NEW.contact_id, NEW.reason_id,
                                               lower(NEW.kind) || coalesce(' ' || lower(NEW.result), ''));
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER contact_action_rules BEFORE INSERT OR UPDATE ON dms.contact_action
    FOR EACH ROW EXECUTE FUNCTION dms.contact_action_rules();

CREATE FUNCTION dms.proposal_rules() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NEW.contact_form_id IS NULL THEN
            NEW.contact_form_id := (SELECT ct.contact_form_id FROM dms.contact ct WHERE ct.id = NEW.contact_id);
        END IF;
        -- Rejecting or cancelling a proposal registers a lost sale: it needs a reason.
        IF NEW.approval_state IN ('REJECTED', 'CANCELLED')
           AND (TG_OP = 'INSERT' OR OLD.approval_state IS DISTINCT FROM NEW.approval_state) THEN
            PERFORM dms.assert_lost_has_reason(NEW.contact_id, NEW.reason_id,
                                               'proposal ' || lower(NEW.approval_state));
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER proposal_rules BEFORE INSERT OR UPDATE ON dms.proposal
    FOR EACH ROW EXECUTE FUNCTION dms.proposal_rules();

CREATE FUNCTION dms.parts_counter_service_rules() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        -- Cancel (230) registers a parts lost sale: it needs a reason.
        IF NEW.status = 'CANCELLED' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
            PERFORM dms.assert_lost_has_reason(NEW.contact_id, NEW.reason_id, 'counter service cancelled (230)');
            NEW.cancelled_at := coalesce(NEW.cancelled_at, clock_timestamp());
        END IF;
        IF TG_OP = 'UPDATE' THEN
            NEW.updated_at := now();
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER parts_counter_service_rules BEFORE INSERT OR UPDATE ON dms.parts_counter_service
    FOR EACH ROW EXECUTE FUNCTION dms.parts_counter_service_rules();

CREATE FUNCTION dms.invoice_fill() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.contact_id IS NULL THEN
            NEW.contact_id := coalesce(
                (SELECT p.contact_id FROM dms.proposal p WHERE p.id = NEW.proposal_id),
                (SELECT s.contact_id FROM dms.parts_counter_service s WHERE s.id = NEW.parts_counter_service_id));
        END IF;
        IF NEW.status = 'ISSUED' THEN
            NEW.issued_at := coalesce(NEW.issued_at, clock_timestamp());
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER invoice_fill BEFORE INSERT OR UPDATE ON dms.invoice
    FOR EACH ROW EXECUTE FUNCTION dms.invoice_fill();

-- ---------------------------------------------------------------------------------------------
-- Capture triggers: DMS change -> outbox rows, in the same transaction. Which DMS action records
-- which code is decided here (triggers.md, column "DMS action"); whether it applies to the
-- contact's lead type, how many steps it has and everything GM sees comes from the catalogue.

-- Providências: CRE (+ VRE in person, after sales), CNR, NFF (after sales won), VPE.
CREATE FUNCTION dms.capture_contact_action() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'contact_action';
        tbl constant text := 'dms.contact_action';
    BEGIN
        IF NEW.kind = 'CONTACT' THEN
            PERFORM dms.mark_contact_in_progress(NEW.contact_id);
            PERFORM gmcrm.record_trigger('CRE', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
            -- Then the showroom visit, which the catalogue limits to in-person forms (and after sales).
            PERFORM gmcrm.record_trigger('VRE', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
        ELSIF NEW.kind = 'NO_CONTACT' THEN
            PERFORM dms.mark_contact_in_progress(NEW.contact_id);
            PERFORM gmcrm.record_trigger('CNR', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_reason_id => NEW.reason_id,
                                         p_user_id => NEW.user_id);
        ELSIF NEW.kind = 'CLOSING' AND NEW.result = 'WON' THEN
            PERFORM dms.mark_contact_closed(NEW.contact_id, 'CLOSED_WON');
            PERFORM gmcrm.record_trigger('NFF', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
        ELSIF NEW.kind IN ('CLOSING', 'LOST_SALE', 'DISCARD', 'INACTIVATION') THEN
            PERFORM dms.mark_contact_closed(NEW.contact_id, 'CLOSED_LOST');
            PERFORM gmcrm.record_trigger('VPE', NEW.contact_id, src, tbl, NEW.id,
                                         p_reason_id => NEW.reason_id, p_user_id => NEW.user_id);
        END IF;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER contact_action_capture AFTER INSERT ON dms.contact_action
    FOR EACH ROW EXECUTE FUNCTION dms.capture_contact_action();

-- Test drives: TDA scheduled, TDR done, TDE a scheduled one deleted.
CREATE FUNCTION dms.capture_test_drive() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'test_drive';
        tbl constant text := 'dms.test_drive';
        r   dms.test_drive%ROWTYPE;
        code text;
    BEGIN
        IF TG_OP = 'DELETE' THEN
            r := OLD;
            code := CASE WHEN OLD.status = 'SCHEDULED' THEN 'TDE' END;
        ELSE
            r := NEW;
            IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
                code := CASE NEW.status WHEN 'SCHEDULED' THEN 'TDA' WHEN 'DONE' THEN 'TDR' END;
            END IF;
            PERFORM dms.mark_contact_in_progress(NEW.contact_id);
        END IF;
        IF code IS NOT NULL THEN
            PERFORM gmcrm.record_trigger(code, r.contact_id, src, tbl, r.id,
                                         p_vehicle_model_id => r.vehicle_model_id, p_user_id => r.user_id);
        END IF;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER test_drive_capture AFTER INSERT OR UPDATE OR DELETE ON dms.test_drive
    FOR EACH ROW EXECUTE FUNCTION dms.capture_test_drive();

-- The trade-in of a proposal as the outbox carries it: a snapshot taken when it is attached, so a
-- later edit does not rewrite what an earlier event said. The version (TRIN) comes from the
-- model's version field when the appraisal names a catalogue model.
CREATE FUNCTION dms.proposal_trade_in(p dms.proposal) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN p.trade_in_model_id IS NULL AND p.trade_in_model IS NULL THEN NULL ELSE
        jsonb_build_object(
            'model_id', p.trade_in_model_id,
            'model', coalesce(vm.description, p.trade_in_model),
            'model_year', coalesce(p.trade_in_model_year, vm.model_year),
            'trim', coalesce(vm.version, p.trade_in_version),
            'mileage', p.trade_in_mileage,
            'plate', p.trade_in_plate,
            'value', p.trade_in_value)
    END
    FROM (SELECT 1) AS one
    LEFT JOIN dms.vehicle_model vm ON vm.id = p.trade_in_model_id
    $$;

-- Proposals: VRE (in person) + PAB when saved; IMA vehicle changed; VTA trade-in attached;
-- PEA sent for approval; PAP approved; VPE rejected or cancelled. Order within one save:
-- showroom visit, opened, vehicle, trade-in, then the approval step.
CREATE FUNCTION dms.capture_proposal() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'proposal';
        tbl constant text := 'dms.proposal';
        year text;
        trade jsonb;
        old_trade jsonb;
    BEGIN
        year := coalesce(NEW.vehicle_model_year,
                         (SELECT vm.model_year FROM dms.vehicle_model vm WHERE vm.id = NEW.vehicle_model_id));
        trade := dms.proposal_trade_in(NEW);
        PERFORM dms.mark_contact_in_progress(NEW.contact_id);

        IF TG_OP = 'INSERT' THEN
            -- A showroom visit when saved with an in-person form (the catalogue checks the form's type).
            PERFORM gmcrm.record_trigger('VRE', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
            PERFORM gmcrm.record_trigger('PAB', NEW.contact_id, src, tbl, NEW.id,
                                         p_contact_form_id => NEW.contact_form_id,
                                         p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                         p_user_id => NEW.user_id);
        ELSE
            -- Saved again in person after being opened otherwise: the customer came to the showroom.
            IF NEW.contact_form_id IS DISTINCT FROM OLD.contact_form_id THEN
                PERFORM gmcrm.record_trigger('VRE', NEW.contact_id, src, tbl, NEW.id,
                                             p_contact_form_id => NEW.contact_form_id, p_user_id => NEW.user_id);
            END IF;
            IF (NEW.vehicle_model_id, NEW.vehicle_model_year) IS DISTINCT FROM (OLD.vehicle_model_id, OLD.vehicle_model_year)
               AND NEW.vehicle_model_id IS NOT NULL THEN
                PERFORM gmcrm.record_trigger('IMA', NEW.contact_id, src, tbl, NEW.id,
                                             p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                             p_user_id => NEW.user_id);
            END IF;
        END IF;

        IF TG_OP = 'UPDATE' THEN
            old_trade := dms.proposal_trade_in(OLD);
        END IF;
        IF trade IS NOT NULL AND trade IS DISTINCT FROM old_trade THEN
            PERFORM gmcrm.record_trigger('VTA', NEW.contact_id, src, tbl, NEW.id,
                                         p_trade_in => trade, p_user_id => NEW.user_id);
        END IF;

        IF TG_OP = 'INSERT' OR NEW.approval_state IS DISTINCT FROM OLD.approval_state THEN
            IF NEW.approval_state = 'SENT_FOR_APPROVAL' THEN
                PERFORM gmcrm.record_trigger('PEA', NEW.contact_id, src, tbl, NEW.id,
                                             p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                             p_user_id => NEW.user_id);
            ELSIF NEW.approval_state = 'APPROVED' THEN
                PERFORM gmcrm.record_trigger('PAP', NEW.contact_id, src, tbl, NEW.id,
                                             p_vehicle_model_id => NEW.vehicle_model_id, p_vehicle_model_year => year,
                                             p_user_id => NEW.user_id);
            ELSIF NEW.approval_state IN ('REJECTED', 'CANCELLED') THEN
                PERFORM dms.mark_contact_closed(NEW.contact_id, 'CLOSED_LOST');
                PERFORM gmcrm.record_trigger('VPE', NEW.contact_id, src, tbl, NEW.id,
                                             p_reason_id => NEW.reason_id, p_user_id => NEW.user_id);
            END IF;
        END IF;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER proposal_capture AFTER INSERT OR UPDATE ON dms.proposal
    FOR EACH ROW EXECUTE FUNCTION dms.capture_proposal();

-- Invoices: a vehicle invoice sent to the cashier confirms the sale (PAP again); any invoice issued
-- is NFF. The source key carries the kind, so the catalogue decides which lead types each kind
-- delivers (a service invoice does not deliver a vehicle lead).
CREATE FUNCTION dms.capture_invoice() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src text := 'invoice:' || NEW.kind;
        tbl constant text := 'dms.invoice';
        model_id bigint;
        year text;
        code text;
    BEGIN
        IF NEW.contact_id IS NULL OR (TG_OP = 'UPDATE' AND NOT (OLD.status IS DISTINCT FROM NEW.status)) THEN
            RETURN NULL;
        END IF;
        SELECT coalesce(NEW.vehicle_model_id, p.vehicle_model_id) INTO model_id
        FROM (SELECT 1) AS one LEFT JOIN dms.proposal p ON p.id = NEW.proposal_id;
        -- The year: the invoice's, else the proposal's (when the vehicle is the proposal's), else the model's.
        year := coalesce(NEW.model_year,
                         CASE WHEN NEW.vehicle_model_id IS NULL THEN
                             (SELECT p.vehicle_model_year FROM dms.proposal p WHERE p.id = NEW.proposal_id) END,
                         (SELECT vm.model_year FROM dms.vehicle_model vm WHERE vm.id = model_id));
        code := CASE
            WHEN NEW.status = 'SENT_TO_CASHIER' AND NEW.kind = 'VEHICLE' THEN 'PAP'
            WHEN NEW.status = 'ISSUED' THEN 'NFF'
        END;
        IF NEW.status = 'ISSUED' THEN
            PERFORM dms.mark_contact_closed(NEW.contact_id, 'CLOSED_WON');
        END IF;
        IF code IS NOT NULL THEN
            PERFORM gmcrm.record_trigger(code, NEW.contact_id, src, tbl, NEW.id,
                                         p_vehicle_model_id => model_id, p_vehicle_model_year => year,
                                         p_user_id => NEW.user_id);
        END IF;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER invoice_capture AFTER INSERT OR UPDATE ON dms.invoice
    FOR EACH ROW EXECUTE FUNCTION dms.capture_invoice();

-- Service appointments: ACO when saved as (or changed to) type AE; its catalogue row has two steps.
CREATE FUNCTION dms.capture_service_appointment() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM dms.mark_contact_in_progress(NEW.contact_id);
        IF upper(btrim(NEW.type)) = 'AE'
           AND (TG_OP = 'INSERT' OR upper(btrim(OLD.type)) IS DISTINCT FROM 'AE') THEN
            PERFORM gmcrm.record_trigger('ACO', NEW.contact_id, 'service_appointment', 'dms.service_appointment',
                                         NEW.id, p_user_id => NEW.user_id);
        END IF;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER service_appointment_capture AFTER INSERT OR UPDATE ON dms.service_appointment
    FOR EACH ROW EXECUTE FUNCTION dms.capture_service_appointment();

-- Counter-service items: the first item ever added is the parts contact (CRE). first_item_at makes
-- it once, even for a multi-row insert or after items are removed and added again.
CREATE FUNCTION dms.capture_parts_counter_service_item() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        s record;
    BEGIN
        UPDATE dms.parts_counter_service pcs SET first_item_at = clock_timestamp()
        WHERE pcs.id = NEW.parts_counter_service_id AND pcs.first_item_at IS NULL
        RETURNING pcs.id, pcs.contact_id, pcs.salesperson_user_id, pcs.contact_form_id INTO s;
        IF FOUND THEN
            PERFORM dms.mark_contact_in_progress(s.contact_id);
            PERFORM gmcrm.record_trigger('CRE', s.contact_id, 'parts_counter_service', 'dms.parts_counter_service',
                                         s.id,
                                         p_contact_form_id => coalesce(s.contact_form_id,
                                             (SELECT ct.contact_form_id FROM dms.contact ct WHERE ct.id = s.contact_id)),
                                         p_user_id => s.salesperson_user_id);
        END IF;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER parts_counter_service_item_capture AFTER INSERT ON dms.parts_counter_service_item
    FOR EACH ROW EXECUTE FUNCTION dms.capture_parts_counter_service_item();

-- Counter service: PVR sent to the cashier; VPE cancelled (230) with its reason.
CREATE FUNCTION dms.capture_parts_counter_service() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
        src constant text := 'parts_counter_service';
        tbl constant text := 'dms.parts_counter_service';
    BEGIN
        IF TG_OP = 'UPDATE' AND NOT (OLD.status IS DISTINCT FROM NEW.status) THEN
            RETURN NULL;
        END IF;
        IF NEW.status = 'SENT_TO_CASHIER' THEN
            PERFORM gmcrm.record_trigger('PVR', NEW.contact_id, src, tbl, NEW.id,
                                         p_user_id => NEW.salesperson_user_id);
        ELSIF NEW.status = 'CANCELLED' THEN
            PERFORM dms.mark_contact_closed(NEW.contact_id, 'CLOSED_LOST');
            PERFORM gmcrm.record_trigger('VPE', NEW.contact_id, src, tbl, NEW.id,
                                         p_reason_id => NEW.reason_id, p_user_id => NEW.salesperson_user_id);
        END IF;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER parts_counter_service_capture AFTER INSERT OR UPDATE ON dms.parts_counter_service
    FOR EACH ROW EXECUTE FUNCTION dms.capture_parts_counter_service();

-- ---------------------------------------------------------------------------------------------
-- Distribution (manual: "Distribuir Contatos"): selected contacts awaiting distribution go to the
-- selected users, spread evenly (round-robin in contact id order, users in the order given).
-- Each goes to IN_QUEUE with its user, records LAT (lead contacts), and a parts contact gets its
-- counter service in the salesperson's name and an internal mail telling the salesperson.
CREATE FUNCTION dms.distribute_contacts(p_contact_ids bigint[], p_user_ids bigint[])
    RETURNS TABLE (contact_id bigint, user_id bigint)
    LANGUAGE plpgsql
    AS $$
    #variable_conflict use_column
    DECLARE
        users   bigint[];
        n_users integer;
        bad     text;
        dealers text[];
        r       record;
        i       integer := 0;
        pcs_id  bigint;
    BEGIN
        -- Users in the order given, each once.
        SELECT array_agg(u ORDER BY first_pos) INTO users
        FROM (SELECT u, min(pos) AS first_pos
              FROM unnest(p_user_ids) WITH ORDINALITY AS t(u, pos) WHERE u IS NOT NULL GROUP BY u) AS d;
        n_users := coalesce(array_length(users, 1), 0);
        IF coalesce(array_length(p_contact_ids, 1), 0) = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC10',
                MESSAGE = 'Nenhum contato selecionado para distribuir / no contact selected to distribute';
        END IF;
        IF n_users = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC11',
                MESSAGE = 'Nenhum usuário selecionado para receber os contatos / no user selected to receive the contacts';
        END IF;

        -- Lock the selection so two people distributing at once cannot both hand out a contact.
        PERFORM 1 FROM dms.contact ct WHERE ct.id = ANY (p_contact_ids) ORDER BY ct.id FOR UPDATE;

        SELECT string_agg(format('%s (%s)', sel.id, coalesce(ct.status, 'não existe / does not exist')), ', '
                          ORDER BY sel.id)
        INTO bad
        FROM (SELECT DISTINCT unnest(p_contact_ids) AS id) AS sel
        LEFT JOIN dms.contact ct ON ct.id = sel.id
        WHERE ct.status IS DISTINCT FROM 'AWAITING_DISTRIBUTION';
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC10',
                MESSAGE = 'Contatos que não aguardam distribuição / contacts not awaiting distribution: ' || bad,
                HINT = 'Select only contacts in status AWAITING_DISTRIBUTION; nothing was distributed.';
        END IF;

        SELECT array_agg(DISTINCT ct.dealer_code) INTO dealers FROM dms.contact ct WHERE ct.id = ANY (p_contact_ids);
        SELECT string_agg(format('%s (%s)', sel.id,
                                 CASE WHEN u.id IS NULL THEN 'não existe / does not exist'
                                      WHEN NOT u.active THEN 'inativo / inactive'
                                      ELSE 'revenda / dealership ' || u.dealer_code END), ', ' ORDER BY sel.id)
        INTO bad
        FROM unnest(users) AS sel(id)
        LEFT JOIN dms.app_user u ON u.id = sel.id
        WHERE u.id IS NULL OR NOT u.active OR NOT (u.dealer_code = ANY (dealers))
           OR array_length(dealers, 1) > 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC11',
                MESSAGE = format('Usuários inválidos para contatos da revenda %s / users that cannot receive '
                                 'contacts of dealership %s: %s',
                                 array_to_string(dealers, ', '), array_to_string(dealers, ', '), bad),
                HINT = 'Pick active users of the contacts'' own dealership, and contacts of one dealership at a time; '
                       'nothing was distributed.';
        END IF;

        FOR r IN
            SELECT ct.id, ct.dealer_code, ct.customer_id, ct.lead_id, ct.lead_type, ct.contact_form_id,
                   cu.name AS customer_name
            FROM dms.contact ct JOIN dms.customer cu ON cu.id = ct.customer_id
            WHERE ct.id = ANY (p_contact_ids)
            ORDER BY ct.id
        LOOP
            contact_id := r.id;
            user_id := users[(i % n_users) + 1];
            i := i + 1;

            -- The department follows the receiving user, except for used vehicles, whose department
            -- comes from the settings (dms.md).
            UPDATE dms.contact ct
            SET status = 'IN_QUEUE',
                assigned_user_id = user_id,
                department_id = CASE WHEN ct.lead_type = 'USED_VEHICLE' THEN ct.department_id
                                     ELSE coalesce((SELECT u.department_id FROM dms.app_user u WHERE u.id = user_id),
                                                   ct.department_id) END
            WHERE ct.id = r.id;

            PERFORM gmcrm.record_trigger('LAT', r.id, 'distribution', 'dms.contact', r.id, p_user_id => user_id);

            IF r.lead_type = 'PARTS' THEN
                INSERT INTO dms.parts_counter_service AS s
                    (dealer_code, contact_id, customer_id, salesperson_user_id, contact_form_id)
                VALUES (r.dealer_code, r.id, r.customer_id, user_id, r.contact_form_id)
                ON CONFLICT (contact_id) DO UPDATE SET salesperson_user_id = EXCLUDED.salesperson_user_id
                    WHERE s.status = 'OPEN'
                RETURNING s.id INTO pcs_id;
                IF pcs_id IS NULL THEN
                    SELECT s.id INTO pcs_id FROM dms.parts_counter_service s WHERE s.contact_id = r.id;
                END IF;
                INSERT INTO dms.internal_mail (dealer_code, to_user_id, contact_id, subject, body)
                VALUES (r.dealer_code, user_id, r.id,
                        format('Novo atendimento balcão %s: contato %s (Lead GM de peças)', pcs_id, r.id),
                        format('O contato %s de %s foi distribuído para você. Foi gerado o atendimento balcão %s '
                               'na sua fila (Peças > Atendimento Balcão); chame-o pelo número do contato.%s',
                               r.id, r.customer_name, pcs_id,
                               coalesce(' Lead ID GM: ' || r.lead_id || '.', '')));
            END IF;
            RETURN NEXT;
        END LOOP;
    END
    $$;

-- Distribution to the active users of the contacts' dealership picked by sales team and/or seller
-- origin (the filters of the manual's user selection); NULL filters match everyone.
CREATE FUNCTION dms.distribute_contacts_by(
    p_contact_ids   bigint[],
    p_sales_team    text DEFAULT NULL,
    p_seller_origin text DEFAULT NULL
) RETURNS TABLE (contact_id bigint, user_id bigint)
    LANGUAGE plpgsql
    AS $$
    #variable_conflict use_column
    DECLARE
        dealers text[];
        users   bigint[];
    BEGIN
        SELECT array_agg(DISTINCT ct.dealer_code) INTO dealers FROM dms.contact ct WHERE ct.id = ANY (p_contact_ids);
        IF coalesce(array_length(dealers, 1), 0) <> 1 THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC10',
                MESSAGE = format('Distribua contatos de uma revenda por vez / distribute contacts of one dealership '
                                 'at a time (found: %s)', coalesce(array_to_string(dealers, ', '), 'none'));
        END IF;
        SELECT array_agg(u.id ORDER BY u.id) INTO users
        FROM dms.app_user u
        WHERE u.dealer_code = dealers[1] AND u.active
          AND (p_sales_team IS NULL OR u.sales_team = p_sales_team)
          AND (p_seller_origin IS NULL OR u.seller_origin = p_seller_origin);
        IF users IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'GMC11',
                MESSAGE = format('Nenhum usuário ativo da revenda %s com time de vendas %s e origem %s / no active '
                                 'user matches', dealers[1], coalesce(p_sales_team, '(qualquer)'),
                                 coalesce(p_seller_origin, '(qualquer)'));
        END IF;
        RETURN QUERY SELECT d.contact_id, d.user_id FROM dms.distribute_contacts(p_contact_ids, users) AS d;
    END
    $$;
