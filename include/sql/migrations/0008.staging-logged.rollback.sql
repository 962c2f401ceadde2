ALTER TABLE gmcrm.lead_staging SET UNLOGGED;
