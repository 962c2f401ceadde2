"""The send's wake-up: an Airflow event trigger that LISTENs to the DMS's ``gmcrm_outbox`` channel.

The routines ``25.gmcrm.notify_outbox_inserted.sql`` and ``26.gmcrm.notify_outbox_requeued.sql``
notify at commit when events become sendable, once per dealership per transaction.
:class:`OutboxNotifyTrigger` runs in Airflow's triggerer as the ``AssetWatcher`` of the Asset
``gmcrm_trigger_outbox`` (:mod:`gmcrm.assets`): each event it yields becomes an Asset event, and the
send DAG runs on it. A burst (a screen saving twenty events, a salesperson's busy minute, an import
loading a dealership) is coalesced here into one event: after the first notification it waits until
``quiet_seconds`` pass without another, or ``max_wait_seconds`` since the first, whichever comes
first. Airflow coalesces again: events that arrive while a send run is active (``max_active_runs=1``)
make one run after it, not one each.

When the DMS database goes away it reconnects with backoff, logging one line when the connection is
lost and one when it is back (no traceback per attempt). Notifications committed while it was away are
lost to LISTEN, so on every (re)connection it asks whether anything is sendable and, if so, yields one
event for it: no wake-up is lost, at worst one run finds nothing new to send.

The connection is the Airflow connection ``conn_id`` (``dms_postgres``), resolved in the triggerer
when the trigger runs (the task SDK's async connection lookup), never when a DAG file is parsed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import psycopg
from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from psycopg import sql

from gmcrm.logs import get_logger
from gmcrm.paths import named_queries

log = get_logger(__name__)

CLASSPATH = "gmcrm.send.wakeup.OutboxNotifyTrigger"
CHANNEL = "gmcrm_outbox"
# The PostgreSQL provider's extras that are not libpq parameters (PostgresHook.ignored_extra_options).
_NOT_LIBPQ = {
    "iam",
    "redshift",
    "redshift-serverless",
    "cursor",
    "cluster-identifier",
    "workgroup-name",
    "aws_conn_id",
    "sqlalchemy_scheme",
    "sqlalchemy_query",
    "azure_conn_id",
}
# A connection that died without a FIN (a network cut) is found by these and by the idle check.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


@cache
def queries() -> dict[str, str]:
    return named_queries("wakeup")


async def dms_conninfo(conn_id: str) -> str:
    """A libpq connection string for Airflow connection ``conn_id``, as ``PostgresHook.get_conn``
    builds it, looked up through the task SDK (the triggerer's supervisor, or the secrets backends)."""
    from airflow.sdk import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    args: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema,
    }
    args.update({k: v for k, v in conn.extra_dejson.items() if k not in _NOT_LIBPQ})
    args = {**_KEEPALIVES, **{k: v for k, v in args.items() if v not in (None, "")}}
    return psycopg.conninfo.make_conninfo(**args)


class OutboxNotifyTrigger(BaseEventTrigger):
    """Yields one ``TriggerEvent`` per burst of ``gmcrm_outbox`` notifications.

    Payload: ``{"reason": "notify" | "connected", "notifications": n, "dealer_codes": [...]}``
    (``connected``: sendable events found on (re)connecting).
    """

    def __init__(
        self,
        conn_id: str = "dms_postgres",
        channel: str = CHANNEL,
        quiet_seconds: float = 1.5,
        max_wait_seconds: float = 5.0,
        idle_check_seconds: float = 60.0,
        reconnect_max_seconds: float = 30.0,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.channel = channel
        self.quiet_seconds = float(quiet_seconds)
        self.max_wait_seconds = float(max_wait_seconds)
        self.idle_check_seconds = float(idle_check_seconds)
        self.reconnect_max_seconds = float(reconnect_max_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "conn_id": self.conn_id,
                "channel": self.channel,
                "quiet_seconds": self.quiet_seconds,
                "max_wait_seconds": self.max_wait_seconds,
                "idle_check_seconds": self.idle_check_seconds,
                "reconnect_max_seconds": self.reconnect_max_seconds,
            },
        )

    async def conninfo(self) -> str:
        """Resolved on every (re)connection: a rotated password is picked up."""
        return await dms_conninfo(self.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        delay = 1.0
        lost_at: float | None = None
        while True:
            try:
                conninfo = await self.conninfo()
            except Exception as exc:  # a missing or unreadable connection: said once, tried again
                lost_at = self._lost(lost_at, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_seconds)
                continue
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    if lost_at is not None:
                        log.info(
                            "DMS connection back after %.0f s; listening on %s",
                            time.monotonic() - lost_at,
                            self.channel,
                        )
                    else:
                        log.info("listening on %s", self.channel)
                    lost_at, delay = None, 1.0
                    # Listening first, then asking: a commit between the two is seen by both, never by none.
                    codes = await self._sendable(conn)
                    if codes:
                        yield TriggerEvent({"reason": "connected", "notifications": 0, "dealer_codes": codes})
                    while True:
                        burst = await self._next_burst(conn)
                        if burst is not None:
                            yield TriggerEvent(burst)
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as exc:
                lost_at = self._lost(lost_at, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_seconds)

    def _lost(self, lost_at: float | None, exc: BaseException) -> float:
        """One log line per outage, not one per attempt; when it started."""
        if lost_at is None:
            log.warning(
                "DMS connection %s unavailable (%s): retrying, every %.0f s at most",
                self.conn_id,
                _first_line(exc),
                self.reconnect_max_seconds,
            )
            return time.monotonic()
        return lost_at

    async def _sendable(self, conn: psycopg.AsyncConnection[Any]) -> list[str]:
        cur = await conn.execute(queries()["sendable"])
        row = await cur.fetchone()
        return list(row[0]) if row else []

    async def _next_burst(self, conn: psycopg.AsyncConnection[Any]) -> dict[str, Any] | None:
        """The next burst, coalesced; None after ``idle_check_seconds`` without any (the connection
        is checked then: a dead one raises here and is reconnected)."""
        codes: set[str] = set()
        count = 0
        async for note in conn.notifies(timeout=self.idle_check_seconds, stop_after=1):
            count += 1
            codes.add(note.payload)
        if not count:
            await conn.execute("SELECT 1")
            return None
        started = time.monotonic()
        while True:
            left = min(self.quiet_seconds, self.max_wait_seconds - (time.monotonic() - started))
            if left <= 0:
                break
            more = 0
            async for note in conn.notifies(timeout=left, stop_after=1):
                more += 1
                codes.add(note.payload)
            if not more:
                break  # quiet for quiet_seconds: the burst is over
            count += more
        return {"reason": "notify", "notifications": count, "dealer_codes": sorted(c for c in codes if c)}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
