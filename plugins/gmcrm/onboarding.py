"""Is a dealership ready to import? Everything that would make its leads quarantine (or its import
fail), each with the ``gmcrm`` command that fixes it: what ``gmcrm dealership check`` prints and what
``gmcrm dealership set --enabled`` refuses on.

The transform's own rules decide what quarantines: :func:`check` runs one made-up lead of each lead
type through :func:`gmcrm.leads.transform.transform_group` with the dealership's settings as the import
reads them (:func:`gmcrm.leads.load.read_contexts`), so a rule is never copied here and a new one is
found the day it is added. The checks the transform does not make are written once, below (rules
that only this module has: a receiving user of another dealership, inactive or without a department;
contact settings or a traffic origin not in the DMS's catalogues; the GM connection). Those leads do
load today, but into the wrong hands or with values the DMS's own screens would not offer.

Reading is :func:`read_state` (SQL); the judging (:func:`problems_of`) is pure, for unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gmcrm import dealerships
from gmcrm.gm_mapping import GmMapping, load_mapping
from gmcrm.leads.load import read_contexts, records_to_frame
from gmcrm.leads.transform import LEAD_TYPES, USER_SETTING, DealerContext, Reason, UserRef, transform_group
from gmcrm.paths import named_queries

_SQL = named_queries("onboarding")

#: The lead type -> `gmcrm dealership set` option of its receiving user.
USER_OPTION = {t: "--" + c.removesuffix("_user_id").replace("_", "-") + "-user" for t, c in USER_SETTING.items()}
#: Only used-vehicle leads take their department from the contact settings (spec, dms.md); the others
#: take the receiving user's.
DEPARTMENT_LEAD_TYPE = "USED_VEHICLE"


@dataclass(frozen=True)
class Problem:
    """Something to fix: what is wrong and what happens to the leads, the command that fixes it, and
    the lead types whose leads it stops (quarantined or not imported at all; empty: they load, wrongly)."""

    text: str
    fix: str
    stops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogues:
    """The DMS lists a dealership's settings are chosen from."""

    #: contact type -> its subtypes (active ones)
    contact_types: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    traffic_origins: tuple[str, ...] = ()
    #: department code -> id
    departments: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    id: int
    dealer_code: str
    login: str
    active: bool
    department_id: int | None


@dataclass(frozen=True)
class DealerState:
    """What the check needs of one dealership, read from the DMS."""

    dealer_code: str
    dealership: dealerships.Dealership | None
    context: DealerContext | None
    users: Mapping[int, User]  # the receiving users, by id
    settings: Mapping[str, Mapping[str, Any]]  # gmcrm.contact_setting rows by lead type
    catalogues: Catalogues
    department_dealer: Mapping[int, str]  # department id -> its dealership (of the settings' departments)
    #: Other dealerships importing through the same GM connection, and when they last imported.
    same_connection_imported: Mapping[str, datetime] = field(default_factory=dict)
    has_dms_users: bool = True
    #: Its leads in quarantine now, by reason code.
    quarantined_now: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    dealer_code: str
    enabled: bool
    problems: list[Problem]
    notes: list[str]

    @property
    def stopped(self) -> set[str]:
        return {t for p in self.problems for t in p.stops}

    @property
    def every_lead_stopped(self) -> bool:
        return self.stopped >= set(LEAD_TYPES)


# ---------------------------------------------------------------------------------------------
# Catalogues and validation (also used by `gmcrm contact-settings set`)


def read_catalogues(conn: psycopg.Connection[Any], dealer_code: str) -> Catalogues:
    types: dict[str, list[str]] = {r[0]: [] for r in conn.execute(_SQL["contact_types"], (dealer_code,))}
    for ctype, code in conn.execute(
        _SQL["contact_subtypes"],
        (dealer_code,),
    ):
        if ctype in types:
            types[ctype].append(code)
    origins = tuple(r[0] for r in conn.execute(_SQL["traffic_origins"], (dealer_code,)))
    departments = dict(conn.execute(_SQL["department_ids"], (dealer_code,)))
    return Catalogues({k: tuple(v) for k, v in types.items()}, origins, departments)


def _one_of(what: str, value: str, allowed: Iterable[str], dealer_code: str, where: str) -> str | None:
    allowed = list(allowed)
    if value in allowed:
        return None
    if not allowed:
        return f"the DMS has no {what}s for {dealer_code} ({where}); they are created in the DMS, not by gmcrm"
    return f"{what} {value!r} is not one of {dealer_code}'s: {', '.join(allowed)}"


