"""Fixtures shared by the integration tests (the database and sandbox ones are in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.helpers.send import seed


@pytest.fixture
def conn(dms_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A seeded DMS; each statement commits on its own, as each DMS screen action would."""
    with psycopg.connect(dms_url, autocommit=True) as connection:
        seed(connection)
        yield connection
