"""Running the DAGs through Airflow (``dag.test()``) and reading what a person sees in the UI afterwards:
the run's and its task instances' states, XComs and the Asset events, from Airflow's metadata database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Airflow's metadata database (SQLite under the test AIRFLOW_HOME), migrated once."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    yield


def without_retries(monkeypatch: pytest.MonkeyPatch, dag: Any, *task_ids: str) -> None:
    """A failing task of ``dag.test()`` would wait out its retry delays (20 s, 40 s, 80 s): the runs
    these tests judge are those whose retries are spent, so the tasks named fail at the first try."""
    for task_id in task_ids:
        monkeypatch.setattr(dag.task_dict[task_id], "retries", 0)


def state(thing: Any) -> str:
    """``success``, ``failed``, ... of a DagRun or a task instance."""
    value = thing.state
    return str(getattr(value, "value", value))


def task_states(run: Any) -> dict[str, str]:
    """``task_id`` (``task_id[label]`` for mapped instances) -> state."""
    states: dict[str, str] = {}
    for ti in run.get_task_instances():
        name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"
        states[name] = state(ti)
    return states


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    """A task's XCom in the run, as the UI's XCom tab shows it (None when there is none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id,
                XComModel.run_id == run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
        ).first()
        return XComModel.deserialize_value(row) if row is not None else None


def asset_events(run: Any) -> list[dict[str, Any]]:
    """The Asset events the run emitted: their asset name and extra."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found = session.execute(
            select(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_dag_id == run.dag_id, AssetEvent.source_run_id == run.run_id)
        ).all()
        return [{"asset": name, "extra": extra} for name, extra in found]
