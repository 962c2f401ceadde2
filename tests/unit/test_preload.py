"""Which Airflow processes import the import tasks' modules before forking task processes (gmcrm.preload)."""

from __future__ import annotations

import pytest

from gmcrm.preload import preload, starts_tasks


@pytest.mark.parametrize(
    ("argv", "executor", "expected"),
    [
        (["/venv/bin/airflow", "scheduler"], "LocalExecutor", True),
        (["/venv/lib/python3.11/site-packages/airflow/__main__.py", "scheduler"], "LocalExecutor", True),
        (["airflow", "scheduler"], "CeleryExecutor", False),  # the scheduler forks no task then
        (["airflow", "scheduler"], "LocalExecutor,CeleryExecutor", True),
        (["airflow", "celery", "worker", "-q", "default"], "CeleryExecutor", True),
        (["airflow", "celery", "flower"], "CeleryExecutor", False),
        (["airflow", "api-server"], "LocalExecutor", False),
        (["airflow", "dag-processor"], "LocalExecutor", False),
        (["airflow", "triggerer"], "LocalExecutor", False),
        (["/venv/bin/pytest", "tests"], "LocalExecutor", False),
        (["python"], "LocalExecutor", False),
    ],
)
def test_only_the_processes_that_fork_task_instances_preload(argv: list[str], executor: str, expected: bool) -> None:
    assert starts_tasks(argv, executor) is expected


def test_a_module_that_fails_to_import_is_named_and_the_rest_still_imports() -> None:
    failed, seconds = preload(["gmcrm_no_such_module", "gmcrm.leads.grouping"])
    assert failed == ["gmcrm_no_such_module"] and seconds >= 0
