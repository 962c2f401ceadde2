"""The `gmcrm` command line against a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from gmcrm.cli import app

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_db_upgrade_seed_and_dealerships(empty_db_url: str) -> None:
    assert "applied 0001.foundation" in _ok("db", "upgrade", "--dms-url", empty_db_url)
    assert "up to date" in _ok("db", "upgrade", "--dms-url", empty_db_url)
    assert "pending" not in _ok("db", "status", "--dms-url", empty_db_url)
    assert "BR0001, BR0002, BR0003" in _ok("db", "seed-demo", "--dms-url", empty_db_url)

    # Enabling a dealership every lead of which would quarantine (no list owners, no contact settings)
    # is refused with what to fix (test_onboarding.py has the whole onboarding); --force enables it.
    args = ["dealership", "set", "BR0042", "--name", "Chevrolet Nova", "--routing", "distribution", "--enabled"]
    refused = runner.invoke(app, [*args, "--dms-url", empty_db_url])
    assert refused.exit_code == 2 and "--force" in refused.output
    _ok(*args, "--force", "--dms-url", empty_db_url)
    listing = _ok("dealership", "list", "--dms-url", empty_db_url)
    assert "BR0042" in listing and "DISTRIBUTION" in listing
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute(
            "SELECT integration_enabled, routing FROM gmcrm.dealership WHERE dealer_code = 'BR0042'"
        ).fetchone() == (True, "DISTRIBUTION")

    bad = runner.invoke(app, ["dealership", "set", "BR0042", "--routing", "SIDEWAYS", "--dms-url", empty_db_url])
    assert bad.exit_code != 0 and "DIRECT, DISTRIBUTION" in bad.output
    unknown_user = runner.invoke(
        app, ["dealership", "set", "BR0001", "--parts-user", "nobody", "--dms-url", empty_db_url]
    )
    assert unknown_user.exit_code != 0 and "nobody" in unknown_user.output


def test_reasons_and_events(dms_url: str) -> None:
    _ok("db", "seed-demo", "--dms-url", dms_url)
    assert "V99" in _ok("reasons", "list", "BR0001", "--unmapped", "--dms-url", dms_url)
    refused = runner.invoke(app, ["reasons", "map", "BR0001", "V99", "Whatever", "--dms-url", dms_url])
    assert refused.exit_code != 0 and "BoughtElsewhere" in refused.output  # lists GM's reasons
    assert "V99 -> NotInterested" in _ok("reasons", "map", "BR0001", "V99", "NotInterested", "--dms-url", dms_url)
    assert "V99" not in _ok("reasons", "list", "BR0001", "--unmapped", "--dms-url", dms_url)

    with psycopg.connect(dms_url) as conn:
        ids = [
            conn.execute(
                "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, trigger_code, status, last_error) "
                "VALUES ('BR0001', '006000000000001AAA', %s, %s, %s) RETURNING id",
                values,
            ).fetchone()[0]  # type: ignore[index]
            for values in (("VPE", "FAILED", "no GM reason"), ("CRE", "BLOCKED", "waiting behind"))
        ]
    listing = _ok("events", "list", "--status", "failed", "--dms-url", dms_url)
    assert str(ids[0]) in listing and "no GM reason" in listing
    assert "1 event(s) back in the queue" in _ok("events", "retry", str(ids[0]), "--dms-url", dms_url)
    with psycopg.connect(dms_url) as conn:
        statuses = dict(conn.execute("SELECT id, status FROM gmcrm.trigger_outbox").fetchall())
    assert statuses == {ids[0]: "PENDING", ids[1]: "PENDING"}  # the one behind it is unblocked too

    assert "skipped" in _ok("events", "skip", str(ids[0]), "--why", "sent by hand at GM", "--dms-url", dms_url)
    again = runner.invoke(app, ["events", "skip", str(ids[0]), "--why", "twice", "--dms-url", dms_url])
    assert again.exit_code != 0

    log = _ok("lead-log", "006000000000001AAA", "--dms-url", dms_url)
    assert "Evento criado: VPE" in log and "Evento criado: CRE" in log
    missing = runner.invoke(app, ["lead-log", "006NOTHING", "--dms-url", dms_url])
    assert missing.exit_code == 1


@pytest.mark.parametrize("command", [["--help"], ["db", "--help"], ["events", "--help"], ["reasons", "--help"]])
def test_help_explains_each_command(command: list[str]) -> None:
    assert "Usage" in _ok(*command)


def _one_line_error(result: Any) -> str:
    """A failed command: non-zero exit, no traceback, one line saying why."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_bad_input_is_one_line_not_a_traceback(dms_url: str) -> None:
    _ok("db", "seed-demo", "--dms-url", dms_url)
    line = _one_line_error(runner.invoke(app, ["events", "list", "--limit", "-1", "--dms-url", dms_url]))
    assert "--limit" in line

    line = _one_line_error(runner.invoke(app, ["dealership", "set", "BR0001", "--name", "", "--dms-url", dms_url]))
    assert "--name" in line and "empty" in line
    line = _one_line_error(runner.invoke(app, ["dealership", "set", "BR0001", "--name", "  ", "--dms-url", dms_url]))
    assert "--name" in line
    with psycopg.connect(dms_url) as conn:
        assert conn.execute("SELECT name FROM gmcrm.dealership WHERE dealer_code = 'BR0001'").fetchone() != ("",)
        outbox_id = conn.execute(
            "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, trigger_code, status, last_error) "
            "VALUES ('BR0001', '006000000000001AAA', 'VPE', 'FAILED', 'no GM reason') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
    for why in ("", "   "):
        line = _one_line_error(
            runner.invoke(app, ["events", "skip", str(outbox_id), "--why", why, "--dms-url", dms_url])
        )
        assert "--why" in line
    with psycopg.connect(dms_url) as conn:
        assert conn.execute("SELECT status FROM gmcrm.trigger_outbox WHERE id = %s", (outbox_id,)).fetchone() == (
            "FAILED",
        )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/nothing",  # connection refused
        "postgresql://postgres@no-such-host.invalid/nothing",  # bad host
    ],
)
def test_an_unreachable_dms_is_one_line(url: str) -> None:
    for args in (["events", "list"], ["dealership", "list"], ["lead-log", "006000000000001AAA"], ["db", "status"]):
        line = _one_line_error(runner.invoke(app, [*args, "--dms-url", url]))
        assert "cannot reach the DMS database" in line, line


