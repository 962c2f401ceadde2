"""Building GM lead events from outbox rows: pure functions of an outbox row (with its references looked
up by :func:`gmcrm.send.outbox.fetch_outbox_events`) and the GM trigger catalogue.

:func:`build_event` gives the event in logical field names; :func:`build_record` maps it to GM's API
names through :mod:`gmcrm.gm_mapping`; :func:`build_events` does both for a claim, keeping per event
the record or why it cannot be sent as it stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from gmcrm.catalogue.model import (
    EVENT_FIELDS,
    MissingReferenceError,
    NotApplicableError,
    TriggerCatalogue,
    TriggerPayloadError,
    UnmappedReasonError,
)
from gmcrm.catalogue.parse import load_catalogue
from gmcrm.gm_mapping import GmMapping, load_mapping


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


@dataclass
class BuiltEvent:
    """One claimed outbox row: its GM record, or why it cannot be sent as it stands."""

    outbox_id: int
    dealer_code: str
    lead_id: str
    trigger_code: str
    logical: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    error_code: str | None = None
    error: str | None = None


def build_events(
    events: Iterable[OutboxEvent],
    mapping: GmMapping | None = None,
    catalogue: TriggerCatalogue | None = None,
) -> list[BuiltEvent]:
    """Each event's logical fields and GM record, or its :class:`TriggerPayloadError` code and text."""
    mapping = mapping or load_mapping()
    catalogue = catalogue or load_catalogue()
    built: list[BuiltEvent] = []
    for event in events:
        item = BuiltEvent(event.outbox_id, event.dealer_code, event.lead_id, event.trigger_code)
        try:
            item.logical = build_event(event, catalogue)
            item.record = mapping.event_record(item.logical)
        except TriggerPayloadError as exc:
            item.error_code = exc.error_code
            item.error = str(exc)
        built.append(item)
    return built
