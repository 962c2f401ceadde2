-- The DMS catalogues a dealership's contact settings are chosen from (manual: vehicle parameters tabs
-- Geral / Veículos Usados, parts tab CAC, workshop tab Contato, CRM Plus After Sales; Origem de Tráfego
-- in Fábrica GM > Integração CRM). In the DMS these are picked from lists; gmcrm's command line checks
-- a value against them (`gmcrm contact-settings set`, `gmcrm dealership check`) instead of storing a
-- typo that every contact of a lead type would then carry. Per dealership, like every DMS catalogue.
CREATE TABLE dms.contact_type (
    id          bigserial PRIMARY KEY,
    dealer_code text NOT NULL,
    code        text NOT NULL,
    name        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    UNIQUE (dealer_code, code)
);

CREATE TABLE dms.contact_subtype (
    id           bigserial PRIMARY KEY,
    dealer_code  text NOT NULL,
    contact_type text NOT NULL,
    code         text NOT NULL,
    name         text NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    UNIQUE (dealer_code, contact_type, code),
    FOREIGN KEY (dealer_code, contact_type) REFERENCES dms.contact_type (dealer_code, code)
);

CREATE TABLE dms.traffic_origin (
    id          bigserial PRIMARY KEY,
    dealer_code text NOT NULL,
    code        text NOT NULL,
    name        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    UNIQUE (dealer_code, code)
);
