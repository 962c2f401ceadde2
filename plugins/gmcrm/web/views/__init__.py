"""The pages, one module per group: the lead log (:mod:`.lead_log`) and operations (:mod:`.ops`)."""
