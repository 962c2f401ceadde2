"""The GM trigger catalogue (``config/triggers.yaml``) as typed data: each GM trigger's stage rules, the
contact-form and reason rules, and the errors an outbox row can meet when it becomes a GM event.

Nothing here reads a file or a database: :mod:`gmcrm.catalogue.parse` reads and validates the YAML,
:mod:`gmcrm.catalogue.sync` copies it into the database (where ``gmcrm.record_trigger`` applies it),
and :mod:`gmcrm.send.payload` builds events from it. Nothing branches on a trigger code: stage,
substage, what an event carries and what it requires all come from the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gmcrm.send.payload import ReasonRef

#: The carried logical fields a field group may name: each has a value rule in
#: :data:`gmcrm.send.payload.FIELD_VALUES` (a unit test keeps the two equal).
CARRIED_FIELDS: Final[tuple[str, ...]] = (
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
    *CARRIED_FIELDS,
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
