"""The trigger catalogue (``config/triggers.yaml``) as typed data, and outbox rows turned into GM events.

Three concerns, one source of truth:

* :func:`load_catalogue` reads the YAML into frozen dataclasses and validates it, so a typo in the
  catalogue fails at load time rather than when an event is sent.
* :func:`sync_catalogue` copies it into ``gmcrm.trigger_catalogue`` / ``gmcrm.gm_reason``, which the
  capture triggers in the DMS database consult (lead-type applicability, steps) and which
  ``dms.reason.gm_reason`` is checked against.
* :func:`build_event` (pure) turns one outbox row plus its looked-up references into the event in
  logical field names; :func:`build_record` maps it to GM's API names through
  :mod:`gmcrm.gm_mapping`. :func:`fetch_outbox_events` does the look-up (the only database read).

Nothing here branches on a trigger code: stage, substage, what an event carries and what it requires
all come from the catalogue.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import psycopg
import yaml
from psycopg.types.json import Jsonb

from gmcrm.gm_mapping import GmMapping, load_mapping
from gmcrm.paths import PACKAGE_DIR

DEFAULT_FILE: Final = PACKAGE_DIR / "config" / "triggers.yaml"
CATALOGUE_ENV: Final = "GMCRM_TRIGGER_CATALOGUE"

# The event in logical names, in a stable order (config/gm_crm.yaml maps each to GM's API name).
EVENT_FIELDS: Final[tuple[str, ...]] = (
    "event_id",
    "lead_id",
    "dealer_code",
    "trigger_code",
    "communication",
    "stage",
    "substage",
    "event_time",
    "contact_channel",
    "lost_reason",
    "vehicle_model",
    "vehicle_model_year",
    "vehicle_trim",
    "trade_in_model",
    "trade_in_model_year",
    "trade_in_trim",
    "trade_in_mileage",
    "trade_in_plate",
    "trade_in_value",
    "salesperson",
)
SUBSTAGE_SOURCES: Final = ("contact_form", "gm_reason")
UNTYPED_FORM: Final = "untyped"
CONTACT_FORM_TYPES: Final = ("EMAIL", "PHONE", "IN_PERSON")


# ---------------------------------------------------------------------------------------------
# Errors


class CatalogueError(ValueError):
    """The catalogue file is malformed or inconsistent."""


class TriggerPayloadError(Exception):
    """An outbox row cannot become a GM event. ``error_code`` is what the send log records."""

    error_code: str = "PAYLOAD_ERROR"


class UnknownTriggerError(TriggerPayloadError):
    error_code = "UNKNOWN_TRIGGER"


class NotApplicableError(TriggerPayloadError):
    """The trigger does not apply to the lead's type (or step): the catalogue changed since recording."""

    error_code = "NOT_APPLICABLE"


class MissingReferenceError(TriggerPayloadError):
    """Something the event requires (a reason, a vehicle, a trade-in) is not there."""

    error_code = "MISSING_REFERENCE"


class UnmappedReasonError(TriggerPayloadError):
    """A lost sale whose DMS reason has no (valid) GM reason: it waits until someone maps it.

    The message names the reason, its type and the fix; retrying after the mapping sends it.
    """

    error_code = "UNMAPPED_REASON"

    def __init__(
        self,
        *,
        dealer_code: str,
        lead_id: str,
        trigger_code: str,
        reason: ReasonRef,
        reason_type_name: str | None,
        gm_reasons: Sequence[str],
    ) -> None:
        self.dealer_code = dealer_code
        self.lead_id = lead_id
        self.trigger_code = trigger_code
        self.reason = reason
        kind = f"{reason.reason_type} ({reason_type_name})" if reason_type_name else reason.reason_type
        if reason.gm_reason:
            problem = f"is mapped to GM reason {reason.gm_reason!r}, which is not in GM's list"
        else:
            problem = "has no GM reason (Motivo no CRM)"
        super().__init__(
            f"{trigger_code} of lead {lead_id} not sent: DMS reason {reason.code} {reason.description!r} "
            f"of type {kind} at dealership {dealer_code} {problem}. Map it under Motivos: "
            f"gmcrm reasons map {dealer_code} {reason.code} <GM reason>, then retry. "
            f"GM reasons: {', '.join(gm_reasons)}."
        )


