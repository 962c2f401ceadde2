"""The GM CRM field mapping (``config/gm_crm.yaml``) as typed data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from gmcrm import settings
from gmcrm.paths import PACKAGE_DIR

DEFAULT_FILE = PACKAGE_DIR / "config" / "gm_crm.yaml"


@dataclass(frozen=True)
class GmMapping:
    api_version: str
    lead_object: str
    lead_fields: dict[str, str]
    lead_types: dict[str, str]
    closed_stages: tuple[str, ...]
    event_object: str
    event_external_id: str
    event_fields: dict[str, str]
    event_batch_size: int
    page_size: int
    lookback_seconds: int
    max_dealers_per_query: int
    #: The lead field naming who changed it last: the import skips the integration's own changes by it.
    modified_by_field: str = "LastModifiedById"
    #: How often each dealership's read also takes the integration's own changes since the last time
    #: (0: every cycle, i.e. no change is skipped at all).
    own_changes_check_hours: float = 24.0

    def event_record(self, logical: dict[str, Any]) -> dict[str, Any]:
        """An event in logical names -> a Lead_Event__c record in API names (None values dropped)."""
        record: dict[str, Any] = {"attributes": {"type": self.event_object}}
        for key, value in logical.items():
            if value is not None:
                record[self.event_fields[key]] = value
        return record


def _from_dict(raw: dict[str, Any]) -> GmMapping:
    return GmMapping(
        api_version=str(raw["api_version"]),
        lead_object=raw["lead"]["object"],
        lead_fields=dict(raw["lead"]["fields"]),
        lead_types=dict(raw["lead"]["lead_types"]),
        closed_stages=tuple(raw["lead"]["closed_stages"]),
        event_object=raw["event"]["object"],
        event_external_id=raw["event"]["external_id"],
        event_fields=dict(raw["event"]["fields"]),
        event_batch_size=int(raw["event"]["batch_size"]),
        page_size=int(raw["query"]["page_size"]),
        lookback_seconds=int(raw["query"]["lookback_seconds"]),
        max_dealers_per_query=int(raw["query"]["max_dealers_per_query"]),
        modified_by_field=str(raw["lead"].get("modified_by", "LastModifiedById")),
        own_changes_check_hours=float(raw["query"].get("own_changes_check_hours", 24)),
    )


@lru_cache(maxsize=4)
def load_mapping(path: str | None = None) -> GmMapping:
    """The mapping from ``path``, ``GMCRM_GM_MAPPING`` or the project default."""
    file = Path(path or settings.gm_mapping_file() or DEFAULT_FILE)
    return _from_dict(yaml.safe_load(file.read_text(encoding="utf-8")))
