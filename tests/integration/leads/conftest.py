"""Fixtures of the import's tests."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.helpers.imports import seed


@pytest.fixture
def dms(dms_url: str) -> str:
    """A DMS with the demo dealerships (BR0001 DIRECT, BR0002 DISTRIBUTION, BR0003 DIRECT)."""
    with psycopg.connect(dms_url) as conn:
        seed(conn)
    return dms_url
