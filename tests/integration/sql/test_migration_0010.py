"""Migration 0010 (lead end) on a database that already has waiting events, and its rollback."""

from __future__ import annotations

from typing import Any

import psycopg
from yoyo import get_backend, read_migrations

from gmcrm import migrate
from gmcrm.paths import MIGRATIONS_DIR

THIS = "0010.lead-end"


def _migrate(url: str, *, upto: str | None = None, rollback: str | None = None) -> None:
    """``gmcrm db upgrade``, or the migrations before ``upto`` (with the routines the schema needs:
    the key functions of dms.customer's generated columns), or the rollback of one migration."""
    if upto is None and rollback is None:
        migrate.upgrade(url)
        return
    if upto is not None:
        migrate.apply_routines(url, schema_only=True)
    backend = get_backend(migrate._yoyo_url(url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            if rollback:
                backend.rollback_migrations(backend.to_rollback(migrations.filter(lambda m: m.id == rollback)))
            else:
                backend.apply_migrations(backend.to_apply(migrations.filter(lambda m: m.id < str(upto))))
    finally:
        backend.connection.close()


def _statuses(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str, str | None]]:
    return conn.execute(
        "SELECT lead_id, trigger_code, status, cancelled_reason FROM gmcrm.trigger_outbox ORDER BY id"
    ).fetchall()


def test_waiting_events_of_deleted_or_closed_leads_are_cancelled_and_the_rollback_keeps_them_unsent(
    empty_db_url: str,
) -> None:
    _migrate(empty_db_url, upto=THIS)
    with psycopg.connect(empty_db_url) as conn:
        customer = conn.execute(
            "INSERT INTO dms.customer (dealer_code, name, person_type) VALUES ('BR0001', 'Ana', 'F') RETURNING id"
        ).fetchone()
        assert customer is not None
        for lead, deleted in (("006DELETED00000001", True), ("006CLOSED000000001", False)):
            contact = conn.execute(
                "INSERT INTO dms.contact (dealer_code, customer_id, lead_id, lead_type, status, gm_deleted_at) "
                "VALUES ('BR0001', %s, %s, 'NEW_VEHICLE', 'IN_PROGRESS', CASE WHEN %s THEN now() END) RETURNING id",
                (customer[0], lead, deleted),
            ).fetchone()
            assert contact is not None
            codes = ("LIM", "CRE", "TDA") if deleted else ("LIM", "VPE", "CRE")
            statuses = ("SENT", "FAILED", "BLOCKED") if deleted else ("SENT", "SENT", "PENDING")
            for code, status in zip(codes, statuses, strict=True):
                conn.execute(
                    "INSERT INTO gmcrm.trigger_outbox (dealer_code, lead_id, contact_id, trigger_code, status) "
                    "VALUES ('BR0001', %s, %s, %s, %s)",
                    (lead, contact[0], code, status),
                )

    _migrate(empty_db_url)
    with psycopg.connect(empty_db_url) as conn:
        rows = _statuses(conn)
    assert [r[:3] for r in rows] == [
        ("006DELETED00000001", "LIM", "SENT"),
        ("006DELETED00000001", "CRE", "CANCELLED"),
        ("006DELETED00000001", "TDA", "CANCELLED"),
        ("006CLOSED000000001", "LIM", "SENT"),
        ("006CLOSED000000001", "VPE", "SENT"),
        ("006CLOSED000000001", "CRE", "CANCELLED"),
    ]
    assert "lead deleted at GM" in str(rows[1][3]) and "lead deleted at GM" in str(rows[2][3])
    assert "after the close, not sent" in str(rows[5][3]) and "VPE" in str(rows[5][3])

    _migrate(empty_db_url, rollback=THIS)
    with psycopg.connect(empty_db_url) as conn:
        after = conn.execute("SELECT status, skipped_reason FROM gmcrm.trigger_outbox ORDER BY id").fetchall()
        assert [a[0] for a in after] == ["SENT", "SKIPPED", "SKIPPED", "SENT", "SENT", "SKIPPED"]
        assert "lead deleted at GM" in str(after[1][1])
        table = conn.execute("SELECT to_regclass('gmcrm.activity_not_sent')").fetchone()
        assert table == (None,)
    _migrate(empty_db_url)  # and forward again
