-- The least-privilege role the integration runs as (Airflow's dms_postgres connection, the gmcrm commands,
-- the UI pages): a NOLOGIN group role. The deployer creates the login user and grants it this role
-- (docs/deployment.md):  CREATE ROLE gmcrm_app LOGIN PASSWORD '...' IN ROLE gmcrm_integration;
-- Migrations and routines are applied by the schema's owner (`gmcrm db upgrade` with the owner's URL),
-- never by this role: it gets no DDL, no TRUNCATE, no ownership and no table it does not use.
-- Roles belong to the cluster, not the database: create it only once (several DMS databases may share a
-- server, as the tests do). The owner needs CREATEROLE for this, or a DBA creates the role beforehand.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmcrm_integration') THEN
        CREATE ROLE gmcrm_integration NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of the same server made it meanwhile (parallel test sessions do)
END
$$;

-- gmcrm: the integration's own schema (staging, outbox, send log, settings, quarantine, logs). It reads
-- and writes every table there, with no TRUNCATE, REFERENCES or TRIGGER. Tables a later migration adds get
-- the same (default privileges of the owner running the migrations).
GRANT USAGE ON SCHEMA gmcrm TO gmcrm_integration;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA gmcrm TO gmcrm_integration;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA gmcrm TO gmcrm_integration;
ALTER DEFAULT PRIVILEGES IN SCHEMA gmcrm GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gmcrm_integration;
ALTER DEFAULT PRIVILEGES IN SCHEMA gmcrm GRANT USAGE, SELECT ON SEQUENCES TO gmcrm_integration;

-- dms: the dealership's system. Table by table, only what the import, the send, the commands and the UI
-- pages touch (include/sql/queries, the import's routines and the triggers its writes fire, which run with
-- the writer's privileges). Nothing by default: a DMS table added later stays closed to the integration.
GRANT USAGE ON SCHEMA dms TO gmcrm_integration;
-- Catalogues it reads: users and departments (routing), contact types and forms, traffic origins,
-- vehicle models and lost-sale reasons (payloads, onboarding checks).
GRANT SELECT ON dms.app_user, dms.department, dms.contact_type, dms.contact_subtype, dms.contact_form,
    dms.traffic_origin, dms.vehicle_model TO gmcrm_integration;
-- Reasons: read, and `gmcrm reasons map` sets the GM reason of a DMS reason (that column only).
GRANT SELECT ON dms.reason TO gmcrm_integration;
GRANT UPDATE (gm_reason) ON dms.reason TO gmcrm_integration;
-- What the import creates and updates: customers, contacts, the distribution's internal mails and the
-- parts leads' counter services.
GRANT SELECT, INSERT, UPDATE ON dms.customer, dms.contact TO gmcrm_integration;
GRANT SELECT, INSERT ON dms.internal_mail, dms.parts_counter_service TO gmcrm_integration;
GRANT USAGE ON SEQUENCE dms.customer_id_seq, dms.contact_id_seq, dms.internal_mail_id_seq,
    dms.parts_counter_service_id_seq TO gmcrm_integration;