# ---------------------------------------------------------------------------------------------
# The catalogue


@dataclass(frozen=True)
class StageRule:
    """Stage and substage of an event, and what it carries; ``substage_from`` defers the substage."""

    stage: str | None
    substage: str | None = None
    substage_from: str | None = None
    carries: tuple[str, ...] = ()


@dataclass(frozen=True)
class TriggerDef:
    code: str
    name: str
    action: str
    communication: str
    lead_types: tuple[str, ...]
    base: StageRule
    # Source key -> lead types; None: any source.
    sources: Mapping[str, tuple[str, ...]] | None = None
    by_lead_type: Mapping[str, StageRule] = field(default_factory=lambda: MappingProxyType({}))
    steps: tuple[StageRule, ...] = ()
    requires: tuple[str, ...] = ()
    # Recorded only for contact forms of these types (VRE: IN_PERSON); None: any form or none.
    contact_form_types: tuple[str, ...] | None = None
    notes: str | None = None

    @property
    def step_count(self) -> int:
        return max(1, len(self.steps))

    def applies_to(
        self, lead_type: str | None, source: str | None = None, contact_form_type: str | None = None
    ) -> bool:
        """Whether it is recorded for this lead type, from this source, with this form (the SQL rule)."""
        if lead_type not in self.lead_types:
            return False
        if self.contact_form_types is not None and contact_form_type not in self.contact_form_types:
            return False
        if self.sources is None or source is None:
            return True
        allowed = self.sources.get(source, self.sources.get(source.split(":", 1)[0]))
        return allowed is not None and lead_type in allowed

    def rule(self, lead_type: str, step: int = 1) -> StageRule:
        """The stage rule for a lead type and step: base, overridden per lead type, then per step."""
        if lead_type not in self.lead_types:
            raise NotApplicableError(f"trigger {self.code} does not apply to {lead_type} leads")
        if not 1 <= step <= self.step_count:
            raise NotApplicableError(f"trigger {self.code} has {self.step_count} step(s), not step {step}")
        rule = self.base
        for override in (self.by_lead_type.get(lead_type), self.steps[step - 1] if self.steps else None):
            if override is not None:
                rule = StageRule(
                    stage=override.stage or rule.stage,
                    substage=override.substage if override.stage else rule.substage,
                    substage_from=override.substage_from if override.stage else rule.substage_from,
                    carries=rule.carries + override.carries,
                )
        return rule


@dataclass(frozen=True)
class ContactFormRule:
    form_type: str | None
    substage: str
    channel: str
    presence_indicator: int | None = None
    label: str | None = None


@dataclass(frozen=True)
class ReasonType:
    code: str
    name: str
    needs_gm_reason: bool


@dataclass(frozen=True)
class TriggerCatalogue:
    version: int
    lead_types: tuple[str, ...]
    lead_type_groups: Mapping[str, tuple[str, ...]]
    communications: tuple[str, ...]
    field_groups: Mapping[str, tuple[str, ...]]
    default_carries: tuple[str, ...]
    contact_forms: Mapping[str, ContactFormRule]
    untyped_form: ContactFormRule
    reason_types: Mapping[str, ReasonType]
    gm_reasons: tuple[str, ...]
    triggers: Mapping[str, TriggerDef]

    def trigger(self, code: str) -> TriggerDef:
        try:
            return self.triggers[code]
        except KeyError:
            raise UnknownTriggerError(
                f"trigger code {code!r} is not in the catalogue ({', '.join(self.triggers)})"
            ) from None

    def contact_form_rule(self, form_type: str | None) -> ContactFormRule:
        """Only the form's type decides; no type (or no form) counts as in person."""
        if form_type is None:
            return self.untyped_form
        return self.contact_forms.get(form_type, self.untyped_form)

    def fields_of(self, groups: Iterable[str]) -> tuple[str, ...]:
        return tuple(f for g in groups for f in self.field_groups[g])


def _expand(
    names: Iterable[str], groups: Mapping[str, tuple[str, ...]], known: tuple[str, ...], where: str
) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        for lead_type in groups.get(name, (name,)):
            if lead_type not in known:
                raise CatalogueError(f"{where}: unknown lead type or group {name!r}")
            if lead_type not in out:
                out.append(lead_type)
    return tuple(out)


