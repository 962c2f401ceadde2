"""The two sObjects the sandbox serves, as data.

GM owns the real names; ``gm-crm-api.md`` gives the default mapping and the sandbox implements exactly that.
Everything that GM may change (picklists, field lists, lengths) is a table here, read by the code, never an
if-chain, so that a change is one edit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal

FieldType = Literal["id", "reference", "string", "picklist", "textarea", "datetime", "boolean", "double"]

# Types whose values are text: compared case-insensitively in SOQL, as Salesforce does.
TEXT_TYPES: Final[frozenset[str]] = frozenset({"string", "picklist", "textarea"})
ID_TYPES: Final[frozenset[str]] = frozenset({"id", "reference"})

STAGES: Final[tuple[str, ...]] = (
    "New",
    "Assigned",
    "Experiencing",
    "Deciding",
    "Converted",
    "Delivered",
    "NotConverted",
)
# The CREATE_ communications carry these: they exist on the event, never on a lead.
EVENT_ONLY_STAGE: Final = "WithoutStage"
EVENT_ONLY_SUBSTAGE: Final = "WithoutSubstage"
CLOSED_STAGES: Final[frozenset[str]] = frozenset({"Converted", "Delivered", "NotConverted"})

# triggers.md, the substage column and the contact-form table.
TRIGGER_SUBSTAGES: Final[tuple[str, ...]] = (
    "InProgressEmail",
    "InProgressPhone",
    "InProgressInPerson",
    "InProgressUnresponsive",
    "TestDriveScheduled",
    "TestDriveShowed",
    "ShowroomVisit",
    "OfferPresented",
    "New",
    "ServiceComplete",
    "PartsAndAccessories",
    "PartsAndAccessoriesOrdered",
    "AfterSales",
    "Contacted",
    "ServiceScheduled",
)
# triggers.md, "Lost-sale reasons → GM reason": the default list shipped until GM configures its own.
LOST_REASONS: Final[tuple[str, ...]] = (
    "BoughtElsewhere",
    "CustomerNoshow",
    "NotInterested",
    "PriceOrConditions",
    "CreditDenied",
    "VehicleUnavailable",
    "Unreachable",
    "DuplicateLead",
    "InvalidContactData",
    "Other",
)
LEAD_TYPES: Final[tuple[str, ...]] = ("New Vehicle", "Used Vehicle", "After Sales", "Service", "Parts")
COMMUNICATIONS: Final[tuple[str, ...]] = (
    "DISPOSITION_UPDATE",
    "CREATE_MODEL_OF_INTEREST",
    "CREATE_TRADE_IN_DETAILS",
)
DISPOSITION_UPDATE: Final = "DISPOSITION_UPDATE"
CONTACT_CHANNELS: Final[tuple[str, ...]] = ("Email", "Phone", "InPerson")

LEAD_SUBSTAGES: Final[tuple[str, ...]] = TRIGGER_SUBSTAGES + LOST_REASONS
EVENT_STAGES: Final[tuple[str, ...]] = (*STAGES, EVENT_ONLY_STAGE)
EVENT_SUBSTAGES: Final[tuple[str, ...]] = (*LEAD_SUBSTAGES, EVENT_ONLY_SUBSTAGE)

# Stages for which a DISPOSITION_UPDATE may come without a substage: LIM and LAT carry none
# (triggers.md prints "—"). Every other event must name one. *(choice, see the package README)*
STAGES_WITHOUT_SUBSTAGE: Final[frozenset[str]] = frozenset({"New", "Assigned"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of an sObject, with what SOQL and the collection upsert need to know about it."""

    name: str
    type: FieldType
    length: int | None = None
    picklist: tuple[str, ...] | None = None
    # Restricted picklists refuse values outside the list (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST).
    restricted: bool = False
    # Long text areas cannot be filtered or sorted in SOQL: Salesforce refuses both.
    filterable: bool = True
    sortable: bool = True
    # Whether the integration user may write it through the API (system fields may not).
    writable: bool = True
    required: bool = False
    external_id: bool = False
    reference_to: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectDef:
    """An sObject: its API name, key prefix and fields (in describe order)."""

    name: str
    key_prefix: str
    fields: tuple[FieldDef, ...]

    def field_map(self) -> dict[str, FieldDef]:
        """Fields by lower-cased name: Salesforce field names are case-insensitive. Do not mutate."""
        return _field_map(self)


@functools.cache
def _field_map(obj: ObjectDef) -> dict[str, FieldDef]:
    # Cached: looked up on every query page and record.
    return {f.name.lower(): f for f in obj.fields}


