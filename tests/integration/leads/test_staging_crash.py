"""A real PostgreSQL crash between the extract and the load loses no lead (issue 8, point 1).

The test starts its own PostgreSQL, stages a dealership's first import (36 open leads, changed at
GM over 36 days, so that the read lookback cannot hide a lost one), stops the server with
``pg_ctl stop -m immediate``, starts it again and runs the load as the retried task would.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from gmcrm.gm_mapping import load_mapping
from gmcrm.leads import pipeline
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.crash import CrashablePostgres
from tests.integration.helpers.imports import create_leads, fast_client, lead, run_import, seed

pytestmark = pytest.mark.integration

LEADS = 36


@pytest.fixture
def crashable() -> Iterator[CrashablePostgres]:
    # Not pytest's tmp_path: concurrent pytest sessions of one user prune each other's old base
    # directories, and this server's data directory must outlive the crash.
    root = Path(tempfile.mkdtemp(prefix="gmcrm-crash-"))
    server = CrashablePostgres(root / "pg")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def _unreachable_unloaded(url: str, stamps: dict[str, datetime]) -> list[str]:
    """Leads without a contact that the next run will not read again: changed at GM before the
    watermark minus the lookback. Must always be empty."""
    lookback = timedelta(seconds=load_mapping().lookback_seconds)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT gm_modstamp FROM gmcrm.import_watermark WHERE dealer_code = 'BR0001'").fetchone()
        loaded = {r[0] for r in conn.execute("SELECT lead_id FROM dms.contact")}
    if row is None:
        return []
    return sorted(lead_id for lead_id, stamp in stamps.items() if stamp < row[0] - lookback and lead_id not in loaded)


@pytest.mark.parametrize("synchronous_commit", ["on", "off"])
def test_a_crash_between_extract_and_load_loses_no_lead(
    crashable: CrashablePostgres, gm_sandbox: SandboxProcess, synchronous_commit: str
) -> None:
    url = crashable.url
    with psycopg.connect(url, autocommit=True) as conn:
        seed(conn)
        # "off": a server tuned for speed, whose commits do not wait for the WAL flush unless a session
        # asks; the extract asks, so what it staged is there after the crash.
        conn.execute(f"ALTER DATABASE {conn.info.dbname} SET synchronous_commit = {synchronous_commit}")
    now = datetime.now(UTC).replace(microsecond=0)
    stamps = [now - timedelta(days=LEADS - i) for i in range(LEADS)]
    created = create_leads(
        gm_sandbox,
        *(
            lead(
                "BR0001",
                CreatedDate=f"{s:%Y-%m-%dT%H:%M:%S}.000+0000",
                SystemModstamp=f"{s:%Y-%m-%dT%H:%M:%S}.000+0000",
            )
            for s in stamps
        ),
    )
    modstamps = {c["Id"]: s for c, s in zip(created, stamps, strict=True)}
    client = fast_client()
    run_id = f"crash__{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url) as conn:
        summary = pipeline.extract(conn, run_id, lambda _c: client, dealer_codes=["BR0001"])
    assert summary.records == LEADS

    crashable.crash()  # between extract_leads and load_dealerships
    crashable.restart()

    with psycopg.connect(url) as conn:  # load_dealerships, retried after the crash
        assert conn.execute("SELECT count(*) FROM gmcrm.lead_staging").fetchone() == (LEADS,)
        for group in summary.groups:
            done, failed = pipeline.load_group(conn, group, load_mapping())
            assert not failed and [r.contacts_created for r in done] == [LEADS]
    assert _unreachable_unloaded(url, modstamps) == []

    _, _, failed = run_import(url, lambda _c: client, dealer_codes=["BR0001"])  # the next run
    assert not failed
    assert _unreachable_unloaded(url, modstamps) == []
    with psycopg.connect(url) as conn:
        loaded = {r[0] for r in conn.execute("SELECT lead_id FROM dms.contact WHERE dealer_code = 'BR0001'")}
    assert loaded == set(modstamps)
