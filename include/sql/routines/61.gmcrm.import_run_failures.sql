-- The dealerships of a run that failed and were not loaded since by the same run.
CREATE OR REPLACE FUNCTION gmcrm.import_run_failures(p_run_id text)
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
