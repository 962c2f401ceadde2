"""What both DAGs share: their ids, owner, retries with exponential backoff, start date, run limits, the
final check.

Pure definitions, safe at parse time (no database, network or secrets).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

IMPORT_DAG_ID = "gmcrm_import_leads"
SEND_DAG_ID = "gmcrm_send_triggers"
#: The send DAG's mapped task: one task instance per lane (map index == lane).
SEND_LANE_TASK_ID = "send_lane"

EVERY_5_MINUTES = "*/5 * * * *"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
# Under the 5-minute schedule, so a stuck run never overlaps the next one.
DAGRUN_TIMEOUT = timedelta(minutes=4, seconds=30)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "gmcrm-ops",
    "retries": 3,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=3),
}

#: Each DAG's last task, its only leaf, judges the run (see gmcrm.run_summary): it runs whatever happened
#: before it, and is never retried (another try would judge the same and only delay the verdict).
FINAL_CHECK: dict[str, Any] = {"trigger_rule": "all_done", "retries": 0}

COMMON_DAG_KWARGS: dict[str, Any] = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,
    "dagrun_timeout": DAGRUN_TIMEOUT,
    "default_args": DEFAULT_ARGS,
}