def setting_errors(
    cat: Catalogues,
    dealer_code: str,
    lead_type: str,
    contact_type: str | None,
    contact_subtype: str | None,
    department: str | None = None,
) -> list[str]:
    """Why these contact settings cannot be saved (empty: they can), one clause each, naming the
    allowed values."""
    errors: list[str] = []
    if lead_type not in LEAD_TYPES:
        return [f"lead type {lead_type!r} is not one of {', '.join(LEAD_TYPES)}"]
    if contact_type is not None:
        error = _one_of("contact type", contact_type, cat.contact_types, dealer_code, "dms.contact_type")
        if error:
            errors.append(error)
        elif contact_subtype is not None:
            error = _one_of(
                f"{contact_type} subtype",
                contact_subtype,
                cat.contact_types[contact_type],
                dealer_code,
                "dms.contact_subtype",
            )
            if error:
                errors.append(error)
    if department is not None:
        if lead_type != DEPARTMENT_LEAD_TYPE:
            errors.append(
                f"--department is for {DEPARTMENT_LEAD_TYPE} leads only; {lead_type} leads take the department of "
                "the user who receives them (gmcrm users list)"
            )
        else:
            error = _one_of("department", department, sorted(cat.departments), dealer_code, "dms.department")
            if error:
                errors.append(error)
    return errors


def traffic_origin_error(cat: Catalogues, dealer_code: str, origin: str) -> str | None:
    return _one_of("traffic origin", origin, cat.traffic_origins, dealer_code, "dms.traffic_origin")


# ---------------------------------------------------------------------------------------------
# Reading


def read_state(conn: psycopg.Connection[Any], dealer_code: str) -> DealerState:
    found = dealerships.list_dealerships(conn, [dealer_code])
    dealership = found[0] if found else None
    cat = read_catalogues(conn, dealer_code)
    has_users = conn.execute(_SQL["has_dms_users"], (dealer_code,))
    has_dms_users = bool(has_users.fetchone()[0])  # type: ignore[index]
    if dealership is None:
        return DealerState(dealer_code, None, None, {}, {}, cat, {}, has_dms_users=has_dms_users)
    context = read_contexts(conn, [dealer_code])[dealer_code]
    ids = [getattr(dealership, c) for c in sorted(set(USER_SETTING.values())) if getattr(dealership, c) is not None]
    users = {r[0]: User(*r) for r in conn.execute(_SQL["users_by_id"], (ids,))}
    with conn.cursor(row_factory=dict_row) as cur:
        settings = {
            r["lead_type"]: r
            for r in cur.execute(
                _SQL["dealer_contact_settings"],
                (dealer_code,),
            )
        }
    department_ids = [s["department_id"] for s in settings.values() if s["department_id"] is not None]
    department_ids += [u.department_id for u in users.values() if u.department_id is not None]
    department_dealer = dict(conn.execute(_SQL["department_dealers"], (department_ids,)))
    same = dict(
        conn.execute(
            _SQL["same_connection_dealerships"],
            (dealership.gm_conn_id, dealer_code),
        )
    )
    quarantined_now = dict(
        conn.execute(
            _SQL["quarantined_now"],
            (dealer_code,),
        )
    )
    return DealerState(
        dealer_code, dealership, context, users, settings, cat, department_dealer, same, has_dms_users, quarantined_now
    )


# ---------------------------------------------------------------------------------------------
# Judging


def probe_quarantine(ctx: DealerContext, mapping: GmMapping) -> dict[str, list[tuple[str, str]]]:
    """Lead type -> the (reason code, reason)s of a made-up, complete lead of that type that the
    transform quarantines with these settings: the import's own rules, not a copy of them.

    A quarantined lead carries one reason code (its first problem), so a second pass with a stand-in
    user for every lead type without one finds what else would stop it (its contact settings)."""
    found: dict[str, list[tuple[str, str]]] = {}
    stand_in = {t: ctx.users.get(t) or UserRef(0) for t in LEAD_TYPES}
    for context in (ctx, replace(ctx, users=stand_in)):
        for lead_type, reason in _probe(context, mapping).items():
            if reason[0] not in {code for code, _ in found.get(lead_type, [])}:
                found.setdefault(lead_type, []).append(reason)
    return found


