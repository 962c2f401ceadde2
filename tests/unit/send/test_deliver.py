"""How one per-record answer of GM's collection upsert is classified (gmcrm.send.deliver.classify)."""

from __future__ import annotations

import pytest

from gmcrm.send.deliver import classify


def _error(code: str, fields: list[str] | None = None) -> dict[str, object]:
    return {"id": None, "success": False, "errors": [{"statusCode": code, "message": "m", "fields": fields or []}]}


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("ENTITY_IS_DELETED", "CANCELLED"),  # the lead deleted at GM: final, not a failure
        ("INVALID_CROSS_REFERENCE_KEY", "FAILED"),  # unknown lead: maybe the wrong org, a person decides
        ("UNABLE_TO_LOCK_ROW", "RETRY"),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "FAILED"),
    ],
)
def test_record_errors(code: str, outcome: str) -> None:
    assert classify(_error(code)) == (outcome, code, "m")


def test_success_and_fields() -> None:
    assert classify({"id": "a0X", "success": True, "errors": []}) == ("SENT", None, None)
    assert classify(_error("REQUIRED_FIELD_MISSING", ["Stage__c"]))[2] == "m (fields: Stage__c)"
