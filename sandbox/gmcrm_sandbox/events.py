"""Lead events written with sObject Collections upsert: request parsing and per-record validation.

Two levels of failure, as in Salesforce:

- the request as a whole (``400`` with an array body): not JSON, no ``records`` list, more than 200
  records, a record without its type, an unknown field, a value of the wrong JSON type;
- one record (``200``, that record's result has ``success: false``): the validations GM's org runs,
  in the order Salesforce runs them (field-level first, then cross-references and sharing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from . import ids
from .errors import ApiError, record_error
from .records import CoercionError, coerce_value
from .schema import (
    DISPOSITION_UPDATE,
    EVENT_ONLY_STAGE,
    EVENT_ONLY_SUBSTAGE,
    LEAD_EVENT,
    LEAD_EVENT_FIELDS,
    OPPORTUNITY,
    STAGES_WITHOUT_SUBSTAGE,
    field_label,
)

MAX_RECORDS: Final = 200
# The checks below, as data derived once from the schema (validation runs for every record).
_REQUIRED: Final = tuple(f for f in LEAD_EVENT.fields if f.required)
_LENGTH_CHECKED: Final = tuple(
    f for f in LEAD_EVENT.fields if f.length is not None and f.type in ("string", "picklist", "textarea")
)
_RESTRICTED: Final = tuple((f, frozenset(f.picklist)) for f in LEAD_EVENT.fields if f.restricted and f.picklist)


@dataclass(slots=True)
class IncomingEvent:
    """One record of a collection request, its fields already coerced to internal values."""

    index: int
    fields: dict[str, Any]
    # The record as it came (without ``attributes``), kept for the admin API's receipts.
    sent: dict[str, Any]
    # Fields the integration user may not write (system fields), sent anyway.
    readonly: list[str] = field(default_factory=list)
    # The lead's canonical 18-character Id, set by ``validate`` once the reference checked out.
    lead_id: str | None = None
    # The external id as sent (None when missing), read once: every step of the upsert needs it.
    dms_event_id: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        value = self.fields.get("DMS_Event_Id__c")
        self.dms_event_id = None if value is None else str(value)


def parse_collection(body: bytes) -> tuple[bool, list[IncomingEvent]]:
    """(allOrNone, records) of a collection upsert body, or ``ApiError`` for the whole request."""
    payload = _json_object(body)
    all_or_none = payload.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of boolean for allOrNone")
    unknown_keys = set(payload) - {"allOrNone", "records"}
    if unknown_keys:
        raise ApiError(400, "JSON_PARSER_ERROR", f'Unrecognized field "{sorted(unknown_keys)[0]}"')
    records = payload.get("records")
    if not isinstance(records, list):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: records must be an array")
    if len(records) > MAX_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
        )
    return all_or_none, [_parse_record(i, raw) for i, raw in enumerate(records)]


def parse_single(body: bytes, dms_event_id: str) -> IncomingEvent:
    """The body of a single upsert ``PATCH sobjects/Lead_Event__c/DMS_Event_Id__c/<value>``: the fields,
    ``attributes`` optional, the external id taken from the URL."""
    payload = _json_object(body)
    raw = {k: v for k, v in payload.items() if k.lower() != "dms_event_id__c"}
    sent_id = next((v for k, v in payload.items() if k.lower() == "dms_event_id__c"), dms_event_id)
    if sent_id != dms_event_id:
        raise ApiError(
            400,
            "INVALID_FIELD",
            "The external ID in the request body does not match the one in the URL",
            ["DMS_Event_Id__c"],
        )
    raw.setdefault("attributes", {"type": LEAD_EVENT.name})
    raw["DMS_Event_Id__c"] = dms_event_id
    return _parse_record(0, raw)


def _json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object, else the ``JSON_PARSER_ERROR`` Salesforce answers."""
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: expected a JSON object")
    return payload