def _probe(ctx: DealerContext, mapping: GmMapping) -> dict[str, tuple[str, str]]:
    label = {code: gm for gm, code in mapping.lead_types.items()}
    api = mapping.lead_fields
    stamp = "2026-01-01T00:00:00.000+0000"
    records = []
    for n, lead_type in enumerate(LEAD_TYPES, start=1):
        record: dict[str, Any] = dict.fromkeys(api.values())
        record.update(
            {
                api["lead_id"]: f"00QONBOARD{n:05d}",
                api["dealer_code"]: ctx.dealer_code,
                api["lead_type"]: label.get(lead_type, lead_type),
                api["stage"]: "New",
                api["first_name"]: "Onboarding",
                api["last_name"]: "Check",
                api["email"]: "onboarding.check@example.com",
                api["created_at"]: stamp,
                api["modstamp"]: stamp,
                api["is_deleted"]: False,
            }
        )
        records.append(record)
    by_id = {r[api["lead_id"]]: t for r, t in zip(records, LEAD_TYPES, strict=True)}
    frame = records_to_frame(records, mapping)
    result = transform_group(frame, {ctx.dealer_code: ctx}, mapping).by_dealer()[ctx.dealer_code]
    out: dict[str, tuple[str, str]] = {}
    for row in result.quarantine.itertuples(index=False):
        probed = by_id.get(str(row.lead_id)[:15])
        if probed:
            out[probed] = (str(row.reason_code), str(row.reason))
    return out


def _quarantine_problems(code: str, routing: str, quarantined: Mapping[str, list[tuple[str, str]]]) -> list[Problem]:
    grouped: dict[tuple[str, str], list[str]] = {}
    texts: dict[tuple[str, str], str] = {}
    for lead_type, reason_code, reason in ((t, rc, r) for t in LEAD_TYPES for rc, r in quarantined.get(t, [])):
        if reason_code == Reason.NO_USER:
            who = (
                "list owner (routing DISTRIBUTION: whose lead-management list holds them until distributed)"
                if routing == "DISTRIBUTION"
                else "receiving user (routing DIRECT: whose queue gets them)"
            )
            key = (
                reason_code,
                f"gmcrm dealership set {code} {USER_OPTION[lead_type]} LOGIN   # see gmcrm users list {code}",
            )
            texts[key] = f"no {who}"
        elif reason_code == Reason.NO_CONTACT_SETTING:
            department = " --department DEPARTMENT" if lead_type == DEPARTMENT_LEAD_TYPE else ""
            key = (
                f"{reason_code}:{lead_type}",
                f"gmcrm contact-settings set {code} --lead-type {lead_type} --contact-type TYPE "
                f"--contact-subtype SUBTYPE{department}   # see gmcrm contact-settings list {code}",
            )
            texts[key] = "no contact type and subtype"
        else:  # a rule added to the transform since: its own words
            key = (f"{reason_code}:{lead_type}", "see the reason")
            texts[key] = reason
        grouped.setdefault(key, []).append(lead_type)
    return [
        Problem(
            f"{', '.join(types)} leads: {texts[key]}; they would be quarantined ({key[0].split(':')[0]})",
            key[1],
            tuple(types),
        )
        for key, types in grouped.items()
    ]


def _user_problems(state: DealerState) -> list[Problem]:
    d, code = state.dealership, state.dealer_code
    assert d is not None
    problems: list[Problem] = []
    for column in dict.fromkeys(USER_SETTING.values()):
        user_id = getattr(d, column)
        if user_id is None:
            continue  # the transform's NO_USER
        types = [t for t, c in USER_SETTING.items() if c == column]
        option = USER_OPTION[types[0]]
        fix = f"gmcrm dealership set {code} {option} LOGIN   # see gmcrm users list {code}"
        user = state.users.get(user_id)
        if user is None or user.dealer_code != code:
            whose = f"of dealership {user.dealer_code}" if user else "that no longer exists"
            problems.append(Problem(f"{', '.join(types)} leads go to user id {user_id}, a user {whose}", fix))
            continue
        if not user.active:
            problems.append(Problem(f"{', '.join(types)} leads go to {user.login!r}, who is inactive in the DMS", fix))
        own = [t for t in types if not (t == DEPARTMENT_LEAD_TYPE and _setting_department(state, t) is not None)]
        if own and user.department_id is None:
            problems.append(
                Problem(
                    f"{', '.join(own)} leads go to {user.login!r}, who has no department: "
                    "their contacts would have none",
                    fix,
                )
            )
        elif own and state.department_dealer.get(user.department_id or -1, code) != code:
            problems.append(
                Problem(f"{', '.join(own)} leads go to {user.login!r}, whose department is another dealership's", fix)
            )
    return problems


def _setting_department(state: DealerState, lead_type: str) -> int | None:
    row = state.settings.get(lead_type)
    return None if row is None else row.get("department_id")


