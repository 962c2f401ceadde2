"""Airflow's local settings hook: Airflow imports this module in each of its processes at start (from
``[core] plugins_folder``, which it puts on ``sys.path``; a deployment's own ``$AIRFLOW_HOME/config/
airflow_local_settings.py`` comes first and replaces it). It sets no policy; it only lets the scheduler
(LocalExecutor) and Celery workers import the import tasks' modules once, before they fork task processes
(see :mod:`gmcrm.preload`). Listed in ``.airflowignore``: it is not a plugin file.
"""

from __future__ import annotations

#: Names Airflow would copy into ``airflow.settings`` or take as cluster policies: none.
__all__: list[str] = []


def _preload() -> None:
    try:
        from gmcrm.preload import preload_if_starting_tasks

        preload_if_starting_tasks()
    except Exception as exc:  # never stop Airflow from starting: tasks import what they need
        import sys

        print(
            f"gmcrm: preloading the import's modules failed ({type(exc).__name__}); tasks import them", file=sys.stderr
        )


_preload()
