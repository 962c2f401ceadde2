DROP INDEX IF EXISTS gmcrm.import_batch_dealer_idx;