def _setting_problems(state: DealerState) -> list[Problem]:
    code, cat = state.dealer_code, state.catalogues
    problems: list[Problem] = []
    for lead_type in LEAD_TYPES:
        row = state.settings.get(lead_type)
        if row is None:
            continue  # the transform's NO_CONTACT_SETTING
        errors = setting_errors(cat, code, lead_type, row["contact_type"], row["contact_subtype"])
        department_id = row.get("department_id")
        if department_id is not None and state.department_dealer.get(department_id, code) != code:
            errors.append("its department is another dealership's")
        if errors:
            department = " --department DEPARTMENT" if lead_type == DEPARTMENT_LEAD_TYPE else ""
            problems.append(
                Problem(
                    f"{lead_type} contact settings: {'; '.join(errors)}",
                    f"gmcrm contact-settings set {code} --lead-type {lead_type} --contact-type TYPE "
                    f"--contact-subtype SUBTYPE{department}",
                )
            )
    return problems


def problems_of(
    state: DealerState,
    quarantined: Mapping[str, list[tuple[str, str]]],
    gm_connection_error: str | None,
) -> Report:
    """The report of a dealership: pure, from what :func:`read_state` read, what
    :func:`probe_quarantine` found and the GM connection look-up's error (None: Airflow knows it)."""
    code = state.dealer_code
    d = state.dealership
    notes: list[str] = []
    if d is None:
        if not state.has_dms_users:
            notes.append(f"the DMS has no users for {code} yet: they are created in the DMS, not by gmcrm")
        problem = Problem(
            f"{code} is not a gmcrm dealership: nothing of it is imported",
            f"gmcrm dealership set {code} --name NAME --routing DIRECT   # or DISTRIBUTION",
            tuple(LEAD_TYPES),
        )
        return Report(code, False, [problem], notes)
    problems = _quarantine_problems(code, d.routing, quarantined)
    problems += _user_problems(state)
    problems += _setting_problems(state)
    if d.traffic_origin is None:
        problems.append(
            Problem(
                "no traffic origin (Origem de Tráfego): contacts would be created without one",
                f"gmcrm contact-settings set {code} --traffic-origin ORIGIN   # see gmcrm contact-settings list {code}",
            )
        )
    else:
        error = traffic_origin_error(state.catalogues, code, d.traffic_origin)
        if error:
            problems.append(Problem(error, f"gmcrm contact-settings set {code} --traffic-origin ORIGIN"))
    if gm_connection_error is not None:
        seen = sorted(state.same_connection_imported.items(), key=lambda kv: kv[1], reverse=True)
        if seen:
            other, when = seen[0]
            notes.append(
                f"GM connection {d.gm_conn_id!r}: Airflow here does not know it, but the import does: "
                f"{other} imported through it at {when:%Y-%m-%d %H:%M:%S %Z}"
            )
        else:
            problems.append(
                Problem(
                    f"unknown GM connection: {gm_connection_error}; the import of {code} would fail",
                    f"gmcrm dealership set {code} --gm-conn-id CONN_ID   # an Airflow connection of type salesforce",
                    tuple(LEAD_TYPES),
                )
            )
    if state.quarantined_now:
        counts = ", ".join(f"{reason} {n}" for reason, n in state.quarantined_now.items())
        notes.append(
            f"{sum(state.quarantined_now.values())} lead(s) of {code} in quarantine now ({counts}): "
            f"gmcrm quarantine list {code}"
        )
    if not d.integration_enabled:
        notes.append(f"{code} is disabled: nothing is imported until `gmcrm dealership set {code} --enabled`")
    return Report(code, d.integration_enabled, problems, notes)


def gm_connection_error(conn_id: str, lookup: Callable[[str], None] = dealerships.check_gm_connection) -> str | None:
    try:
        lookup(conn_id)
    except dealerships.UnknownConnection as exc:
        return str(exc)
    return None


def check(
    conn: psycopg.Connection[Any],
    dealer_code: str,
    lookup: Callable[[str], None] = dealerships.check_gm_connection,
    mapping: GmMapping | None = None,
) -> Report:
    """Everything that would make ``dealer_code``'s leads quarantine or its import fail, as it is now in
    ``conn`` (uncommitted changes included: `dealership set --enabled` checks before it commits)."""
    state = read_state(conn, dealer_code)
    if state.dealership is None or state.context is None:
        return problems_of(state, {}, None)
    quarantined = probe_quarantine(state.context, mapping or load_mapping())
    return problems_of(state, quarantined, gm_connection_error(state.dealership.gm_conn_id, lookup))


def report_lines(report: Report) -> list[str]:
    """The report as a person reads it: one line a problem, its fix under it."""
    lines: list[str] = []
    for p in report.problems:
        lines.append(f"PROBLEM  {p.text}")
        lines.append(f"   fix:  {p.fix}")
    lines += [f"note     {n}" for n in report.notes]
    return lines