def _rule(raw: Mapping[str, Any], field_groups: Mapping[str, tuple[str, ...]], where: str) -> StageRule:
    substage = raw.get("substage")
    substage_from = None
    if isinstance(substage, Mapping):
        substage_from = substage.get("from")
        if substage_from not in SUBSTAGE_SOURCES:
            raise CatalogueError(f"{where}: substage 'from' must be one of {SUBSTAGE_SOURCES}")
        substage = None
    carries = tuple(raw.get("carries") or ())
    for group in carries:
        if group not in field_groups:
            raise CatalogueError(f"{where}: unknown field group {group!r}")
    return StageRule(stage=raw.get("stage"), substage=substage, substage_from=substage_from, carries=carries)


def _trigger(raw: Mapping[str, Any], cat: dict[str, Any]) -> TriggerDef:
    code = str(raw.get("code", ""))
    where = f"trigger {code or '?'}"
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        raise CatalogueError(f"{where}: a code is three capital letters")
    groups, known, field_groups = cat["lead_type_groups"], cat["lead_types"], cat["field_groups"]
    lead_types = _expand(raw.get("lead_types") or (), groups, known, where)
    if not lead_types:
        raise CatalogueError(f"{where}: no lead types")
    if raw.get("communication") not in cat["communications"]:
        raise CatalogueError(f"{where}: communication must be one of {cat['communications']}")
    sources: Mapping[str, tuple[str, ...]] | None = None
    if raw.get("sources"):
        sources = MappingProxyType(
            {str(k): _expand(v, groups, known, f"{where} source {k}") for k, v in raw["sources"].items()}
        )
        for key, types in sources.items():
            if not set(types) <= set(lead_types):
                raise CatalogueError(f"{where}: source {key} names lead types outside the trigger's")
    by_lead_type: dict[str, StageRule] = {}
    for key, value in (raw.get("by_lead_type") or {}).items():
        rule = _rule(value, field_groups, f"{where} by_lead_type {key}")
        for lead_type in _expand([key], groups, known, where):
            by_lead_type[lead_type] = rule
    steps = tuple(_rule(s, field_groups, f"{where} step {i}") for i, s in enumerate(raw.get("steps") or (), 1))
    form_types = None if raw.get("contact_form_types") is None else tuple(raw["contact_form_types"])
    if form_types is not None and not set(form_types) <= set(CONTACT_FORM_TYPES):
        raise CatalogueError(f"{where}: contact_form_types must be among {CONTACT_FORM_TYPES}")
    trig = TriggerDef(
        code=code,
        name=str(raw.get("name") or code),
        action=str(raw.get("action") or ""),
        communication=raw["communication"],
        lead_types=lead_types,
        base=_rule(raw, field_groups, where),
        sources=sources,
        by_lead_type=MappingProxyType(by_lead_type),
        steps=steps,
        requires=tuple(raw.get("requires") or ()),
        contact_form_types=form_types,
        notes=raw.get("notes"),
    )
    # Every lead type and step must end with a stage: checked now, not when GM rejects the event.
    for lead_type in lead_types:
        for step in range(1, trig.step_count + 1):
            if not trig.rule(lead_type, step).stage:
                raise CatalogueError(f"{where}: no stage for {lead_type} step {step}")
    unknown = [f for f in trig.requires if f not in EVENT_FIELDS]
    if unknown:
        raise CatalogueError(f"{where}: requires unknown field(s) {unknown}")
    return trig


