"""``plugins/airflow_local_settings.py`` in Airflow's real command line: the scheduler (LocalExecutor) imports the
import tasks' modules once at start, for the task processes it forks; other components and the off switch do not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINE = "gmcrm: modules of the import's tasks imported for their task processes"

pytestmark = pytest.mark.integration


def _stderr(tmp_path: Path, *command: str, **env: str) -> str:
    """``airflow COMMAND --help`` (Airflow starts as for the command, then prints its help) with the plugins
    folder as its only way to gmcrm."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONPATH"}
    environ.update(
        {
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            **env,
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *command, "--help"], env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_the_scheduler_preloads_and_the_other_components_do_not(tmp_path: Path) -> None:
    assert LINE in _stderr(tmp_path, "scheduler")
    assert "gmcrm:" not in _stderr(tmp_path, "dag-processor")
    assert "gmcrm:" not in _stderr(tmp_path, "scheduler", AIRFLOW__CORE__EXECUTOR="CeleryExecutor")
    assert "gmcrm:" not in _stderr(tmp_path, "scheduler", GMCRM_TASK_PRELOAD="0")
