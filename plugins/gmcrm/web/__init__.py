"""Web pages of the integration served inside the Airflow UI (see ``plugins/gmcrm_lead_log_plugin.py``)."""
