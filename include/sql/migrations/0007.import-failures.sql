-- A dealership whose import failed in a run (its GM connection unusable, its staged records short,
-- its load raised): one row per run and dealership, with the stage and a masked, actionable error.
-- The row stays when a retry of the same run later loads the dealership: the run is judged by
-- comparing it with that dealership's gmcrm.import_log row (see gmcrm.import_run_failures).
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

-- The dealerships of a run that failed and were not loaded since by the same run.
CREATE FUNCTION gmcrm.import_run_failures(p_run_id text)
RETURNS TABLE (dealer_code text, stage text, error text, failed_at timestamptz, attempts integer)
LANGUAGE sql STABLE
AS $$
    SELECT f.dealer_code, f.stage, f.error, f.failed_at, f.attempts
    FROM gmcrm.import_failure f
    WHERE f.run_id = p_run_id
      AND NOT EXISTS (SELECT 1 FROM gmcrm.import_log g
                      WHERE g.run_id = f.run_id AND g.dealer_code = f.dealer_code AND g.finished_at > f.failed_at)
    ORDER BY f.dealer_code
$$;
