-- GM's daily API limit as the extract last saw it (Sforce-Limit-Info "api-usage=used/max"), beside the
-- calls left, so that the Operations page shows today's usage against the limit.
ALTER TABLE gmcrm.import_batch ADD COLUMN api_limit integer;
