"""The send's wake-up trigger (gmcrm.send.wakeup.OutboxNotifyTrigger) against a real PostgreSQL: its
run() in asyncio, DMS commits from other connections; bursts coalesced into one event, its payload,
sendable rows found on connecting, and a DMS restart survived without losing the wake-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from gmcrm.airflow_support import postgres_conn_json
from gmcrm.send.wakeup import CLASSPATH, OutboxNotifyTrigger
from tests.integration.helpers.crash import CrashablePostgres

pytestmark = pytest.mark.integration


def insert(url: str, *dealer_codes: str, per_statement: int = 1) -> None:
    """One DMS transaction: one INSERT per dealer code given (repeat a code for more statements)."""
    with psycopg.connect(url) as conn, conn.transaction():
        for code in dealer_codes:
            conn.execute(
                "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, trigger_code) "
                "SELECT %s, '006' || md5(random()::text), 'CRE' FROM generate_series(1, %s)",
                (code, per_statement),
            )


class Collector:
    """Runs the trigger as the triggerer does (iterating its run()) and queues each event's payload."""

    def __init__(self, trigger: OutboxNotifyTrigger) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._run(trigger))

    async def _run(self, trigger: OutboxNotifyTrigger) -> None:
        async for event in trigger.run():
            assert isinstance(event, TriggerEvent) and isinstance(event.payload, dict)
            await self.queue.put(event.payload)

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def none_within(self, seconds: float) -> bool:
        await asyncio.sleep(seconds)
        assert not self.task.done(), self.task  # run() never ends by itself
        return self.queue.empty()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> None:
    await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kwargs))


def test_it_serializes_to_its_classpath_and_is_an_event_trigger() -> None:
    trigger = OutboxNotifyTrigger(quiet_seconds=2, max_wait_seconds=7)
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert isinstance(trigger, BaseEventTrigger)
    again = OutboxNotifyTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*again.serialize())
    assert kwargs["quiet_seconds"] == 2.0 and kwargs["max_wait_seconds"] == 7.0


def test_a_burst_of_commits_is_one_event_with_the_count_and_dealer_codes(dms_conn_env: str) -> None:
    url = dms_conn_env

    async def scenario() -> None:
        events = Collector(OutboxNotifyTrigger(quiet_seconds=0.8, max_wait_seconds=5))
        assert await events.none_within(1.5)  # an empty outbox on connecting: nothing to say
        # A screen saving twenty events in one transaction, then two more saves close behind it.
        await in_thread(insert, url, *["BR0001"] * 20)
        await asyncio.sleep(0.2)
        await in_thread(insert, url, "BR0003")
        await asyncio.sleep(0.2)
        await in_thread(insert, url, "BR0001", "BR0002")
        first = await events.next()
        # One notification per dealership per transaction: 1 + 1 + 2.
        assert first == {"reason": "notify", "notifications": 4, "dealer_codes": ["BR0001", "BR0002", "BR0003"]}
        assert await events.none_within(1.5)
        await in_thread(insert, url, "BR0002")
        assert await events.next() == {"reason": "notify", "notifications": 1, "dealer_codes": ["BR0002"]}
        await events.close()

    asyncio.run(scenario())


def test_a_steady_stream_still_fires_within_max_wait(dms_conn_env: str) -> None:
    url = dms_conn_env

    async def scenario() -> None:
        events = Collector(OutboxNotifyTrigger(quiet_seconds=0.6, max_wait_seconds=1.5))
        assert await events.none_within(1.0)

        async def stream() -> None:
            for _ in range(20):  # one commit every 0.25 s for 5 s: never quiet for 0.6 s
                await in_thread(insert, url, "BR0001")
                await asyncio.sleep(0.25)

        producer = asyncio.ensure_future(stream())
        started = time.monotonic()
        first = await events.next()
        waited = time.monotonic() - started
        second = await events.next()
        await producer
        assert first["reason"] == "notify"
        assert 1 < first["notifications"] < 20 and second["notifications"] < 20
        assert waited < 3.0  # max_wait (1.5 s) after the first commit, not the end of the stream
        await events.close()

    asyncio.run(scenario())


def test_sendable_events_on_connecting_are_announced(dms_conn_env: str) -> None:
    url = dms_conn_env
    insert(url, "BR0003", "BR0001")  # committed before the triggerer started listening
    with psycopg.connect(url, autocommit=True) as conn:  # neither sent nor waiting for a retry: not sendable
        conn.execute(
            "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, trigger_code, status) "
            "VALUES ('BR0002', '006x', 'CRE', 'SENT'), ('BR0004', '006y', 'CRE', 'RETRY')"
        )
        conn.execute(
            "UPDATE gmcrm.trigger_outbox SET next_attempt_at = now() + interval '1 hour' WHERE lead_id = '006y'"
        )

    async def scenario() -> None:
        events = Collector(OutboxNotifyTrigger(quiet_seconds=0.5))
        assert await events.next() == {"reason": "connected", "notifications": 0, "dealer_codes": ["BR0001", "BR0003"]}
        assert await events.none_within(1.0)
        await events.close()

    asyncio.run(scenario())


def test_a_dms_restart_is_survived_and_a_commit_made_meanwhile_wakes_the_sender(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Not pytest's tmp_path (see test_staging_crash): the server's data must outlive the crash.
    root = Path(tempfile.mkdtemp(prefix="gmcrm-wakeup-"))
    pg = CrashablePostgres(root / "pg")
    url = pg.start()
    monkeypatch.setenv("AIRFLOW_CONN_DMS_POSTGRES", postgres_conn_json(url))
    caplog.set_level(logging.INFO, logger="gmcrm.send.wakeup")
    try:

        async def scenario() -> None:
            events = Collector(OutboxNotifyTrigger(quiet_seconds=0.5, reconnect_max_seconds=2))
            assert await events.none_within(1.5)
            await in_thread(insert, url, "BR0001")
            assert (await events.next())["dealer_codes"] == ["BR0001"]

            # The DMS crashes; while the trigger retries, the server comes back and a commit lands
            # before the trigger has reconnected: LISTEN never sees its NOTIFY.
            with psycopg.connect(url, autocommit=True) as conn:  # the first event is dealt with
                conn.execute("UPDATE gmcrm.trigger_outbox SET status = 'SENT' WHERE dealer_code = 'BR0001'")
            await in_thread(pg.crash)
            await asyncio.sleep(3.0)  # several failed attempts
            await in_thread(pg.restart)
            await in_thread(insert, url, "BR0003")
            event = await events.next(30)
            assert event["dealer_codes"] == ["BR0003"]
            assert event["reason"] in ("connected", "notify")
            # Listening again: a later commit is a plain notification.
            await in_thread(insert, url, "BR0002")
            later = await events.next()
            assert later["reason"] == "notify" and later["dealer_codes"] == ["BR0002"]
            await events.close()

        asyncio.run(scenario())
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    lost = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(lost) == 1, [r.getMessage() for r in caplog.records]  # one line per outage, not per attempt
    assert lost[0].exc_info is None
    assert any("back after" in r.getMessage() for r in caplog.records)
