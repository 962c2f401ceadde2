"""`make run`'s port setting: one variable moves the UI, the API and the address tasks report to."""

from __future__ import annotations

import pytest

from gmcrm_devtools import environment


def test_the_port_moves_the_api_and_the_tasks_execution_api() -> None:
    assert environment.api_settings(8181) == {
        "AIRFLOW__API__PORT": "8181",
        "AIRFLOW__API__BASE_URL": "http://localhost:8181",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://localhost:8181/execution/",
    }


@pytest.mark.parametrize(("value", "port"), [(None, 8080), ("", 8080), (" 8181 ", 8181), ("65535", 65535)])
def test_ui_port_reads_gmcrm_ui_port(monkeypatch: pytest.MonkeyPatch, value: str | None, port: int) -> None:
    if value is None:
        monkeypatch.delenv("GMCRM_UI_PORT", raising=False)
    else:
        monkeypatch.setenv("GMCRM_UI_PORT", value)
    assert environment.ui_port() == port


@pytest.mark.parametrize("value", ["80a", "0", "65536", "-1", "8080.0"])
def test_a_bad_ui_port_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("GMCRM_UI_PORT", value)
    with pytest.raises(environment.SettingError, match="GMCRM_UI_PORT"):
        environment.ui_port()
