"""``gmcrm deploy app-user``: the DMS login the integration runs as, a member of gmcrm_integration only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from gmcrm import deploy
from gmcrm.cli import app

pytestmark = pytest.mark.integration


@pytest.fixture
def login(conn: psycopg.Connection[Any]) -> Iterator[str]:
    name = f"gmcrm_app_{uuid.uuid4().hex[:10]}"
    yield name
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _memberships(conn: psycopg.Connection[Any], name: str) -> list[str]:
    rows = conn.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        (name,),
    ).fetchall()
    return [r[0] for r in rows]


def test_creates_the_login_then_sets_its_password(
    conn: psycopg.Connection[Any], dms_url: str, login: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.delenv(deploy.APP_PASSWORD_ENV, raising=False)
    missing = runner.invoke(app, ["deploy", "app-user", login, "--dms-url", dms_url])
    assert missing.exit_code == 2 and deploy.APP_PASSWORD_ENV in missing.output

    monkeypatch.setenv(deploy.APP_PASSWORD_ENV, "first-password-0123456789")
    created = runner.invoke(app, ["deploy", "app-user", login, "--dms-url", dms_url])
    assert created.exit_code == 0, created.output
    assert "created" in created.output and "first-password" not in created.output
    role = conn.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolpassword IS NOT NULL FROM pg_authid "
        "WHERE rolname = %s",
        (login,),
    ).fetchone()
    assert role == (True, False, False, False, True)
    assert _memberships(conn, login) == [deploy.INTEGRATION_ROLE]
    before = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (login,)).fetchone()

    monkeypatch.setenv(deploy.APP_PASSWORD_ENV, "second-password-0123456789")
    again = runner.invoke(app, ["deploy", "app-user", login, "--dms-url", dms_url])
    assert again.exit_code == 0 and "password set" in again.output
    after = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (login,)).fetchone()
    assert after != before
    assert _memberships(conn, login) == [deploy.INTEGRATION_ROLE]


def test_refuses_a_superuser_or_itself(conn: psycopg.Connection[Any]) -> None:
    current = conn.execute("SELECT current_user").fetchone()
    assert current is not None
    with pytest.raises(ValueError, match=r"superuser|running this command"):
        deploy.ensure_app_user(conn, current[0], "x" * 32)
