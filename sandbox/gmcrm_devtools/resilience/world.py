"""The world each fault class starts from: leads of a few people at GM, DMS activity on them.

Three dealerships of the demo (BR0001 and BR0003 DIRECT, BR0002 DISTRIBUTION). Every lead belongs to a
known person (the ground truth for "one person, one customer"): most people have one lead, one person per
dealership has two (the second carrying only the e-mail, as a person who asks twice from another form).
Wave 1 leads were created two days ago (a dealership's backlog of open leads); BR0003 is enabled only
after the baseline cycle, so its first import (all its open leads, older than any lookback) happens
under the fault, the case where a lost lead is never read again. Wave 2 leads arrive at GM just before
the fault.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from faker import Faker

from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess

DEALERS = ("BR0001", "BR0002", "BR0003")
LATE_DEALER = "BR0003"  # enabled after the baseline: its first import meets the fault
LEAD_TYPES = ("New Vehicle", "Used Vehicle", "Service", "New Vehicle", "Parts")
TEST_DRIVE_MODEL = "ONIX-10T-PREMIER-25"


def _sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class LeadFactory:
    """GM leads (admin API field names) of distinct, valid people; deterministic per seed."""

    def __init__(self, seed: int) -> None:
        self.fake = Faker("pt_BR")
        self.fake.seed_instance(seed)
        self.counter = itertools.count(1)

    def person(self) -> dict[str, Any]:
        n = next(self.counter)
        return {
            "key": f"p{n}-{uuid.uuid4().hex[:6]}",
            "First_Name__c": self.fake.first_name(),
            "Last_Name__c": self.fake.last_name(),
            "Document_Number__c": self.fake.cpf(),
            "Email__c": f"cliente{n}.{uuid.uuid4().hex[:8]}@exemplo.com.br",
            "Mobile_Phone__c": f"(11) 9{n % 10}{(n * 7919) % 1000:03d}-{(n * 104729) % 10000:04d}",
        }

    def lead(self, person: dict[str, Any], dealer: str, lead_type: str, *, only_email: bool = False) -> dict[str, Any]:
        record = {k: v for k, v in person.items() if k != "key"}
        if only_email:
            record["Document_Number__c"] = None
            record["Mobile_Phone__c"] = None
        record.update(
            {
                "Dealer_Code__c": dealer,
                "Lead_Type__c": lead_type,
                "StageName": "New",
                "Model_Of_Interest__c": "Onix",
                "Model_Year__c": "2026",
                "Lead_Source__c": "Website",
                "Comments__c": "Gostaria de mais informações.",
            }
        )
        return record


@dataclass
class World:
    """Who each lead at GM belongs to, and the DMS activity recorded so far."""

    person_of: dict[str, str] = field(default_factory=dict)  # GM Lead ID -> person key
    dealer_of: dict[str, str] = field(default_factory=dict)
    actions: int = 0
    factory: LeadFactory = field(default_factory=lambda: LeadFactory(0), repr=False)


def create_wave(
    sandbox: SandboxProcess,
    world: World,
    factory: LeadFactory,
    dealers: tuple[str, ...],
    people_per_dealer: int,
    created: datetime | None,
) -> list[str]:
    """People with one lead each, one of them with a second lead (e-mail only); their Lead IDs."""
    leads: list[dict[str, Any]] = []
    persons: list[str] = []
    for dealer in dealers:
        people = [factory.person() for _ in range(people_per_dealer)]
        for i, person in enumerate(people):
            leads.append(factory.lead(person, dealer, LEAD_TYPES[i % len(LEAD_TYPES)]))
            persons.append(person["key"])
        leads.append(factory.lead(people[0], dealer, "Used Vehicle", only_email=True))
        persons.append(people[0]["key"])
    if created is not None:
        for i, record in enumerate(leads):
            stamp = _sf_time(created + timedelta(seconds=i))
            record["CreatedDate"] = record["SystemModstamp"] = stamp
    saved = sandbox.admin.create_leads(leads)
    for stored, person_key in zip(saved, persons, strict=True):
        world.person_of[stored["Id"]] = person_key
        world.dealer_of[stored["Id"]] = stored["Dealer_Code__c"]
    return [r["Id"] for r in saved]


def start_world(sandbox: SandboxProcess, conn: psycopg.Connection[Any], seed: int, people: int = 4) -> World:
    """A reset sandbox with wave 1 (two days old), BR0003 not yet enabled."""
    sandbox.admin.reset(empty=True)
    sandbox.admin.set_clock()
    world = World(factory=LeadFactory(seed))
    create_wave(sandbox, world, world.factory, DEALERS, people, datetime.now(UTC) - timedelta(days=2))
    conn.execute("UPDATE gmcrm.dealership SET integration_enabled = false WHERE dealer_code = %s", (LATE_DEALER,))
    return world


def second_wave(sandbox: SandboxProcess, conn: psycopg.Connection[Any], world: World, people: int = 2) -> None:
    """BR0003 enabled (its first import is next) and new leads at GM for the others."""
    conn.execute("UPDATE gmcrm.dealership SET integration_enabled = true WHERE dealer_code = %s", (LATE_DEALER,))
    create_wave(sandbox, world, world.factory, ("BR0001", "BR0002"), people, None)


def _contacts(conn: psycopg.Connection[Any], dealer: str, lead_types: tuple[str, ...]) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM dms.contact WHERE dealer_code = %s AND lead_type = ANY(%s) AND lead_id IS NOT NULL "
            "ORDER BY id",
            (dealer, list(lead_types)),
        )
    ]


def dms_activity(conn: psycopg.Connection[Any], world: World) -> int:
    """What dealership staff do in the DMS screens on the imported leads; how many actions.

    Each action in its own transaction (autocommit), as a screen does; the DMS's own triggers record the
    GM events in the outbox.
    """
    done = 0
    for dealer in ("BR0001", "BR0003"):
        for contact in _contacts(conn, dealer, ("NEW_VEHICLE", "USED_VEHICLE")):
            dms.register_contact(conn, contact, "PHONE")
            dms.schedule_test_drive(conn, contact, TEST_DRIVE_MODEL)
            done += 2
        for contact in _contacts(conn, dealer, ("SERVICE",)):
            dms.register_no_contact(conn, contact)
            done += 1
    waiting = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM dms.contact WHERE dealer_code = 'BR0002' AND status = 'AWAITING_DISTRIBUTION' ORDER BY id"
        )
    ]
    if waiting:
        dms.distribute_contacts(conn, waiting, ["vendedor.vn"])
        done += len(waiting)
    world.actions += done
    return done
