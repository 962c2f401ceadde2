ALTER TABLE gmcrm.trigger_outbox RESET (fillfactor);
