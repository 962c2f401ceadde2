"""``gmcrm deploy env``: a .env with fresh secrets, never overwritten by accident, never readable by others."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.fernet import Fernet
from typer.testing import CliRunner

from gmcrm import deploy
from gmcrm.cli import app


def _read(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    return dict(pairs)  # type: ignore[arg-type]


def test_writes_every_variable_with_fresh_secrets(tmp_path: Path) -> None:
    first = deploy.write_env(tmp_path / "a.env")
    second = deploy.write_env(tmp_path / "b.env")
    assert _read(tmp_path / "a.env") == first
    assert list(first) == [v.name for v in deploy.ENV_VARS]
    for var in deploy.ENV_VARS:
        if var.secret and var.name not in deploy.TO_FILL:
            assert len(first[var.name]) >= 32 and first[var.name] != second[var.name], var.name
    assert first["AIRFLOW_CONN_GM_CRM"] == ""  # GM's credentials come from GM
    Fernet(first["AIRFLOW_FERNET_KEY"].encode())  # a valid Fernet key
    # The DMS URLs carry the passwords generated beside them.
    assert first["AIRFLOW_CONN_DMS_POSTGRES"] == first["GMCRM_DMS_URL"]
    assert f":{first['GMCRM_DMS_APP_PASSWORD']}@" in first["GMCRM_DMS_URL"]
    assert f":{first['DMS_OWNER_PASSWORD']}@" in first["GMCRM_DMS_OWNER_URL"]
    assert "change-me" not in (tmp_path / "a.env").read_text(encoding="utf-8")


def test_only_the_owner_can_read_it(tmp_path: Path) -> None:
    deploy.write_env(tmp_path / ".env")
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    runner = CliRunner()
    written = runner.invoke(app, ["deploy", "env", "--path", str(path)])
    assert written.exit_code == 0, written.output
    assert "fresh secrets written" in written.output and "=" not in written.output  # no secret printed
    before = path.read_text(encoding="utf-8")
    refused = runner.invoke(app, ["deploy", "env", "--path", str(path)])
    assert refused.exit_code == 1
    assert "exists" in refused.output and "--force" in refused.output
    assert path.read_text(encoding="utf-8") == before
    forced = runner.invoke(app, ["deploy", "env", "--path", str(path), "--force"])
    assert forced.exit_code == 0
    assert (
        _read(path)["AIRFLOW_JWT_SECRET"]
        != dict(line.split("=", 1) for line in before.splitlines() if not line.startswith("#"))["AIRFLOW_JWT_SECRET"]
    )
