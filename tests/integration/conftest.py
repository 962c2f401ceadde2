"""Fixtures shared by the integration tests (the database and sandbox ones are in ``tests/conftest.py``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
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


@pytest.fixture
def stack_home() -> Iterator[Path]:
    """AIRFLOW_HOME of a test's ``AirflowStack``. Not pytest's tmp_path: a short path (Unix sockets, log
    paths), and nothing another session could prune while Airflow runs."""
    path = Path(tempfile.mkdtemp(prefix="gmcrm-stack-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
