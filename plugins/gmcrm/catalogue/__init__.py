"""The GM trigger catalogue (``config/triggers.yaml``): which GM triggers the DMS records, for which
lead types, sources and contact forms, with which stage and fields. ``model`` (the typed catalogue and
its rules), ``parse`` (the YAML read and validated), ``sync`` (its copy in the database, which the
capture routine ``gmcrm.record_trigger`` applies). Events are built from it by :mod:`gmcrm.send.payload`.
"""

from gmcrm.catalogue.model import (
    EVENT_FIELDS,
    CatalogueError,
    ContactFormRule,
    MissingReferenceError,
    NotApplicableError,
    ReasonType,
    StageRule,
    TriggerCatalogue,
    TriggerDef,
    TriggerPayloadError,
    UnknownTriggerError,
    UnmappedReasonError,
)
from gmcrm.catalogue.parse import DEFAULT_FILE, load_catalogue, parse_catalogue
from gmcrm.catalogue.sync import sync_catalogue

__all__ = [
    "DEFAULT_FILE",
    "EVENT_FIELDS",
    "CatalogueError",
    "ContactFormRule",
    "MissingReferenceError",
    "NotApplicableError",
    "ReasonType",
    "StageRule",
    "TriggerCatalogue",
    "TriggerDef",
    "TriggerPayloadError",
    "UnknownTriggerError",
    "UnmappedReasonError",
    "load_catalogue",
    "parse_catalogue",
    "sync_catalogue",
]
