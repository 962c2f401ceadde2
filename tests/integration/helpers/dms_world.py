"""A seeded DMS for tests of the DMS side: dealerships, users, catalogues, and contacts made by SQL.

``DmsWorld.seed(conn)`` runs the demo seeds (BR0001 DIRECT, BR0002 DISTRIBUTION, BR0003 DIRECT; their
users; contact forms, reasons, vehicle models; the trigger catalogue) and gives look-ups by name.
Contacts are created directly, as the import (or a DMS screen, for contacts without a lead) would.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gmcrm import db, dealerships, dms_catalogues
from gmcrm_devtools import demo_seed

_lead_seq = itertools.count(1)


def seeded_database(server_url: str, template: str) -> str:
    """A new database cloned from the migrated ``template`` and seeded (see :meth:`DmsWorld.seed`)."""
    name = f"gmcrm_seeded_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = db.with_database(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        DmsWorld.seed(conn)
    return url


def new_lead_id() -> str:
    """A GM Lead ID shaped like an Opportunity Id (18 characters, prefix 006), unique per session."""
    return f"006TEST{next(_lead_seq):011d}"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    dealer_code: str
    lead_id: str
    contact_id: int | None
    trigger_code: str
    step: int
    occurred_at: datetime
    contact_form_id: int | None
    reason_id: int | None
    vehicle_model_id: int | None
    vehicle_model_year: str | None
    trade_in: dict[str, Any] | None
    user_id: int | None
    source_table: str | None
    source_id: int | None
    status: str


@dataclass
class DmsWorld:
    conn: psycopg.Connection[Any]

    @classmethod
    def seed(cls, conn: psycopg.Connection[Any]) -> DmsWorld:
        with conn.transaction():
            demo_seed.seed_demo_world(conn)
        return cls(conn=conn)

    # -- look-ups -------------------------------------------------------------------------------
    def user(self, login: str, dealer_code: str = "BR0001") -> int:
        return dealerships.user_id(self.conn, dealer_code, login)

    def form(self, form_type: str | None, dealer_code: str = "BR0001") -> int:
        return dms_catalogues.contact_form_id(self.conn, dealer_code, form_type)

    def reason(self, code: str, dealer_code: str = "BR0001") -> int:
        return dms_catalogues.reason_id(self.conn, dealer_code, code)

    def model(self, code: str, dealer_code: str = "BR0001") -> int:
        return dms_catalogues.vehicle_model_id(self.conn, dealer_code, code)

    # -- contacts -------------------------------------------------------------------------------
    def contact(
        self,
        lead_type: str | None = "NEW_VEHICLE",
        *,
        dealer_code: str = "BR0001",
        with_lead: bool = True,
        status: str = "IN_QUEUE",
        assigned_login: str | None = "vendedor.vn",
        owner_login: str | None = None,
        contact_form_type: str | None = None,
        customer_name: str = "Ana Beatriz Conceição",
    ) -> int:
        """A customer and a contact; with a GM Lead ID unless ``with_lead`` is false."""
        customer_id = self._one(
            "INSERT INTO dms.customer (dealer_code, name, person_type, email) VALUES (%s, %s, 'F', %s) RETURNING id",
            (dealer_code, customer_name, f"cliente{next(_lead_seq)}@example.com.br"),
        )
        queued = assigned_login and status != "AWAITING_DISTRIBUTION"
        assigned = self.user(assigned_login, dealer_code) if queued and assigned_login else None
        owner = self.user(owner_login, dealer_code) if owner_login else None
        form_id = self.form(contact_form_type, dealer_code) if contact_form_type else None
        return self._one(
            "INSERT INTO dms.contact (dealer_code, customer_id, lead_id, lead_type, status, assigned_user_id, "
            "distribution_owner_user_id, contact_form_id, description) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                dealer_code,
                customer_id,
                new_lead_id() if with_lead else None,
                lead_type,
                status,
                assigned,
                owner,
                form_id,
                "Contato de teste",
            ),
        )

    def contact_status(self, contact_id: int) -> str:
        row = self.conn.execute("SELECT status FROM dms.contact WHERE id = %s", (contact_id,)).fetchone()
        assert row is not None
        return str(row[0])

    # -- activity, as DMS screens write it --------------------------------------------------------
    def action(
        self,
        contact_id: int,
        kind: str,
        *,
        result: str | None = None,
        form_type: str | bool | None = False,
        reason: str | None = None,
        login: str = "vendedor.vn",
        dealer_code: str = "BR0001",
    ) -> int:
        """A providência. ``form_type`` False: no form given; None: the form with no type."""
        form_id = None
        if form_type is not False:
            form_id = self.form(form_type if isinstance(form_type, str) else None, dealer_code)
        return self._one(
            "INSERT INTO dms.contact_action (contact_id, kind, result, contact_form_id, reason_id, user_id) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                contact_id,
                kind,
                result,
                form_id,
                self.reason(reason, dealer_code) if reason else None,
                self.user(login, dealer_code),
            ),
        )

    def _one(self, query: str, params: tuple[Any, ...]) -> int:
        row = self.conn.execute(query, params).fetchone()
        assert row is not None
        return int(row[0])

    # -- the outbox ------------------------------------------------------------------------------
    def outbox(self, contact_id: int | None = None) -> list[OutboxRow]:
        query = (
            "SELECT id, dealer_code, lead_id, contact_id, trigger_code, step, occurred_at, contact_form_id, "
            "reason_id, vehicle_model_id, vehicle_model_year, trade_in, user_id, source_table, source_id, status "
            "FROM gmcrm.trigger_outbox"
        )
        params: tuple[Any, ...] = ()
        if contact_id is not None:
            query += " WHERE contact_id = %s"
            params = (contact_id,)
        with self.conn.cursor(row_factory=dict_row) as cur:
            return [OutboxRow(**r) for r in cur.execute(query + " ORDER BY id", params).fetchall()]

    def codes(self, contact_id: int | None = None) -> list[str]:
        """Trigger codes in outbox order (a two-step trigger appears twice; see ``steps``)."""
        return [r.trigger_code for r in self.outbox(contact_id)]

    def steps(self, contact_id: int | None = None) -> list[tuple[str, int]]:
        return [(r.trigger_code, r.step) for r in self.outbox(contact_id)]

    def count(self, table: str, where: str = "true", params: tuple[Any, ...] = ()) -> int:
        row = self.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()
        assert row is not None
        return int(row[0])
