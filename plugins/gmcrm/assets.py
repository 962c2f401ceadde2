"""Airflow Assets shared by the DAGs (pure definitions: safe at parse time)."""

from airflow.sdk import Asset

# Updated by the import when it has recorded trigger events; the send DAG runs on it.
TRIGGER_OUTBOX = Asset(name="gmcrm_trigger_outbox", uri="gmcrm://dms/trigger_outbox")