def parse_catalogue(raw: Mapping[str, Any]) -> TriggerCatalogue:
    """Validate and freeze a catalogue read from YAML."""
    lead_types = tuple(raw["lead_types"])
    groups = {str(k): tuple(v) for k, v in (raw.get("lead_type_groups") or {}).items()}
    field_groups = {str(k): tuple(v) for k, v in raw["field_groups"].items()}
    for group, fields in field_groups.items():
        missing = [f for f in fields if f not in FIELD_VALUES]
        if missing:
            raise CatalogueError(f"field group {group}: no value known for {missing}")
    ctx: dict[str, Any] = {
        "lead_types": lead_types,
        "lead_type_groups": groups,
        "communications": tuple(raw["communications"]),
        "field_groups": field_groups,
    }
    forms: dict[str, ContactFormRule] = {}
    untyped: ContactFormRule | None = None
    for key, value in raw["contact_forms"].items():
        form_type = None if key == UNTYPED_FORM else str(key)
        if form_type is not None and form_type not in CONTACT_FORM_TYPES:
            raise CatalogueError(f"contact form type {key!r} is not one of {CONTACT_FORM_TYPES}")
        rule = ContactFormRule(
            form_type=form_type,
            substage=value["substage"],
            channel=value["channel"],
            presence_indicator=value.get("presence_indicator"),
            label=value.get("label"),
        )
        if form_type is None:
            untyped = rule
        else:
            forms[form_type] = rule
    if untyped is None:
        raise CatalogueError(f"contact_forms needs an {UNTYPED_FORM!r} entry (forms with no type)")
    triggers: dict[str, TriggerDef] = {}
    for item in raw["triggers"]:
        trig = _trigger(item, ctx)
        if trig.code in triggers:
            raise CatalogueError(f"trigger {trig.code} appears twice")
        triggers[trig.code] = trig
    default_carries = tuple(raw.get("default_carries") or ())
    for group in default_carries:
        if group not in field_groups:
            raise CatalogueError(f"default_carries: unknown field group {group!r}")
    gm_reasons = tuple(str(r) for r in raw["gm_reasons"])
    if len(set(gm_reasons)) != len(gm_reasons):
        raise CatalogueError("gm_reasons has duplicates")
    return TriggerCatalogue(
        version=int(raw.get("version", 1)),
        lead_types=lead_types,
        lead_type_groups=MappingProxyType(groups),
        communications=ctx["communications"],
        field_groups=MappingProxyType(field_groups),
        default_carries=default_carries,
        contact_forms=MappingProxyType(forms),
        untyped_form=untyped,
        reason_types=MappingProxyType(
            {
                str(k): ReasonType(code=str(k), name=str(v["name"]), needs_gm_reason=bool(v["needs_gm_reason"]))
                for k, v in raw["reason_types"].items()
            }
        ),
        gm_reasons=gm_reasons,
        triggers=MappingProxyType(triggers),
    )


@lru_cache(maxsize=4)
def load_catalogue(path: str | None = None) -> TriggerCatalogue:
    """The catalogue from ``path``, ``GMCRM_TRIGGER_CATALOGUE`` or the project default."""
    file = Path(path or os.environ.get(CATALOGUE_ENV) or DEFAULT_FILE)
    try:
        return parse_catalogue(yaml.safe_load(file.read_text(encoding="utf-8")))
    except (KeyError, TypeError) as exc:
        raise CatalogueError(f"{file}: malformed trigger catalogue ({exc!r})") from exc


# ---------------------------------------------------------------------------------------------
# The catalogue in the database


def _variants(trig: TriggerDef) -> dict[str, Any]:
    def rule(r: StageRule) -> dict[str, Any]:
        return {"stage": r.stage, "substage": r.substage, "substage_from": r.substage_from, "carries": list(r.carries)}

    out: dict[str, Any] = {}
    if trig.by_lead_type:
        out["by_lead_type"] = {k: rule(v) for k, v in trig.by_lead_type.items()}
    if trig.steps:
        out["steps"] = [rule(s) for s in trig.steps]
    return out


