-- Staging survives a crash. 0003 made gmcrm.lead_staging UNLOGGED ("a crash loses only staging"),
-- but the logged gmcrm.import_batch kept the extract's watermark candidate: after a PostgreSQL crash
-- (or a failover to a replica, where unlogged tables are empty) between the extract and the load,
-- the retried load found nothing, "loaded" nothing and moved the watermark past every staged lead.
-- Logged now: what the extract committed is there for the load. The load also compares the staged
-- records with gmcrm.import_batch.records and refuses a dealership whose records are missing.
ALTER TABLE gmcrm.lead_staging SET LOGGED;
