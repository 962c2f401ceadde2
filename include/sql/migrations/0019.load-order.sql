-- The import loads first the dealerships whose last import did not load (the query overdue_dealerships
-- in include/sql/queries/import.sql): each run looks up, per dealership, its newest batch staged by an
-- earlier run. import_batch's key starts with run_id, so without this index that is a scan of two days of
-- batches (one row per dealership and run) for every dealership: with 1,000 dealerships and 576,000
-- batches the query had not finished after 5 minutes; with it, 114 ms.
CREATE INDEX import_batch_dealer_idx ON gmcrm.import_batch (dealer_code, extracted_at DESC);
