"""Where the project's files live, found from this package (works from a checkout and in Docker)."""

from __future__ import annotations

from pathlib import Path

from gmcrm import settings

PACKAGE_DIR = Path(__file__).resolve().parent
# plugins/gmcrm -> project root. GMCRM_PROJECT_ROOT overrides it for deployments that mount
# include/ elsewhere (docker-compose mounts it beside dags/ and plugins/).
PROJECT_ROOT = settings.project_root(PACKAGE_DIR.parents[1])
SQL_DIR = PROJECT_ROOT / "include" / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
# SQL functions and triggers, one file each, applied after the migrations by every upgrade.
ROUTINES_DIR = SQL_DIR / "routines"
QUERIES_DIR = SQL_DIR / "queries"
STATE_DIR = settings.home(PROJECT_ROOT)


def embedded_pgdata(home: Path = STATE_DIR) -> Path:
    """Where the embedded PostgreSQL keeps its data under ``home`` (``GMCRM_HOME``, default ``.gmcrm/``).

    One place for `make run` and the ``gmcrm`` command line: a command run while `make run` is up
    joins its server (pgserver reuses a running one), and one run later starts the same data.
    """
    return home / "pgdata"


def sql_file(name: str) -> str:
    """The text of ``include/sql/queries/<name>.sql``."""
    return (QUERIES_DIR / f"{name}.sql").read_text(encoding="utf-8")


def named_queries(name: str) -> dict[str, str]:
    """The statements of ``include/sql/queries/<name>.sql``, keyed by their ``-- name: x`` markers."""
    queries: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in sql_file(name).splitlines():
        if line.startswith("-- name:"):
            if current:
                queries[current] = "\n".join(lines).strip()
            current, lines = line.split(":", 1)[1].strip(), []
        elif current is not None:
            lines.append(line)
    if current:
        queries[current] = "\n".join(lines).strip()
    return queries
