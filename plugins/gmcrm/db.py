"""Connections to the DMS database: a named server, or an embedded PostgreSQL when none is named.

Inside Airflow tasks the ``dms_postgres`` connection is used (see :mod:`gmcrm.airflow_support`);
the command line, the demo and the tests use ``GMCRM_DMS_URL`` or the embedded server.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from gmcrm import settings
from gmcrm.logs import get_logger
from gmcrm.paths import embedded_pgdata

log = get_logger(__name__)

DMS_URL_ENV = settings.DMS_URL  # the name the gmcrm commands' --dms-url falls back to
EMBEDDED_DB_NAME = "gmcrm_dms"


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg 3 connection (transactions explicit: autocommit off unless asked)."""
    return psycopg.connect(url, **kwargs)


class EmbeddedPostgres:
    """A private PostgreSQL from PyPI (pgserver), for machines with no server at hand."""

    def __init__(self, pgdata: Path | None = None) -> None:
        self.pgdata = _short_path(pgdata or embedded_pgdata())
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server and return the URL of the DMS database."""
        # pgserver counts the processes sharing a server in a file guarded by a lock under
        # XDG_RUNTIME_DIR: `make run` and a gmcrm command must take the same lock (and a machine
        # without XDG_RUNTIME_DIR gets no warning). Read when pgserver is imported, so set first.
        # platformdirs (under pgserver) takes only an absolute directory of mode 0700, as the XDG spec says;
        # anything else counts as unset and warns on every command.
        if "XDG_RUNTIME_DIR" not in os.environ:
            runtime = self.runtime_dir.resolve()
            runtime.mkdir(parents=True, exist_ok=True)
            runtime.chmod(0o700)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        try:
            import pgserver  # imported late: only machines without GMCRM_DMS_URL need it
        except ImportError:  # the production image installs requirements.txt only (no pgserver)
            raise RuntimeError(
                "no DMS database given (GMCRM_DMS_URL, --dms-url or the dms_postgres connection) and the "
                "embedded PostgreSQL is a development tool (requirements-dev.txt), not installed here"
            ) from None

        self.pgdata.mkdir(parents=True, exist_ok=True)
        # 'stop' only stops a server this process started; a running one is reused.
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        ensure_database(self._server.get_uri(), EMBEDDED_DB_NAME)
        return str(self._server.get_uri(EMBEDDED_DB_NAME))

    @property
    def runtime_dir(self) -> Path:
        """The directory that holds pgserver's lock for this server (beside its data)."""
        return self.pgdata.parent

    @property
    def server_url(self) -> str:
        """The server's own URL (database ``postgres``), for creating and dropping databases."""
        if self._server is None:
            raise RuntimeError("the embedded PostgreSQL is not started")
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _short_path(path: Path) -> Path:
    # A Unix socket path is limited to ~107 bytes and pgserver puts the socket in pgdata.
    if len(str(path)) <= 70:
        return path
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"gmcrm-pg-{digest}"


def ensure_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server of ``server_url`` unless it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    host = info.get("host", "localhost")
    return f"postgresql://{info.get('user', '')}@{host}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def with_database(url: str, name: str) -> str:
    """The same server URL, pointing at database ``name`` (always a URI, never a DSN string)."""
    from urllib.parse import quote, urlencode

    info = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(url).items() if v is not None}
    user = quote(info.pop("user", "postgres"), safe="")
    password = info.pop("password", None)
    host = info.pop("host", "")
    port = info.pop("port", "")
    info.pop("dbname", None)
    auth = f"{user}:{quote(password, safe='')}@" if password else f"{user}@"
    if host.startswith("/"):
        # A Unix socket directory goes in the query string.
        info["host"] = host
        host = ""
    netloc = f"{auth}{host}{':' + port if port and host else ''}"
    if port and not host:
        info["port"] = port
    query = f"?{urlencode(info)}" if info else ""
    return f"postgresql://{netloc}/{quote(name, safe='')}{query}"
