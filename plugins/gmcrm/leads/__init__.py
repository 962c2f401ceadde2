"""Leads from GM CRM into the DMS: the pure transform (``transform``: ``transform_leads`` for one dealership,
``transform_many`` / ``transform_group`` for many in one pass); extract, load and the pipeline beside it."""

from gmcrm.leads.transform import (
    DELETED_COLUMNS,
    DESCRIPTION_HEADERS,
    DESCRIPTION_LABELS,
    FIELD_LIMITS,
    LEAD_COLUMNS,
    QUARANTINE_COLUMNS,
    ContactSetting,
    DealerContext,
    Reason,
    TransformResult,
    UserRef,
    salesforce_id18,
    transform_leads,
    transform_many,
)

__all__ = [
    "DELETED_COLUMNS",
    "DESCRIPTION_HEADERS",
    "DESCRIPTION_LABELS",
    "FIELD_LIMITS",
    "LEAD_COLUMNS",
    "QUARANTINE_COLUMNS",
    "ContactSetting",
    "DealerContext",
    "Reason",
    "TransformResult",
    "UserRef",
    "salesforce_id18",
    "transform_leads",
    "transform_many",
]
