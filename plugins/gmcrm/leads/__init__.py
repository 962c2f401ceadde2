"""Leads from GM CRM into the DMS: the pure transform (the ``transform`` package, entry point
``transform_group``: the leads of one or many dealerships in one pass); extract, load and the pipeline
beside it."""

from gmcrm.leads.transform import (
    DELETED_COLUMNS,
    DESCRIPTION_HEADERS,
    DESCRIPTION_LABELS,
    FIELD_LIMITS,
    LEAD_COLUMNS,
    QUARANTINE_COLUMNS,
    ContactSetting,
    DealerContext,
    GroupResult,
    Reason,
    TransformResult,
    UserRef,
    salesforce_id18,
    transform_group,
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
    "GroupResult",
    "Reason",
    "TransformResult",
    "UserRef",
    "salesforce_id18",
    "transform_group",
]
