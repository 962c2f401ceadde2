"""One person, one customer, however the leads arrive: the set-based load matches as one-at-a-time loads do.

The reference is the spec's rule applied lead by lead: in CreatedDate order (then lead id), each new
lead looks its customer up in the dealership's base (a customer it made before, then document,
e-mail, mobile/phone; the lowest id wins), the base including the customers made by the earlier
leads; a lead that matches nothing makes a basic customer. Loading every lead in a load of its own
is that rule by construction, so one load of the whole batch must give every lead the same customer.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gmcrm import db
from gmcrm.gm_mapping import GmMapping, load_mapping
from tests.integration.helpers.imports import seed
from tests.integration.helpers.match import (
    Lead,
    Person,
    add_customer,
    add_dealership,
    created_order,
    customer_labels,
    gm_record,
    lead_id,
    partition,
    stage_and_load,
    stage_and_load_together,
)

pytestmark = pytest.mark.integration

# Small pools, so that keys are shared and conflict often. Each value in several spellings that the
# spec's rules make equal (document digits, e-mail case and spaces, phone country code and format).
DOCUMENTS = (("529.982.247-25", "52998224725"), ("111.444.777-35", "11144477735"), ("12345678909",))
EMAILS = (("ana@exemplo.com.br", " ANA@Exemplo.com.br"), ("bia@exemplo.com.br",), ("Caio@Exemplo.com.br",))
PHONES = (("(11) 98765-4321", "+55 11 98765-4321", "11987654321"), ("(21) 3456-7890", "2134567890"))


def _spelling(pool: tuple[tuple[str, ...], ...]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(pool).flatmap(st.sampled_from))


persons = st.builds(
    Person,
    document=_spelling(DOCUMENTS),
    email=_spelling(EMAILS),
    phone=_spelling(PHONES),
    mobile_phone=_spelling(PHONES),
)
leads = st.builds(
    Lead,
    keys=persons,
    created_minute=st.integers(0, 3),
    modstamp_minute=st.integers(0, 5),
    is_open=st.sampled_from((True, True, True, True, False)),
    loaded_before=st.sampled_from((False, False, False, False, False, True)),
)


@pytest.fixture(scope="module")
def matching_db(pg_server_url: str, dms_template: str) -> Iterator[str]:
    """One database for the module: every example uses dealerships of its own (matching is per
    dealership), so examples never see each other's customers."""
    name = f"gmcrm_m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{dms_template}"')
    url = db.with_database(pg_server_url, name)
    with psycopg.connect(url) as conn:
        seed(conn)
    yield url
    db.drop_database(pg_server_url, name)


_dealers = itertools.count(1)


def _customer_ids(conn: psycopg.Connection[Any], dealer: str) -> set[int]:
    return {r[0] for r in conn.execute("SELECT id FROM dms.customer WHERE dealer_code = %s", (dealer,))}


def _compare(url: str, batch: list[Lead], existing: list[Person]) -> None:
    """Load ``batch`` in one load into one dealership and one lead per load into another, and
    assert that every lead got the same customer in both. Leads marked ``loaded_before`` are loaded
    (one at a time) into both first: in the one load they are re-read, and make or match nothing."""
    n = next(_dealers)
    together, one_by_one = f"M{n:05d}", f"Q{n:05d}"
    mapping: GmMapping = load_mapping()
    in_order = created_order(batch)
    with psycopg.connect(url) as conn:
        before: dict[str, list[int]] = {}
        there: dict[str, set[int]] = {}
        for code in (together, one_by_one):
            add_dealership(conn, code)
            before[code] = [add_customer(conn, code, f"Cliente {i}", p) for i, p in enumerate(existing)]
            for i in in_order:
                if batch[i].loaded_before:
                    stage_and_load(conn, code, [gm_record(code, i, batch[i])], mapping)
            there[code] = _customer_ids(conn, code)

        result = stage_and_load(conn, together, [gm_record(together, i, x) for i, x in enumerate(batch)], mapping)
        singles = [
            stage_and_load(conn, one_by_one, [gm_record(one_by_one, i, batch[i])], mapping)
            for i in in_order
            if not batch[i].loaded_before
        ]

        expected = customer_labels(conn, one_by_one, before[one_by_one])
        got = customer_labels(conn, together, before[together])
        assert len(expected) == sum(x.is_open for x in batch)
        assert partition(got) == partition(expected)
        assert got == expected
        made = sum(s.customers_created for s in singles)
        assert result.customers_created == made
        assert len(_customer_ids(conn, together)) == len(_customer_ids(conn, one_by_one)) == len(there[together]) + made
        # customers_matched counts the new leads whose customer was there before this load.
        new = [lead_id(together, i) for i, x in enumerate(batch) if x.is_open and not x.loaded_before]
        customers = conn.execute("SELECT customer_id FROM dms.contact WHERE lead_id = ANY(%s)", (new,)).fetchall()
        assert result.customers_matched == sum(c in there[together] for (c,) in customers)
        assert result.contacts_created == len(new)