_UPSERT_TRIGGER: Final = """
INSERT INTO gmcrm.trigger_catalogue AS t (code, name, action, communication, stage, substage, substage_from,
    lead_types, sources, contact_form_types, step_count, variants, carries, notes)
VALUES (%(code)s, %(name)s, %(action)s, %(communication)s, %(stage)s, %(substage)s, %(substage_from)s,
    %(lead_types)s, %(sources)s, %(contact_form_types)s, %(step_count)s, %(variants)s, %(carries)s, %(notes)s)
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, action = EXCLUDED.action, communication = EXCLUDED.communication,
    stage = EXCLUDED.stage, substage = EXCLUDED.substage, substage_from = EXCLUDED.substage_from,
    lead_types = EXCLUDED.lead_types, sources = EXCLUDED.sources,
    contact_form_types = EXCLUDED.contact_form_types, step_count = EXCLUDED.step_count,
    variants = EXCLUDED.variants, carries = EXCLUDED.carries, notes = EXCLUDED.notes, updated_at = now()
WHERE (t.name, t.action, t.communication, t.stage, t.substage, t.substage_from, t.lead_types, t.sources,
       t.contact_form_types, t.step_count, t.variants, t.carries, t.notes)
   IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.action, EXCLUDED.communication, EXCLUDED.stage, EXCLUDED.substage,
       EXCLUDED.substage_from, EXCLUDED.lead_types, EXCLUDED.sources, EXCLUDED.contact_form_types,
       EXCLUDED.step_count, EXCLUDED.variants, EXCLUDED.carries, EXCLUDED.notes)
"""

_UPSERT_GM_REASON: Final = """
INSERT INTO gmcrm.gm_reason AS g (code, active, position) VALUES (%s, true, %s)
ON CONFLICT (code) DO UPDATE SET active = true, position = EXCLUDED.position, updated_at = now()
WHERE (g.active, g.position) IS DISTINCT FROM (true, EXCLUDED.position)
"""


def sync_catalogue(conn: psycopg.Connection[Any], catalogue: TriggerCatalogue | None = None) -> int:
    """Make ``gmcrm.trigger_catalogue`` and ``gmcrm.gm_reason`` match the YAML; return rows changed.

    Idempotent: a second run changes nothing and returns 0. Runs in the caller's transaction.
    Codes dropped from the YAML are deleted (the capture triggers stop recording them); GM reasons
    dropped from it are kept inactive, because DMS reasons may still point at them.
    """
    cat = catalogue or load_catalogue()
    changed = 0
    with conn.cursor() as cur:
        for position, code in enumerate(cat.gm_reasons, 1):
            cur.execute(_UPSERT_GM_REASON, (code, position))
            changed += cur.rowcount
        cur.execute(
            "UPDATE gmcrm.gm_reason SET active = false, updated_at = now() WHERE active AND NOT (code = ANY (%s))",
            (list(cat.gm_reasons),),
        )
        changed += cur.rowcount
        for trig in cat.triggers.values():
            cur.execute(
                _UPSERT_TRIGGER,
                {
                    "code": trig.code,
                    "name": trig.name,
                    "action": trig.action,
                    "communication": trig.communication,
                    "stage": trig.base.stage,
                    "substage": trig.base.substage,
                    "substage_from": trig.base.substage_from,
                    "lead_types": list(trig.lead_types),
                    "sources": Jsonb({k: list(v) for k, v in trig.sources.items()}) if trig.sources else None,
                    "contact_form_types": None if trig.contact_form_types is None else list(trig.contact_form_types),
                    "step_count": trig.step_count,
                    "variants": Jsonb(_variants(trig)),
                    "carries": list(trig.base.carries),
                    "notes": trig.notes,
                },
            )
            changed += cur.rowcount
        cur.execute("DELETE FROM gmcrm.trigger_catalogue WHERE NOT (code = ANY (%s))", (list(cat.triggers),))
        changed += cur.rowcount
    return changed


# ---------------------------------------------------------------------------------------------
# Outbox rows -> GM events


@dataclass(frozen=True)
class ReasonRef:
    code: str
    description: str
    reason_type: str
    gm_reason: str | None


@dataclass(frozen=True)
class VehicleRef:
    """A vehicle model: ``model`` is the description only ('Onix'); ``trim`` is the TRIN (version)."""

    model: str | None
    trim: str | None = None
    model_year: str | None = None


@dataclass(frozen=True)
class TradeInRef:
    model: str | None
    model_year: str | None = None
    trim: str | None = None
    mileage: int | None = None
    plate: str | None = None
    value: Decimal | float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> TradeInRef | None:
        """From the outbox's ``trade_in`` snapshot (keys model, model_year, trim, mileage, plate, value)."""
        if not data:
            return None
        mileage = data.get("mileage")
        value = data.get("value")
        return cls(
            model=data.get("model"),
            model_year=None if data.get("model_year") is None else str(data["model_year"]),
            trim=data.get("trim"),
            mileage=None if mileage is None else int(mileage),
            plate=data.get("plate"),
            value=None if value is None else Decimal(str(value)),
        )


