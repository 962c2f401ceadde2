-- The import loads first the dealerships whose last import did not load (see the query
-- overdue_dealerships in include/sql/queries/import.sql): each run looks up, per dealership, its newest
-- staged batch; import_batch's key starts with run_id, so without this index that is a scan of two days
-- of batches (one row per dealership and run) for every dealership.
CREATE INDEX import_batch_dealer_idx ON gmcrm.import_batch (dealer_code, extracted_at DESC);
