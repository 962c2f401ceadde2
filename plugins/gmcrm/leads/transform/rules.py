"""The business rules of a lead (shared/spec/dms.md "From lead to customer and contact" and "Routing"),
over whole columns (:class:`~gmcrm.leads.transform.columns.Leads`), with the choices made:

* Re-reads: one row per lead, the newest ``modstamp`` (on a tie, the row read last). 15-character
  Salesforce Ids are turned into their 18-character form so one lead is one contact whichever form GM
  sent. Deleted leads (``is_deleted``) are split off before any check and never quarantined.
* The dealer code is compared case-insensitively (SOQL compares strings that way, so the read returns
  ``br0001`` for ``BR0001``); the output carries the dealership's own spelling.
* The lead type matches the picklist values of ``gm_crm.yaml`` trimmed and case-insensitively.
* Identifiers (``keys``): the document is kept (digits only) when its CPF/CNPJ check digits are valid;
  an invalid one is neither matched nor stored, but written into the description. E-mail and phones
  are kept as given (trimmed); their match keys (``email_key``, ``phone_key``, ``mobile_phone_key``)
  are set only when the value is a plausible e-mail / Brazilian number with area code, so junk never
  matches.
* Name and reachability: a lead with no name (first and last empty) AND no valid e-mail, phone, mobile
  or document is quarantined: nobody could find or call that customer. A lead with a name but no way to
  reach the customer still loads (the dealership can work it, and GM may complete it). A lead with a
  way to reach but no name loads with the customer name ``Cliente do Lead GM <lead id>`` (the DMS needs
  a name; the basic customer is completed by the dealership anyway).
* ``person_type``: ``J`` for a valid CNPJ, ``F`` for a valid CPF; without a valid document ``J`` when
  only the last name is given (GM's company leads), else ``F``.
* ``department_id``: the receiving user's department; for used vehicles the department of the contact
  settings when set, else the user's (``context.Dealers``).
* Routing ``DIRECT``: ``status IN_QUEUE`` and ``assigned_user_id``; ``DISTRIBUTION``: ``status
  AWAITING_DISTRIBUTION`` and ``distribution_owner_user_id`` (the other one null).
* Field lengths (:data:`~gmcrm.leads.transform.schema.FIELD_LIMITS`, the GM field types) are checked on
  the trimmed value.
* Quarantine: every problem of a lead in one reason (``; ``-separated), the first code in
  :class:`~gmcrm.leads.transform.schema.Reason` order wins. Reasons name the GM field (API name from the
  mapping) and the fix; they never contain a customer's name, document, e-mail or phone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from gmcrm.leads.transform import kernels
from gmcrm.leads.transform.columns import Leads
from gmcrm.leads.transform.context import Dealers
from gmcrm.leads.transform.kernels import BoolArray, IntArray, ObjArray, StringColumn
from gmcrm.leads.transform.schema import (
    DESCRIPTION_HEADERS,
    DESCRIPTION_LABELS,
    FIELD_LIMITS,
    NAMELESS_CUSTOMER,
    PERSON_TYPES,
    ROUTING_TARGET,
    USER_SETTING,
    Reason,
)

#: A check: its reason code, the rows that fail it, and the message for a failing row.
Problem = tuple[Reason, BoolArray, Callable[[int], str]]


def problems(leads: Leads) -> list[Problem]:
    """(code, failing rows, message for a failing row), in :class:`Reason` order."""
    codes, group = leads.dealers.codes, leads.group
    known = leads.types.derive(lambda t: t is not None, bool)
    has_name = (leads.lengths["first_name"] > 0) | (leads.lengths["last_name"] > 0)
    reachable = leads.email_ok | leads.phone_ok | leads.mobile_ok | leads.document_ok
    picklist = ", ".join(leads.mapping.lead_types)

    # Messages depend on a few distinct values (dealer code, lead type, length...): each is written
    # once, however many leads share it.
    @cache
    def dealer_text(given: str | None, dealership: str) -> str:
        return (
            f"{leads.api('dealer_code')} is {repr(given) if given else 'empty'}, but the lead was read "
            f"for dealership {dealership}: correct the lead's dealer code at GM (it loads on its next change)"
        )

    def dealer(i: int) -> str:
        return dealer_text(leads.coded["dealer_code"].at(i), codes[group[i]])

    def lead_id(i: int) -> str:
        given = leads.lead_id[i]
        return (
            f"{leads.api('lead_id')} {repr(given) + ' is not' if given else 'is empty, not'} a Salesforce "
            f"Id (15 or 18 letters and digits): report the record to GM, or correct the lead_id field in "
            f"gm_crm.yaml and run `gmcrm quarantine retry {codes[group[i]]} --reason {Reason.BAD_LEAD_ID}`"
        )

    @cache
    def lead_type_text(given: str | None, dealership: str) -> str:
        return (
            f"{f'Lead type {given!r}' if given else 'An empty lead type'} ({leads.api('lead_type')}) is not "
            f"one of {picklist}: fix the lead at GM (it loads on its next change), or map the value in "
            f"gm_crm.yaml (lead.lead_types) and run `gmcrm quarantine retry {dealership} --reason "
            f"{Reason.UNKNOWN_LEAD_TYPE}`"
        )

    def lead_type(i: int) -> str:
        return lead_type_text(leads.coded["lead_type"].at(i), codes[group[i]])

    nameless_text = (
        f"No customer name ({leads.api('first_name')} and {leads.api('last_name')} are empty) and no "
        f"valid e-mail, phone or CPF/CNPJ to reach the customer: complete the lead at GM (it loads on its "
        f"next change)"
    )

    def nameless(i: int) -> str:
        return nameless_text

    # A dealership setting missing for a lead type: the message of lead i depends on its lead type and
    # dealership only, so each pair's text is written once.
    def by_lead_type(text: Callable[[str, str], str]) -> Callable[[int], str]:
        cached = cache(text)
        return lambda i: cached(leads.types.at(i), codes[group[i]])

    def unset_text(dealership: str, code: str, missing: str, how: str) -> str:
        return (
            f"Dealership {dealership} has no {missing} for {leads.label(code)} leads: set {how} and the lead "
            f"is tried again on the next run"
        )

    def user_text(code: str, dealership: str) -> str:
        option = USER_SETTING[code].removesuffix("_user_id").replace("_", "-")
        how = (
            f"it with `gmcrm dealership set {dealership} --{option}-user LOGIN` (logins: `gmcrm users list "
            f"{dealership}`)"
        )
        return unset_text(dealership, code, "user", how)

    def setting_text(code: str, dealership: str) -> str:
        # Only used-vehicle leads take their department from the settings (the others: their user's).
        department = (
            f" --department DEPARTMENT` (departments: `gmcrm departments list {dealership}`)"
            if code == "USED_VEHICLE"
            else "`"
        )
        how = (
            f"them with `gmcrm contact-settings set {dealership} --lead-type {code} --contact-type TYPE "
            f"--contact-subtype SUBTYPE{department}"
        )
        return unset_text(dealership, code, "contact type and subtype", how)

    @cache
    def too_long_text(logical: str, length: int) -> str:
        return (
            f"{leads.api(logical)} has {length} characters, more than the {FIELD_LIMITS[logical]} the DMS "
            f"column holds: shorten it at GM (it loads on its next change)"
        )

    checks: list[Problem] = [
        (Reason.DEALER_MISMATCH, ~leads.dealer_ok, dealer),
        (Reason.BAD_LEAD_ID, ~leads.id_ok, lead_id),
        (Reason.UNKNOWN_LEAD_TYPE, ~known, lead_type),
        (Reason.NO_NAME_NO_CONTACT, ~has_name & ~reachable, nameless),
    ]
    for logical, limit in FIELD_LIMITS.items():
        lengths = leads.lengths[logical]

        def too_long(i: int, logical: str = logical, lengths: IntArray = lengths) -> str:
            return too_long_text(logical, int(lengths[i]))

        checks.append((Reason.FIELD_TOO_LONG, lengths > limit, too_long))
    has_user, has_setting = leads.dealers.served(leads.cell)
    no_user, no_setting = known & ~has_user, known & ~has_setting
    checks.append((Reason.NO_USER, no_user, by_lead_type(user_text)))
    checks.append((Reason.NO_CONTACT_SETTING, no_setting, by_lead_type(setting_text)))
    return checks


def reasons(problems: list[Problem], rows: IntArray) -> tuple[list[str], list[str]]:
    """The quarantine reason of each of ``rows`` (leads that cannot load, each failing at least one
    check): the code of its first problem in :class:`Reason` order, and all its problems' messages in
    one text, ``; ``-separated."""
    held = kernels.mask(rows, len(problems[0][1]))
    found: dict[int, list[tuple[Reason, str]]] = {i: [] for i in rows.tolist()}
    for code, failing, message in problems:
        for i in kernels.positions(failing & held).tolist():
            found[i].append((code, message(i)))
    ordered = [found[i] for i in rows.tolist()]
    return [str(each[0][0]) for each in ordered], ["; ".join(m for _, m in each) for each in ordered]


def description(leads: Leads) -> ObjArray:
    """Header by lead type, then product of interest, comments and an invalid document. The first
    two lines depend on low-cardinality columns only: built once per combination."""
    labels = DESCRIPTION_LABELS
    product = [leads.coded[name] for name in ("model", "model_year", "trim")]

    def base(lead_type: str | None, *interest: str | None) -> str | None:
        header = DESCRIPTION_HEADERS.get(lead_type) if lead_type else None
        if header is None:
            return None
        shown = " ".join(v for v in interest if v is not None)
        return header + (f"\n{labels['interest']}{shown}" if shown else "")

    out = kernels.combined([leads.types, *product], base)
    has_comment = leads.lengths["comments"] > 0
    has_invalid = (leads.lengths["document"] > 0) & ~leads.document_ok
    rows = kernels.positions(has_comment | has_invalid)
    comments = leads.text["comments"][rows]
    invalid = leads.text["document"][rows]
    invalid[~has_invalid[rows]] = None
    comment, document = f"\n{labels['comments']}", f"\n{labels['invalid_document']}"
    out[rows] = [
        f"{b}{comment + c if c is not None else ''}{document + d if d is not None else ''}"
        for b, c, d in zip(out[rows], comments, invalid, strict=True)
    ]
    return out


def customer_name(leads: Leads) -> ObjArray:
    """First and last name; a lead without either gets the nameless customer's name."""
    name = kernels.joined(leads.coded["first_name"].values, leads.text["last_name"])
    nameless = kernels.positions(leads.lengths["first_name"] + leads.lengths["last_name"] == 0)
    name[nameless] = [NAMELESS_CUSTOMER.format(lead_id=i) for i in leads.lead_id[nameless]]
    return name


def person_type(leads: Leads) -> IntArray:
    """Each row's index into :data:`PERSON_TYPES`: the document's kind, else a company when only the last
    name is given."""
    kind = leads.document_kind
    only_last = (leads.lengths["last_name"] > 0) & (leads.lengths["first_name"] == 0)
    company, person = PERSON_TYPES.index("J"), PERSON_TYPES.index("F")
    return kernels.select([kind == "CNPJ", kind == "CPF", only_last], [company, person, company], person)


def routing(dealers: Dealers, groups: IntArray) -> tuple[StringColumn, BoolArray]:
    """Each row's new-contact status (by its dealership's routing), and whether the dealership routes
    directly (the receiving user is then ``assigned_user_id``, else ``distribution_owner_user_id``)."""
    statuses = [ROUTING_TARGET[ctx.routing][0] for ctx in dealers.contexts]
    return kernels.per_row(statuses, groups), dealers.direct[groups]
