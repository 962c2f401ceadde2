"""`gmcrm dealership set --gm-conn-id` refuses a connection Airflow does not know."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from gmcrm.cli import app

runner = CliRunner()


def test_an_unknown_gm_connection_is_refused_in_one_line_and_nothing_is_saved(
    dms_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_GM_CRM_TYPO", raising=False)
    result = runner.invoke(app, ["dealership", "set", "BR0042", "--gm-conn-id", "gm_crm_typo", "--dms-url", dms_url])

    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "does not know the connection 'gm_crm_typo'" in lines[0]
    with psycopg.connect(dms_url) as conn:
        assert conn.execute("SELECT count(*) FROM gmcrm.dealership WHERE dealer_code = 'BR0042'").fetchone() == (0,)


def test_a_connection_airflow_knows_is_saved(dms_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GM_CRM_SOUTH", '{"conn_type": "salesforce", "login": "x"}')
    result = runner.invoke(app, ["dealership", "set", "BR0042", "--gm-conn-id", "gm_crm_south", "--dms-url", dms_url])

    assert result.exit_code == 0, result.output
    with psycopg.connect(dms_url) as conn:
        row = conn.execute("SELECT gm_conn_id FROM gmcrm.dealership WHERE dealer_code = 'BR0042'").fetchone()
    assert row == ("gm_crm_south",)
