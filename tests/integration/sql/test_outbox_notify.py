"""NOTIFY gmcrm_outbox (routines 25-26.gmcrm.notify_outbox_*): what wakes the sender, once per dealership per
transaction, at commit; and what must not (the sender's own updates, or every run would wake the next)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.integration

CHANNEL = "gmcrm_outbox"


@pytest.fixture
def listener(dms_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dms_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn


@pytest.fixture
def writer(dms_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dms_url, autocommit=True) as conn:
        yield conn


def received(listener: psycopg.Connection[Any], wait: float = 0.5) -> list[str]:
    """Every notification delivered within ``wait`` seconds of the last one (or of the call)."""
    return [n.payload for n in listener.notifies(timeout=wait) if n.channel == CHANNEL]


def insert(conn: psycopg.Connection[Any], dealer_code: str, n: int = 1, status: str = "PENDING") -> list[int]:
    rows = conn.execute(
        """
        INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, trigger_code, status)
        SELECT %s, '006' || lpad(g::text, 15, '0'), 'CRE', %s FROM generate_series(1, %s) g
        RETURNING id
        """,
        (dealer_code, status, n),
    ).fetchall()
    return [int(r[0]) for r in rows]


def test_twenty_events_in_one_transaction_make_one_notification_at_commit(
    listener: psycopg.Connection[Any], writer: psycopg.Connection[Any]
) -> None:
    with writer.transaction():
        for _ in range(20):  # twenty statements, as a screen saving twenty events would
            insert(writer, "BR0001")
        assert received(listener, 0.3) == []  # nothing before the commit
    assert received(listener) == ["BR0001"]


def test_one_notification_per_dealership_and_none_for_a_rollback(
    listener: psycopg.Connection[Any], writer: psycopg.Connection[Any]
) -> None:
    with writer.transaction():
        insert(writer, "BR0001", 5)
        insert(writer, "BR0003", 2)
        insert(writer, "BR0001", 1)
    assert sorted(received(listener)) == ["BR0001", "BR0003"]

    with pytest.raises(RuntimeError), writer.transaction():
        insert(writer, "BR0002", 3)
        raise RuntimeError("the screen's save fails")
    assert received(listener) == []


def test_requeue_unblock_and_skip_wake_the_sender(
    listener: psycopg.Connection[Any], writer: psycopg.Connection[Any]
) -> None:
    failed, blocked, other = insert(writer, "BR0001", 3)
    writer.execute("UPDATE gmcrm.trigger_outbox SET status = 'FAILED' WHERE id = %s", (failed,))
    writer.execute("UPDATE gmcrm.trigger_outbox SET status = 'BLOCKED' WHERE id = %s", (blocked,))
    received(listener, 0.3)  # the inserts' notification

    writer.execute("UPDATE gmcrm.trigger_outbox SET status = 'PENDING' WHERE id = %s", (failed,))  # retry
    assert received(listener) == ["BR0001"]
    writer.execute("UPDATE gmcrm.trigger_outbox SET status = 'SKIPPED' WHERE id = %s", (blocked,))  # skip
    assert received(listener) == ["BR0001"]
    assert other


def test_the_senders_own_updates_do_not_wake_it(
    listener: psycopg.Connection[Any], writer: psycopg.Connection[Any]
) -> None:
    ids = insert(writer, "BR0001", 4)
    assert received(listener) == ["BR0001"]
    a, b, c, d = ids
    # A claim and its release, then the outcomes: SENT, RETRY with its backoff, FAILED, and a claim
    # that expires; none of them makes anything newly sendable now.
    writer.execute(
        "UPDATE gmcrm.trigger_outbox SET claimed_by = 'w', claimed_until = now() + interval '1 minute' "
        "WHERE id = ANY(%s)",
        (ids,),
    )
    writer.execute("UPDATE gmcrm.trigger_outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = %s", (d,))
    writer.execute("UPDATE gmcrm.trigger_outbox SET status = 'SENT', sent_at = now() WHERE id = %s", (a,))
    writer.execute(
        "UPDATE gmcrm.trigger_outbox SET status = 'RETRY', next_attempt_at = now() + interval '1 minute' WHERE id = %s",
        (b,),
    )
    writer.execute("UPDATE gmcrm.trigger_outbox SET status = 'FAILED' WHERE id = %s", (c,))
    assert received(listener) == []
    # An event inserted already blocked is not sendable either.
    insert(writer, "BR0002", 1, status="BLOCKED")
    assert received(listener) == []


def _trigger_ms(conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...]) -> float:
    """The requeue trigger's time in one UPDATE, as EXPLAIN ANALYZE reports it (the update rolled back)."""
    plan = ""
    with conn.transaction():
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN ANALYZE " + statement, params).fetchall())
        raise psycopg.Rollback()
    line = next(x for x in plan.splitlines() if x.startswith("Trigger trigger_outbox_notify_requeue"))
    return float(line.split("time=")[1].split()[0])


def test_the_wakeup_check_of_a_big_update_costs_what_its_rows_do_not_their_square(
    writer: psycopg.Connection[Any],
) -> None:
    # The sender updates 200-2,000 rows a statement (claims, outcomes). The trigger's transition tables carry
    # no statistics; once the session's cached plan expected one row, the join of the old and new rows ran
    # as a nested loop over both: 6,000 rows cost 6,000 x 6,000 comparisons (0.37 s for 2,000 in the send
    # benchmark's every claim). Small updates first, as a sender's session starts, then a big one.
    ids = insert(writer, "BR0001", 6_000)
    for i in range(8):
        writer.execute("UPDATE gmcrm.trigger_outbox SET claimed_by = %s WHERE id = %s", (f"w{i}", ids[i]))
    claim = "UPDATE gmcrm.trigger_outbox SET claimed_by = 'big' WHERE id = ANY(%s)"
    assert _trigger_ms(writer, claim, (ids,)) < 200  # quadratic: seconds
    # and a requeue of as many FAILED events (the join runs) is linear too
    writer.execute("UPDATE gmcrm.trigger_outbox SET status = 'FAILED' WHERE id = ANY(%s)", (ids,))
    requeue = "UPDATE gmcrm.trigger_outbox SET status = 'PENDING' WHERE id = ANY(%s)"
    assert _trigger_ms(writer, requeue, (ids,)) < 200
