"""SQL functions and triggers live in include/sql/routines/, one file each, applied by every upgrade."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest
from yoyo import read_migrations

from gmcrm import migrate
from gmcrm.paths import MIGRATIONS_DIR, ROUTINES_DIR

FUNCTIONS = """
SELECT n.nspname || '.' || p.proname, p.prosrc, pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname IN ('dms', 'gmcrm') ORDER BY 1, 3
"""
TRIGGERS = """
SELECT t.tgname, pg_get_triggerdef(t.oid)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname IN ('dms', 'gmcrm') ORDER BY 1, 2
"""


def _routines(url: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    with psycopg.connect(url) as conn:
        return conn.execute(FUNCTIONS).fetchall(), conn.execute(TRIGGERS).fetchall()


def _file_of(name: str, directory: Path = ROUTINES_DIR) -> Path:
    [path] = [p for p in directory.glob("*.sql") if p.name.split(".", 1)[1] == f"{name}.sql"]
    return path


def test_every_live_function_and_trigger_is_its_routine_file(dms_url: str) -> None:
    functions, triggers = _routines(dms_url)
    assert len(functions) == len(migrate.routine_files())  # one file per function, none left over
    for name, source, _ in functions:
        text = _file_of(name).read_text(encoding="utf-8")
        assert f"$${source}$$" in text, f"{name}: the live body is not its routine file's"
    text = "\n".join(p.read_text(encoding="utf-8") for p in migrate.routine_files())
    for trigger, _ in triggers:
        assert f"CREATE OR REPLACE TRIGGER {trigger} " in text
    # Migrations hold the schema's history only: no function body, no trigger.
    for path in MIGRATIONS_DIR.glob("*.sql"):
        assert not re.search(r"CREATE (OR REPLACE )?(FUNCTION|TRIGGER)", path.read_text()), path.name


def test_upgrading_twice_changes_no_routine(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    before = _routines(empty_db_url)
    assert migrate.upgrade(empty_db_url) == []
    assert _routines(empty_db_url) == before


def test_a_changed_routine_file_is_applied_by_the_next_upgrade(
    dms_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routines = tmp_path / "routines"
    shutil.copytree(ROUTINES_DIR, routines)
    changed = _file_of("gmcrm.lead_deleted_reason", routines)
    changed.write_text(changed.read_text().replace("nothing more is sent", "nothing else is sent"))
    monkeypatch.setattr(migrate, "ROUTINES_DIR", routines)

    assert migrate.upgrade(dms_url) == []  # no migration pending: only the routines
    with psycopg.connect(dms_url) as conn:
        reason = conn.execute("SELECT gmcrm.lead_deleted_reason(now())").fetchone()
    assert reason is not None and "nothing else is sent" in reason[0]


def test_the_last_migration_rolls_back_and_applies_again(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    before = _routines(empty_db_url)
    last = read_migrations(str(MIGRATIONS_DIR))[-1].id
    with migrate._backend(empty_db_url) as backend, backend.lock():
        migrations = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id == last)
        backend.rollback_migrations(backend.to_rollback(migrations))
    assert migrate.status(empty_db_url).pending == [last]
    assert migrate.upgrade(empty_db_url) == [last]
    assert _routines(empty_db_url) == before
