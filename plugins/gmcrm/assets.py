"""Airflow Assets shared by the DAGs (pure definitions: safe at parse time).

``gmcrm_trigger_outbox`` is updated two ways: by the import's ``announce_events`` task when a run
recorded events, and by its watcher, :class:`gmcrm.send.wakeup.OutboxNotifyTrigger`, which runs in
the triggerer and turns the DMS's ``NOTIFY gmcrm_outbox`` (a screen saving events) into Asset events
within seconds. Building the trigger here opens nothing: it connects when the triggerer runs it.
``GMCRM_SEND_WAKEUP=off`` leaves the watcher out (the send DAG then runs on its schedule and imports).
"""

from airflow.sdk import Asset, AssetWatcher

from gmcrm import settings
from gmcrm.send.wakeup import OutboxNotifyTrigger

WATCHER_NAME = "gmcrm_outbox_notify"


def outbox_watchers() -> list[AssetWatcher]:
    if not settings.send_wakeup():
        return []
    trigger = OutboxNotifyTrigger(
        quiet_seconds=settings.send_wakeup_quiet_seconds(),
        max_wait_seconds=settings.send_wakeup_max_wait_seconds(),
    )
    return [AssetWatcher(name=WATCHER_NAME, trigger=trigger)]


# Updated by the import when it has recorded trigger events, and by the DMS's NOTIFY through the
# watcher; the send DAG runs on it.
TRIGGER_OUTBOX = Asset(name="gmcrm_trigger_outbox", uri="gmcrm://dms/trigger_outbox", watchers=outbox_watchers())
