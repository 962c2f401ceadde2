"""A PostgreSQL a test starts, crashes and restarts itself: the embedded server (pgserver, with its
own ``pg_ctl``), stopped with ``pg_ctl stop -m immediate`` (no checkpoint, crash recovery at the next
start: what a power cut or a killed postmaster leaves)."""

from __future__ import annotations

import contextlib
import logging
import subprocess
from pathlib import Path
from typing import Any

from gmcrm import db, migrate


class CrashablePostgres:
    """``start()`` gives the URL of a migrated DMS database; ``crash()`` and ``restart()`` do what
    they say; ``stop()`` stops whatever server runs on the data directory."""

    def __init__(self, pgdata: Path) -> None:
        logging.getLogger("pgserver").propagate = False
        self.embedded = db.EmbeddedPostgres(pgdata)
        self.url = ""
        self._server: Any = None

    def start(self) -> str:
        self.url = self.embedded.start()
        self._server = self.embedded._server
        migrate.upgrade(self.url)
        return self.url

    def _pg_ctl(self, *args: str) -> None:
        import pgserver

        pgserver.pg_ctl(list(args), pgdata=self._server.pgdata, user=self._server.system_user, timeout=60)

    def crash(self) -> None:
        self._pg_ctl("-m", "immediate", "stop")

    def restart(self) -> None:
        info = self._server.get_postmaster_info()
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {info.socket_dir}", "-l", str(self._server.log), "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._pg_ctl("-m", "fast", "stop")
        self.embedded.stop()