def test_one_person_in_one_load_is_one_customer(matching_db: str) -> None:
    """A CPF lead, an e-mail lead and a phone lead of one person in one load: one customer."""
    person = Lead(Person("529.982.247-25", "ana@exemplo.com.br", None, "(11) 98765-4321"), 0, 0)
    by_email = Lead(Person(email=" ANA@Exemplo.com.br"), 1, 1)
    by_phone = Lead(Person(phone="+55 11 98765-4321"), 2, 2)  # the person's mobile, on the phone field
    n = next(_dealers)
    code = f"M{n:05d}"
    with psycopg.connect(matching_db) as conn:
        add_dealership(conn, code)
        records = [gm_record(code, i, x) for i, x in enumerate((person, by_email, by_phone))]
        result = stage_and_load(conn, code, records, load_mapping())
        customers = conn.execute(
            "SELECT count(DISTINCT customer_id) FROM dms.contact WHERE dealer_code = %s", (code,)
        ).fetchone()
    assert (result.contacts_created, result.customers_created, result.customers_matched) == (3, 1, 0)
    assert customers == (1,)
    _compare(matching_db, [person, by_email, by_phone], [])


def test_an_earlier_lead_decides_what_later_ones_match(matching_db: str) -> None:
    """Order matters, as one at a time: the e-mail lead first makes a customer with the e-mail only;
    the full lead then matches it by e-mail (no customer has the CPF yet) and makes nothing; the phone
    lead finds no customer with that phone and makes its own. A customer there before with the phone
    wins over none."""
    full = Lead(Person("529.982.247-25", "ana@exemplo.com.br", None, "(11) 98765-4321"), 1, 0)
    by_email = Lead(Person(email="ana@exemplo.com.br"), 0, 1)
    by_phone = Lead(Person(phone="11987654321"), 2, 2)
    _compare(matching_db, [full, by_email, by_phone], [])
    _compare(matching_db, [full, by_email, by_phone], [Person(mobile_phone="+55 11 98765-4321")])


@settings(
    max_examples=80,
    deadline=None,
    database=None,  # no .hypothesis directory in the worktree; failures print their example
    suppress_health_check=[HealthCheck.too_slow],
)
@given(batch=st.lists(leads, min_size=1, max_size=8), existing=st.lists(persons, max_size=3))
def test_one_load_matches_as_one_lead_at_a_time(matching_db: str, batch: list[Lead], existing: list[Any]) -> None:
    _compare(matching_db, batch, existing)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(leads, min_size=1, max_size=6), min_size=2, max_size=4),
    existing=st.lists(persons, max_size=2),
)
def test_dealerships_loaded_together_load_as_each_alone(
    matching_db: str, batches: list[list[Lead]], existing: list[Person]
) -> None:
    """Several dealerships in one load statement (as a load task loads a chunk of its group) give each
    lead the customer, and each dealership the counts, that loading that dealership alone gives. The
    dealerships' leads share keys (the same small pools): no lead matches another dealership's customer."""
    n = next(_dealers)
    together = [f"G{n:05d}{i}" for i in range(len(batches))]
    alone = [f"A{n:05d}{i}" for i in range(len(batches))]
    mapping = load_mapping()
    with psycopg.connect(matching_db) as conn:
        before: dict[str, list[int]] = {}
        for code, batch in zip(together + alone, batches + batches, strict=True):
            add_dealership(conn, code)
            before[code] = [add_customer(conn, code, f"Cliente {i}", p) for i, p in enumerate(existing)]
            for i in created_order(batch):
                if batch[i].loaded_before:
                    stage_and_load(conn, code, [gm_record(code, i, batch[i])], mapping)

        results = stage_and_load_together(
            conn,
            {
                code: [gm_record(code, i, x) for i, x in enumerate(batch)]
                for code, batch in zip(together, batches, strict=True)
            },
            mapping,
        )
        singles = [
            stage_and_load(conn, code, [gm_record(code, i, x) for i, x in enumerate(batch)], mapping)
            for code, batch in zip(alone, batches, strict=True)
        ]

        assert [r.dealer_code for r in results] == sorted(together)
        assert [(r.loaded_with, s.loaded_with) for r, s in zip(results, singles, strict=True)] == [
            (len(together), 1)
        ] * len(together)
        by_code = {r.dealer_code: r for r in results}
        how = ("dealer_code", "seconds", "loaded_with")  # how it was loaded, not what
        for code, single, mine in zip(together, singles, alone, strict=True):
            assert customer_labels(conn, code, before[code]) == customer_labels(conn, mine, before[mine])
            counts = {k: v for k, v in vars(by_code[code]).items() if k not in how}
            assert counts == {k: v for k, v in vars(single).items() if k not in how}
            logged = conn.execute(
                "SELECT leads_read, contacts_created, customers_created, customers_matched FROM gmcrm.import_log "
                "WHERE dealer_code = %s ORDER BY finished_at DESC LIMIT 1",
                (code,),
            ).fetchone()
            result = by_code[code]
            assert logged == (
                result.leads_read,
                result.contacts_created,
                result.customers_created,
                result.customers_matched,
            )
