"""The DMS schema is created and upgraded by migrations; upgrading twice changes nothing."""

from __future__ import annotations

import psycopg

from gmcrm import migrate

SCHEMA_QUERY = """
SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default
FROM information_schema.columns
WHERE table_schema IN ('dms', 'gmcrm')
ORDER BY 1, 2, 3
"""

REQUIRED_TABLES = {
    ("gmcrm", "dealership"),
    ("gmcrm", "contact_setting"),
    ("gmcrm", "trigger_outbox"),
    ("gmcrm", "lead_quarantine"),
    ("dms", "app_user"),
    ("dms", "department"),
    ("dms", "customer"),
    ("dms", "contact"),
    ("dms", "parts_counter_service"),
    ("dms", "internal_mail"),
}


def _snapshot(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(SCHEMA_QUERY).fetchall()


def test_empty_database_upgrades_to_head(empty_db_url: str) -> None:
    assert migrate.status(empty_db_url).applied == []
    applied = migrate.upgrade(empty_db_url)
    assert applied, "an empty database has migrations to apply"
    state = migrate.status(empty_db_url)
    assert state.pending == []
    assert state.applied == applied
    tables = {(row[0], row[1]) for row in _snapshot(empty_db_url)}
    assert REQUIRED_TABLES <= tables


def test_upgrading_twice_changes_nothing(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    before = _snapshot(empty_db_url)
    assert migrate.upgrade(empty_db_url) == []
    assert _snapshot(empty_db_url) == before


def test_contact_columns_of_the_spec_exist(dms_url: str) -> None:
    with psycopg.connect(dms_url) as conn:
        cols = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'dms' AND table_name = 'contact'"
            )
        }
    expected = {
        "id",
        "dealer_code",
        "customer_id",
        "lead_id",
        "lead_type",
        "department_id",
        "contact_type",
        "contact_subtype",
        "description",
        "traffic_origin",
        "status",
        "assigned_user_id",
        "distribution_owner_user_id",
        "gm_stage",
        "gm_substage",
        "gm_modstamp",
        "created_at",
        "updated_at",
        "gm_deleted_at",
    }
    assert expected <= cols
