-- A dealership whose import failed in a run (its GM connection unusable, its staged records short,
-- its load raised): one row per run and dealership, with the stage and a masked, actionable error.
-- The row stays when a retry of the same run later loads the dealership: the run is judged by
-- comparing it with that dealership's gmcrm.import_log row (see gmcrm.import_run_failures,
-- include/sql/routines/61.gmcrm.import_run_failures.sql).
CREATE TABLE gmcrm.import_failure (
    run_id       text NOT NULL,
    dealer_code  text NOT NULL,
    stage        text NOT NULL CHECK (stage IN ('extract', 'load')),
    error        text NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts     integer NOT NULL DEFAULT 1,
    PRIMARY KEY (run_id, dealer_code)
);
CREATE INDEX import_failure_dealer_idx ON gmcrm.import_failure (dealer_code, failed_at DESC);