def _system_fields() -> tuple[FieldDef, ...]:
    # The audit fields Salesforce keeps on every record: who created it and who changed it last (the
    # signed-in user of the request, 18-character User ids, prefix 005), when a user last changed it
    # (LastModifiedDate) and when anything, system processes included, last did (SystemModstamp).
    return (
        FieldDef("CreatedDate", "datetime", writable=False),
        FieldDef("CreatedById", "reference", length=18, writable=False, reference_to="User"),
        FieldDef("LastModifiedDate", "datetime", writable=False),
        FieldDef("LastModifiedById", "reference", length=18, writable=False, reference_to="User"),
        FieldDef("SystemModstamp", "datetime", writable=False),
        FieldDef("IsDeleted", "boolean", writable=False),
    )


OPPORTUNITY: Final = ObjectDef(
    name="Opportunity",
    key_prefix="006",
    fields=(
        FieldDef("Id", "id", length=18, writable=False),
        FieldDef("Dealer_Code__c", "string", length=10),
        FieldDef("Lead_Type__c", "picklist", picklist=LEAD_TYPES),
        FieldDef("StageName", "picklist", picklist=STAGES),
        FieldDef("Substage__c", "picklist", picklist=LEAD_SUBSTAGES),
        FieldDef("First_Name__c", "string", length=80),
        FieldDef("Last_Name__c", "string", length=80),
        FieldDef("Email__c", "string", length=80),
        FieldDef("Phone__c", "string", length=40),
        FieldDef("Mobile_Phone__c", "string", length=40),
        FieldDef("Document_Number__c", "string", length=20),
        FieldDef("Model_Of_Interest__c", "string", length=80),
        FieldDef("Model_Year__c", "string", length=4),
        FieldDef("Trim__c", "string", length=80),
        FieldDef("Comments__c", "textarea", length=32768, filterable=False, sortable=False),
        FieldDef("Lead_Source__c", "string", length=40),
        *_system_fields(),
    ),
)

LEAD_EVENT: Final = ObjectDef(
    name="Lead_Event__c",
    # A custom object's prefix: Salesforce hands out a0X-style prefixes to custom objects.
    key_prefix="a0X",
    fields=(
        FieldDef("Id", "id", length=18, writable=False),
        FieldDef("DMS_Event_Id__c", "string", length=40, required=True, external_id=True),
        FieldDef("Lead__c", "reference", length=18, required=True, reference_to="Opportunity"),
        FieldDef("Dealer_Code__c", "string", length=10, required=True),
        FieldDef("Trigger_Code__c", "string", length=3, required=True),
        FieldDef("Communication__c", "picklist", picklist=COMMUNICATIONS, restricted=True, required=True),
        FieldDef("Stage__c", "picklist", picklist=EVENT_STAGES, restricted=True, required=True),
        # Required except for LIM/LAT-like events: see STAGES_WITHOUT_SUBSTAGE.
        FieldDef("Substage__c", "picklist", picklist=EVENT_SUBSTAGES, restricted=True, required=True),
        FieldDef("Event_Time__c", "datetime", required=True),
        FieldDef("Contact_Channel__c", "picklist", picklist=CONTACT_CHANNELS, restricted=True),
        FieldDef("Lost_Reason__c", "string", length=40),
        FieldDef("Vehicle_Model__c", "string", length=80),
        FieldDef("Vehicle_Model_Year__c", "string", length=4),
        FieldDef("Vehicle_Trim__c", "string", length=80),
        FieldDef("Trade_In_Model__c", "string", length=80),
        FieldDef("Trade_In_Model_Year__c", "string", length=4),
        FieldDef("Trade_In_Trim__c", "string", length=80),
        FieldDef("Trade_In_Mileage__c", "double"),
        FieldDef("Trade_In_Plate__c", "string", length=10),
        FieldDef("Trade_In_Value__c", "double"),
        FieldDef("Salesperson__c", "string", length=80),
        *_system_fields(),
    ),
)

OBJECTS: Final[dict[str, ObjectDef]] = {o.name.lower(): o for o in (OPPORTUNITY, LEAD_EVENT)}

OPPORTUNITY_FIELDS: Final[dict[str, FieldDef]] = OPPORTUNITY.field_map()
LEAD_EVENT_FIELDS: Final[dict[str, FieldDef]] = LEAD_EVENT.field_map()


def field_label(field: FieldDef) -> str:
    """The label Salesforce puts in error messages: the API name without ``__c`` and underscores."""
    base = field.name.removesuffix("__c")
    return base.replace("_", " ")