@dataclass(frozen=True)
class OutboxEvent:
    """One outbox row with its references looked up (reasons are read at send time, on purpose)."""

    outbox_id: int
    dealer_code: str
    lead_id: str
    lead_type: str | None
    trigger_code: str
    occurred_at: datetime
    step: int = 1
    contact_form_type: str | None = None
    reason: ReasonRef | None = None
    vehicle: VehicleRef | None = None
    trade_in: TradeInRef | None = None
    salesperson: str | None = None

    @property
    def event_id(self) -> str:
        # Stable per outbox row: GM upserts on it, so a resend creates nothing new.
        return f"{self.dealer_code}-{self.outbox_id}"


def format_event_time(value: datetime) -> str:
    """ISO UTC to the second, 'YYYY-MM-DDTHH:MM:SSZ'; a naive time is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gm_reason_of(event: OutboxEvent, cat: TriggerCatalogue) -> str:
    """The GM reason of the event's DMS reason, as mapped now; raises when there is none to send."""
    if event.reason is None:
        raise MissingReferenceError(
            f"{event.trigger_code} of lead {event.lead_id} (outbox {event.outbox_id}) has no DMS reason; "
            "a lost sale is always registered with one"
        )
    if event.reason.gm_reason and event.reason.gm_reason in cat.gm_reasons:
        return event.reason.gm_reason
    reason_type = cat.reason_types.get(event.reason.reason_type)
    raise UnmappedReasonError(
        dealer_code=event.dealer_code,
        lead_id=event.lead_id,
        trigger_code=event.trigger_code,
        reason=event.reason,
        reason_type_name=reason_type.name if reason_type else None,
        gm_reasons=cat.gm_reasons,
    )


def _vehicle(attr: str) -> Callable[[OutboxEvent, TriggerCatalogue], Any]:
    return lambda e, _c: getattr(e.vehicle, attr) if e.vehicle else None


def _trade_in(attr: str) -> Callable[[OutboxEvent, TriggerCatalogue], Any]:
    def get(e: OutboxEvent, _c: TriggerCatalogue) -> Any:
        value = getattr(e.trade_in, attr) if e.trade_in else None
        # JSON has no decimal: the appraised value goes as a number with cents.
        return float(round(value, 2)) if isinstance(value, Decimal) else value

    return get


# How each carried logical field gets its value. Trigger-independent: which fields an event carries
# is the catalogue's business (field_groups, carries, default_carries).
FIELD_VALUES: Final[Mapping[str, Callable[[OutboxEvent, TriggerCatalogue], Any]]] = MappingProxyType(
    {
        "contact_channel": lambda e, c: c.contact_form_rule(e.contact_form_type).channel,
        "lost_reason": gm_reason_of,
        "vehicle_model": _vehicle("model"),
        "vehicle_model_year": _vehicle("model_year"),
        "vehicle_trim": _vehicle("trim"),
        "trade_in_model": _trade_in("model"),
        "trade_in_model_year": _trade_in("model_year"),
        "trade_in_trim": _trade_in("trim"),
        "trade_in_mileage": _trade_in("mileage"),
        "trade_in_plate": _trade_in("plate"),
        "trade_in_value": _trade_in("value"),
        "salesperson": lambda e, _c: e.salesperson,
    }
)

# How a deferred substage is decided (StageRule.substage_from).
SUBSTAGE_FROM: Final[Mapping[str, Callable[[OutboxEvent, TriggerCatalogue], str]]] = MappingProxyType(
    {
        "contact_form": lambda e, c: c.contact_form_rule(e.contact_form_type).substage,
        # The substage of a lost sale is the GM reason itself (gm-crm-api.md: same value as Lost_Reason__c).
        "gm_reason": gm_reason_of,
    }
)