def _parse_record(index: int, raw: Any) -> IncomingEvent:
    if not isinstance(raw, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize record {index}: expected a JSON object")
    attributes = raw.get("attributes")
    if not isinstance(attributes, dict) or not isinstance(attributes.get("type"), str):
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    if attributes["type"].lower() != LEAD_EVENT.name.lower():
        raise ApiError(400, "INVALID_TYPE", f"Entity type {attributes['type']} does not match {LEAD_EVENT.name}")
    fields: dict[str, Any] = {}
    sent: dict[str, Any] = {}
    readonly: list[str] = []
    for key, value in raw.items():
        if key == "attributes":
            continue
        fdef = LEAD_EVENT_FIELDS.get(key.lower())
        if fdef is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {LEAD_EVENT.name}", [key])
        sent[fdef.name] = value
        if not fdef.writable:
            readonly.append(fdef.name)
            continue
        try:
            fields[fdef.name] = coerce_value(fdef, value)
        except CoercionError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", exc.message, [exc.field]) from None
    return IncomingEvent(index, fields, sent, readonly)


def _missing(fields: Mapping[str, Any], name: str) -> bool:
    value = fields.get(name)
    return value is None or (value.__class__ is str and not value.strip())


def _substage_optional(fields: Mapping[str, Any]) -> bool:
    """LIM/LAT-like events (DISPOSITION_UPDATE to New or Assigned) carry no substage (triggers.md: "—")."""
    return fields.get("Communication__c") == DISPOSITION_UPDATE and fields.get("Stage__c") in STAGES_WITHOUT_SUBSTAGE


def validate(event: IncomingEvent, leads: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The first error GM's org would report for this record, or None when it may be saved."""
    fields = event.fields
    if event.readonly:
        return record_error(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(event.readonly)}. Please check the security settings "
            "of this field and verify that it is read/write for your profile or permission set.",
            event.readonly,
        )
    missing = [
        f.name
        for f in _REQUIRED
        if _missing(fields, f.name) and not (f.name == "Substage__c" and _substage_optional(fields))
    ]
    if missing:
        return record_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
    for f in _LENGTH_CHECKED:
        value = fields.get(f.name)
        if value is not None and f.length is not None and len(value) > f.length:
            return record_error(
                "STRING_TOO_LONG",
                f"{field_label(f)}: data value too large: {value} (max length={f.length})",
                [f.name],
            )
    for f, allowed in _RESTRICTED:
        value = fields.get(f.name)
        if value is not None and value not in allowed:
            return record_error(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{field_label(f)}: bad value for restricted picklist field: {value}",
                [f.name],
            )
    consistency = _communication_rule(fields)
    if consistency is not None:
        return consistency
    lead_ref = str(fields["Lead__c"]).strip()
    lead_id = ids.to_18(lead_ref)
    lead = leads.get(lead_id) if lead_id is not None and lead_id.startswith(OPPORTUNITY.key_prefix) else None
    if lead is None:
        return record_error("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {lead_ref}", ["Lead__c"])
    if lead.get("IsDeleted"):
        return record_error("ENTITY_IS_DELETED", "entity is deleted", [])
    # The same dealer code whatever its case or surrounding spaces (a no-break space survives
    # Salesforce's trim of ASCII spaces): the DMS reads such a lead as that dealership's and says so.
    lead_dealer = str(lead.get("Dealer_Code__c") or "")
    if lead_dealer.strip().casefold() != str(fields["Dealer_Code__c"]).strip().casefold():
        return record_error(
            "INSUFFICIENT_ACCESS_OR_READONLY",
            f"insufficient access rights on cross-reference id: {lead_id}",
            [],
        )
    event.lead_id = lead_id
    return None


def _communication_rule(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """GM's validation rule tying stage to communication (gm-crm-api.md): a DISPOSITION_UPDATE moves the
    lead, so it needs a real stage; the CREATE_ communications carry WithoutStage/WithoutSubstage."""
    communication = fields.get("Communication__c")
    stage = fields.get("Stage__c")
    substage = fields.get("Substage__c")
    if communication == DISPOSITION_UPDATE:
        if stage == EVENT_ONLY_STAGE or substage == EVENT_ONLY_SUBSTAGE:
            return record_error(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                f"A {DISPOSITION_UPDATE} needs a lead stage and substage; "
                f"{EVENT_ONLY_STAGE}/{EVENT_ONLY_SUBSTAGE} are only for the CREATE_ communications",
                ["Stage__c", "Substage__c"],
            )
    elif stage != EVENT_ONLY_STAGE or substage != EVENT_ONLY_SUBSTAGE:
        return record_error(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            f"{communication} must carry Stage {EVENT_ONLY_STAGE} and Substage {EVENT_ONLY_SUBSTAGE}",
            ["Stage__c", "Substage__c"],
        )
    return None
