"""What the transform reads and writes: lead types and routings, field limits, the output columns with
their dtypes, and the quarantine reason codes. Data only; the rules that use them are in ``rules``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import pandas as pd

LEAD_TYPES: Final = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")
ROUTINGS: Final = ("DIRECT", "DISTRIBUTION")

#: Routing -> (status of a new contact, the column that gets the receiving user).
ROUTING_TARGET: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "DIRECT": ("IN_QUEUE", "assigned_user_id"),
        "DISTRIBUTION": ("AWAITING_DISTRIBUTION", "distribution_owner_user_id"),
    }
)

#: DMS lead type -> the ``gmcrm.dealership`` column of the user who receives it (vehicles covers both).
USER_SETTING: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NEW_VEHICLE": "vehicles_user_id",
        "USED_VEHICLE": "vehicles_user_id",
        "SERVICE": "service_user_id",
        "PARTS": "parts_user_id",
        "AFTER_SALES": "after_sales_user_id",
    }
)

#: First line of the contact's description, by DMS lead type (manual; "Oficina" for service is the
#: spec's choice, the manual prints "Peças" there).
DESCRIPTION_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NEW_VEHICLE": "Contato de Vendas criado a partir do Lead CRM",
        "USED_VEHICLE": "Contato de Vendas criado a partir do Lead CRM",
        "PARTS": "Contato de Peças criado a partir do Lead GM",
        "SERVICE": "Contato de Oficina criado a partir do Lead GM",
        "AFTER_SALES": "Contato de After Sales criado a partir do Lead GM",
    }
)

#: Labels of the description's further lines, each written only when it has a value.
DESCRIPTION_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "interest": "Produto de interesse: ",
        "comments": "Comentários: ",
        "invalid_document": "Documento informado (inválido): ",
    }
)

#: The customer name of a lead that has a way to reach the customer but no name.
NAMELESS_CUSTOMER: Final = "Cliente do Lead GM {lead_id}"

#: Longest value the DMS takes, by logical field (the GM field types of gm-crm-api.md).
FIELD_LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "first_name": 80,
        "last_name": 80,
        "email": 80,
        "phone": 40,
        "mobile_phone": 40,
        "document": 20,
        "model": 80,
        "model_year": 4,
        "trim": 80,
        "lead_source": 40,
    }
)

UTC_TIMESTAMP: Final = pd.DatetimeTZDtype(unit="us", tz="UTC")

#: Output columns of ``TransformResult.leads``, in order, with their dtypes.
LEAD_COLUMNS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "lead_id": "string",
        "dealer_code": "string",
        "lead_type": "string",
        "is_open": "boolean",
        "customer_name": "string",
        "person_type": "string",
        "document": "string",
        "email": "string",
        "email_key": "string",
        "phone": "string",
        "phone_key": "string",
        "mobile_phone": "string",
        "mobile_phone_key": "string",
        "contact_type": "string",
        "contact_subtype": "string",
        "department_id": "Int64",
        "traffic_origin": "string",
        "status": "string",
        "assigned_user_id": "Int64",
        "distribution_owner_user_id": "Int64",
        "description": "string",
        "interest_model": "string",
        "interest_model_year": "string",
        "interest_version": "string",
        "lead_source": "string",
        "lead_comments": "string",
        "gm_stage": "string",
        "gm_substage": "string",
        "gm_modstamp": UTC_TIMESTAMP,
        "gm_created_at": UTC_TIMESTAMP,
    }
)

#: Output columns of ``TransformResult.quarantine`` (``raw_record``: the API record, a dict).
QUARANTINE_COLUMNS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "lead_id": "string",
        "dealer_code": "string",
        "reason_code": "string",
        "reason": "string",
        "raw_record": "object",
        "gm_modstamp": UTC_TIMESTAMP,
    }
)

#: Output columns of ``TransformResult.deleted``.
DELETED_COLUMNS: Final[Mapping[str, Any]] = MappingProxyType({"lead_id": "string", "gm_modstamp": UTC_TIMESTAMP})

#: Logical input columns (``raw_record`` aside); a missing one is read as all empty.
INPUT_COLUMNS: Final = (
    "lead_id",
    "dealer_code",
    "lead_type",
    "stage",
    "substage",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile_phone",
    "document",
    "model",
    "model_year",
    "trim",
    "comments",
    "lead_source",
    "created_at",
    "modstamp",
    "is_deleted",
)


class Reason(StrEnum):
    """Quarantine reason codes, in priority order: a lead's first problem names its code."""

    DEALER_MISMATCH = "DEALER_MISMATCH"
    BAD_LEAD_ID = "BAD_LEAD_ID"
    UNKNOWN_LEAD_TYPE = "UNKNOWN_LEAD_TYPE"
    NO_NAME_NO_CONTACT = "NO_NAME_NO_CONTACT"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    NO_USER = "NO_USER"
    NO_CONTACT_SETTING = "NO_CONTACT_SETTING"


#: ``person_type`` values: a person (``F``, física) or a company (``J``, jurídica).
PERSON_TYPES: Final = ("F", "J")