def build_event(event: OutboxEvent, catalogue: TriggerCatalogue | None = None) -> dict[str, Any]:
    """The GM event of one outbox row, in logical names (every key of :data:`EVENT_FIELDS`; None = absent).

    Raises :class:`TriggerPayloadError` subclasses when it cannot be sent as it stands:
    :class:`UnmappedReasonError` (map the reason, retry), :class:`MissingReferenceError`,
    :class:`NotApplicableError`, :class:`UnknownTriggerError`.
    """
    cat = catalogue or load_catalogue()
    trig = cat.trigger(event.trigger_code)
    if event.lead_type is None:
        raise NotApplicableError(f"outbox {event.outbox_id}: the lead's type is unknown (contact missing?)")
    rule = trig.rule(event.lead_type, event.step)
    if trig.contact_form_types is not None and event.contact_form_type not in trig.contact_form_types:
        raise NotApplicableError(
            f"{trig.code} needs a contact form of type {', '.join(trig.contact_form_types)}, "
            f"not {event.contact_form_type or 'a form with no type'} (outbox {event.outbox_id})"
        )
    substage = SUBSTAGE_FROM[rule.substage_from](event, cat) if rule.substage_from else rule.substage
    logical: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
    logical.update(
        event_id=event.event_id,
        lead_id=event.lead_id,
        dealer_code=event.dealer_code,
        trigger_code=trig.code,
        communication=trig.communication,
        stage=rule.stage,
        substage=substage,
        event_time=format_event_time(event.occurred_at),
    )
    for name in cat.fields_of((*cat.default_carries, *rule.carries)):
        logical[name] = FIELD_VALUES[name](event, cat)
    missing = [name for name in trig.requires if logical.get(name) in (None, "")]
    if missing:
        raise MissingReferenceError(
            f"{trig.code} of lead {event.lead_id} (outbox {event.outbox_id}) lacks {', '.join(missing)}"
        )
    return logical


def build_record(
    event: OutboxEvent, catalogue: TriggerCatalogue | None = None, mapping: GmMapping | None = None
) -> dict[str, Any]:
    """The ``Lead_Event__c`` record in GM's API names (absent fields dropped)."""
    return (mapping or load_mapping()).event_record(build_event(event, catalogue))


# ---------------------------------------------------------------------------------------------
# Looking the references up


_EVENTS_QUERY: Final = """
SELECT o.id, o.dealer_code, o.lead_id, c.lead_type, o.trigger_code, o.step, o.occurred_at,
       cf.type AS contact_form_type,
       r.code AS reason_code, r.description AS reason_description, r.reason_type, r.gm_reason,
       vm.description AS vehicle_model, vm.version AS vehicle_trim,
       coalesce(o.vehicle_model_year, vm.model_year) AS vehicle_model_year,
       o.trade_in, u.name AS salesperson, o.vehicle_model_id
FROM gmcrm.trigger_outbox o
LEFT JOIN dms.contact c ON c.id = o.contact_id
LEFT JOIN dms.contact_form cf ON cf.id = o.contact_form_id
LEFT JOIN dms.reason r ON r.id = o.reason_id
LEFT JOIN dms.vehicle_model vm ON vm.id = o.vehicle_model_id
LEFT JOIN dms.app_user u ON u.id = o.user_id
WHERE o.id = ANY (%s)
ORDER BY o.id
"""


def fetch_outbox_events(conn: psycopg.Connection[Any], outbox_ids: Sequence[int]) -> list[OutboxEvent]:
    """The outbox rows ``outbox_ids`` with their references as they are now, in outbox order."""
    rows = conn.execute(_EVENTS_QUERY, (list(outbox_ids),)).fetchall()
    events: list[OutboxEvent] = []
    for row in rows:
        (oid, dealer, lead_id, lead_type, code, step, occurred_at, form_type,
         r_code, r_desc, r_type, gm_reason, model, trim, model_year, trade_in, salesperson, model_id) = row  # fmt: skip
        events.append(
            OutboxEvent(
                outbox_id=int(oid),
                dealer_code=dealer,
                lead_id=lead_id,
                lead_type=lead_type,
                trigger_code=code,
                occurred_at=occurred_at,
                step=int(step),
                contact_form_type=form_type,
                reason=None if r_code is None else ReasonRef(r_code, r_desc, r_type, gm_reason),
                vehicle=None if model_id is None else VehicleRef(model=model, trim=trim, model_year=model_year),
                trade_in=TradeInRef.from_json(trade_in),
                salesperson=salesperson,
            )
        )
    return events
