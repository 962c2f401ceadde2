"""gmcrm.send.report.OutboxStatus is the outbox table's own list of statuses (its CHECK constraint)."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from gmcrm.send.report import OutboxStatus

pytestmark = pytest.mark.integration


def test_the_enum_is_the_tables_check(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'trigger_outbox_status_check'"
    ).fetchone()
    assert row is not None
    assert set(re.findall(r"'([A-Z_]+)'", row[0])) == set(OutboxStatus)
