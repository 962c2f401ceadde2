"""The integration's least-privilege role (migration 0018, ``gmcrm_integration``), on a real PostgreSQL.

A login user granted the role, as a deployer makes one (docs/deployment.md), runs the import, the DMS's
distribution, the send, the UI pages' queries and ``reasons map``; the same user cannot drop, truncate or
alter anything, cannot read a DMS table the integration never uses, and gets nothing of a DMS table added
later. The DMS's own screens (``gmcrm_devtools.dms_actions``) and the seed run as the owner, as the DMS does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from gmcrm import dms_catalogues, lead_log, ops_queries
from gmcrm.cli import app
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.send import contacts, gm_codes, import_leads, outbox, seed, send

pytestmark = pytest.mark.integration

ROLE = "gmcrm_integration"


@pytest.fixture
def app_url(dms_url: str, conn: psycopg.Connection[Any]) -> Iterator[str]:
    """A login user that holds only ``gmcrm_integration`` (the deployer's ``gmcrm_app``), for this database."""
    user = f"gmcrm_app_{uuid.uuid4().hex[:10]}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(sql.Identifier(user), sql.Identifier(ROLE)))
    try:
        # A URI (the test databases' URLs are URIs), as yoyo needs one for `gmcrm db upgrade`.
        parts = urlsplit(dms_url)
        yield urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rsplit('@', 1)[-1]}"))
    finally:
        # The role is the cluster's: the test database is dropped after this, so revoke here to drop it.
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))


def test_the_group_role_exists_and_cannot_sign_in(conn: psycopg.Connection[Any], dms_url: str) -> None:
    row = conn.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = %s",
        (ROLE,),
    ).fetchone()
    assert row == (False, False, False, False, False)
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(make_conninfo(dms_url, user=ROLE)).close()


def test_import_distribution_send_and_pages_run_as_the_role(
    conn: psycopg.Connection[Any], app_url: str, gm_sandbox: SandboxProcess
) -> None:
    seed(conn)  # the DMS's dealerships, users and catalogues: the owner's job
    # BR0001 DIRECT, BR0002 DISTRIBUTION, a parts lead of BR0003 (counter service and internal mail).
    lead_ids = import_leads(
        app_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0002", "USED_VEHICLE"), ("BR0003", "PARTS")
    )
    direct, distributed, parts = contacts(conn, lead_ids)
    # The parts lead opened a counter service and mailed its salesperson.
    for table in ("parts_counter_service", "internal_mail"):
        count = conn.execute(f"SELECT count(*) FROM dms.{table} WHERE contact_id = %s", (parts,)).fetchone()
        assert count == (1,), table
    assert dms.contact_of_lead(conn, lead_ids[1]) == distributed
    dms.register_contact(conn, direct, "PHONE")  # the DMS's screens, as the DMS's owner

    with psycopg.connect(app_url) as app:
        report = send(app)
        assert report.failed == [], report.failed
        states = {(o.lead_id, o.trigger_code): o.status for o in outbox(app)}
        # The pages and the commands read as the role too.
        assert lead_log.timeline(app, lead_ids[0])
        assert ops_queries.dealerships(app)
        reasons = dms_catalogues.list_reasons(app, "BR0001")
        assert reasons
        dms_catalogues.map_reason(app, "BR0001", reasons[0][0], "NotInterested")
        app.commit()
    assert states[(lead_ids[0], "LIM")] == "SENT"
    assert states[(lead_ids[0], "CRE")] == "SENT"  # the contact the DMS recorded, sent by the role
    assert gm_codes(gm_sandbox, lead_ids[0]) == ["LIM", "LAT", "CRE"]


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE dms.contact",
        "DROP TABLE gmcrm.trigger_outbox",
        "TRUNCATE dms.customer",
        "TRUNCATE gmcrm.send_log",
        "ALTER TABLE gmcrm.trigger_outbox ADD COLUMN x int",
        "CREATE TABLE gmcrm.scratch (x int)",
        "CREATE TABLE dms.scratch (x int)",
        "DELETE FROM dms.customer",
        "DELETE FROM dms.contact",
        "UPDATE dms.reason SET description = 'x'",
        "UPDATE dms.app_user SET department_id = NULL",
        "SELECT count(*) FROM dms.invoice",
        "SELECT count(*) FROM dms.test_drive",
        "SELECT count(*) FROM dms.proposal",
        "CREATE OR REPLACE FUNCTION gmcrm.digits(text) RETURNS text LANGUAGE sql AS 'SELECT $1'",
    ],
)
def test_the_role_cannot_change_the_schema_or_read_what_it_does_not_need(app_url: str, statement: str) -> None:
    with psycopg.connect(app_url, autocommit=True) as app, pytest.raises(errors.InsufficientPrivilege):
        app.execute(statement)


def test_a_dms_table_added_later_stays_closed(conn: psycopg.Connection[Any], app_url: str) -> None:
    # A representative table of the DMS's own (finance), created by the owner after the migrations.
    conn.execute("CREATE TABLE dms.salesperson_commission (user_id bigint, amount numeric)")
    conn.execute("INSERT INTO dms.salesperson_commission VALUES (1, 1234.56)")
    # gmcrm's tables added later are the integration's: the owner's default privileges grant them.
    conn.execute("CREATE TABLE gmcrm.later_table (x int)")
    with psycopg.connect(app_url, autocommit=True) as app:
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("SELECT * FROM dms.salesperson_commission")
        app.execute("INSERT INTO gmcrm.later_table VALUES (1)")
        assert app.execute("SELECT x FROM gmcrm.later_table").fetchall() == [(1,)]


def test_the_commands_people_run_work_as_the_role(conn: psycopg.Connection[Any], app_url: str) -> None:
    seed(conn)
    runner = CliRunner()
    for args, codes in (
        (["dealership", "list"], {0}),
        (["dealership", "check", "BR0001"], {0, 1}),  # 1: something to fix, which is an answer
        (["dealership", "check", "BR0042"], {0, 1}),  # DMS-only: reads its departments, users, types, origins
        (["quarantine", "list"], {0}),
        (["events", "list", "--status", "FAILED"], {0}),
        (["reasons", "list", "BR0001", "--unmapped"], {0}),
    ):
        result = runner.invoke(app, [*args, "--dms-url", app_url])
        assert result.exit_code in codes, (args, result.output)
        assert "permission denied" not in result.output.lower(), (args, result.output)
    # Migrations are the owner's: the role cannot even read yoyo's bookkeeping.
    upgrade = runner.invoke(app, ["db", "upgrade", "--dms-url", app_url])
    assert upgrade.exit_code == 1 and "permission denied" in upgrade.output.lower(), upgrade.output