def test_database_errors_are_one_masked_line(dms_url: str) -> None:
    """A database error the command does not expect: its cause in one line, masked."""
    with psycopg.connect(dms_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'refused for joana.silva@exemplo.com.br' USING ERRCODE = 'check_violation', "
            "CONSTRAINT = 'dealership_ok'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON gmcrm.dealership "
            "FOR EACH ROW EXECUTE FUNCTION public.refuse()"
        )
    line = _one_line_error(runner.invoke(app, ["dealership", "set", "BR0077", "--name", "X", "--dms-url", dms_url]))
    assert "joana.silva" not in line and "j***@exemplo.com.br" in line
    assert "SQLSTATE 23514" in line and "constraint dealership_ok" in line


def test_a_database_without_the_schema_says_how_to_get_it(empty_db_url: str) -> None:
    """A new user's first command on a database gmcrm never migrated: what to run, not just the SQL error."""
    for args in (["quarantine", "list"], ["events", "list"], ["dealership", "list"]):
        line = _one_line_error(runner.invoke(app, [*args, "--dms-url", empty_db_url]))
        assert "UndefinedTable" in line and "run `gmcrm db upgrade`" in line, line


def test_the_embedded_database_starts_without_warnings(tmp_path: Path) -> None:
    """A machine without XDG_RUNTIME_DIR: pgserver's platformdirs warned on every command (a relative or
    group-readable runtime directory counts as unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "GMCRM_DMS_URL")}
    env["GMCRM_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-W", "error::Warning", "-m", "gmcrm.cli", "db", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Warning" not in done.stderr, done.stderr
    assert done.returncode == 0 and "pending" in done.stdout, done.stdout + done.stderr
