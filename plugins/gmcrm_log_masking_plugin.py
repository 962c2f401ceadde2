"""Airflow plugin: task logs never show a full CPF/CNPJ, e-mail or phone, whatever code logs them.

A listener installs :func:`gmcrm.logs.install_log_masking` in the task process when the task starts
running, before its code runs: every line the task logs, the traceback of an exception that escapes
the task included ("Task failed with exception"), is masked before it is written or sent to the
supervisor, and an exception's line gets its ``cause`` (class, message, SQLSTATE, table, column,
constraint). It also runs when any other Airflow component starts (``on_starting``), so the
scheduler's and the API server's own logs are masked the same way.

Loading this module connects to nothing and changes nothing until a listener hook is called.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from gmcrm.logs import install_log_masking


class MaskTaskLogs:
    """Listener hooks (pluggy): both only (re)install the masking processors; idempotent."""

    @hookimpl
    def on_starting(self, component: Any) -> None:
        install_log_masking()

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        install_log_masking()


class GmcrmLogMaskingPlugin(AirflowPlugin):
    name = "gmcrm_log_masking"
    listeners: list[Any] = [MaskTaskLogs()]  # noqa: RUF012 - AirflowPlugin declares these as class attributes
