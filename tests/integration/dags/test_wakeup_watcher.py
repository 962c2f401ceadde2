"""The send DAG's Asset carries the outbox watcher (event-driven sends), survives serialization as the
DAG processor stores it, and ``GMCRM_SEND_WAKEUP=off`` leaves it out; the 5-minute schedule stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from airflow.triggers.base import BaseEventTrigger

from gmcrm.assets import TRIGGER_OUTBOX, WATCHER_NAME
from gmcrm.send.wakeup import CLASSPATH, OutboxNotifyTrigger
from tests.integration.helpers.dags import airflow_db, dagbag  # noqa: F401 (fixtures)


def test_the_outbox_asset_is_watched_by_the_notify_trigger() -> None:
    [watcher] = TRIGGER_OUTBOX.watchers
    assert watcher.name == WATCHER_NAME
    assert isinstance(watcher.trigger, OutboxNotifyTrigger) and isinstance(watcher.trigger, BaseEventTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == CLASSPATH and kwargs["conn_id"] == "dms_postgres"
    assert kwargs["quiet_seconds"] <= kwargs["max_wait_seconds"]


def test_the_send_dag_runs_on_the_watched_asset_and_its_schedule(dagbag: Any) -> None:  # noqa: F811
    from airflow.serialization.serialized_objects import DagSerialization

    dag = dagbag.dags["gmcrm_send_triggers"]
    assert dag.timetable.timetable.expression == "*/5 * * * *"  # the safety net
    assert dag.max_active_runs == 1  # runs never overlap: Asset events queue behind a running one
    stored = json.dumps(DagSerialization.serialize_dag(dag))
    assert WATCHER_NAME in stored and CLASSPATH in stored


def test_the_watcher_can_be_switched_off() -> None:
    script = textwrap.dedent(
        """
        from gmcrm.assets import TRIGGER_OUTBOX
        print("watchers", len(TRIGGER_OUTBOX.watchers))
        """
    )
    env = {**os.environ, "GMCRM_SEND_WAKEUP": "off", "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "watchers 0" in result.stdout
