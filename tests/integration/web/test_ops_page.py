"""The operations page (every dealership at a glance), its quarantine and failed-events lists, and the
lead log's search of imports and quarantined leads, end to end.

Data as production makes it: leads created at the GM CRM sandbox and imported (one of them quarantined
for having no name and no way to reach the customer), BR0003's import failing because its GM connection
is unknown to Airflow, DMS activity recorded by the capture triggers and sent as the send DAG sends it,
a lost sale failing for its unmapped reason. Then the app through FastAPI's TestClient, and the same
app served by uvicorn and read by headless Chromium with screenshots (skipped only when
``/usr/bin/chromium`` is not installed).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient

from gmcrm.airflow_support import postgres_conn_json
from gmcrm.web.app import create_app
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, run_import
from tests.integration.helpers.send import seed, send
from tests.integration.web.test_lead_log_page import CHROMIUM, Node, cells, chromium, dom, lanes_of, mounted

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PHONE = "(11) 98765-4321"


@dataclass(frozen=True)
class World:
    sent: str
    failed: str  # its VPE failed: reason V99 has no GM reason
    quarantined: str
    failed_event: int
    dms_url: str


@pytest.fixture
def world(dms_conn_env: str, gm_sandbox: SandboxProcess) -> World:
    dms_url = dms_conn_env
    with psycopg.connect(dms_url, autocommit=True) as conn:
        seed(conn)
        conn.execute("UPDATE gmcrm.dealership SET gm_conn_id = 'gm_crm_typo' WHERE dealer_code = 'BR0003'")
        created = create_leads(
            gm_sandbox,
            lead("BR0001"),
            lead("BR0001"),
            lead("BR0001", First_Name__c=None, Last_Name__c=None, Email__c=None, Mobile_Phone__c=None),
            lead("BR0003"),
        )
        summary, _done, failed = run_import(dms_url, fast_client, run_id="scheduled__ops_1")
        assert not failed and summary.failed == ["BR0003"]
        sent, lost_lead, quarantined = (str(c["Id"]) for c in created[:3])
        contact, lost = dms.contact_of_lead(conn, sent), dms.contact_of_lead(conn, lost_lead)
        dms.register_contact(conn, contact, "PHONE")
        dms.register_contact(conn, lost, "PHONE")
        proposal = dms.save_proposal(conn, lost, "MONTANA-12T-PREMIER-25")
        dms.cancel_proposal(conn, proposal, "V99")  # "Desistiu da compra", deliberately unmapped
        report = send(conn, run_id="scheduled__ops_send")
        assert report.totals() == {"SENT": 7, "FAILED": 1}
        row = conn.execute(
            "SELECT id FROM gmcrm.trigger_outbox WHERE status = 'FAILED' AND lead_id = %s", (lost_lead,)
        ).fetchone()
        assert row is not None
    return World(sent, lost_lead, quarantined, int(row[0]), dms_url)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(mounted(create_app(lane_counts=lanes_of(1)))) as test_client:
        yield test_client


def get(client: TestClient, url: str, **params: str) -> Node:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    return dom(response.text)


def dealer_rows(page: Node) -> dict[str, Node]:
    return {r.attrs["data-dealer-code"]: r for r in page.one("table", id="dealerships").all("tr", "dealership")}


def text(node: Node) -> str:
    return " ".join(node.text().split())


def test_one_row_per_dealership_with_the_right_counts(client: TestClient, world: World) -> None:
    page = get(client, "/gmcrm/ops")
    rows = dealer_rows(page)
    assert list(rows) == ["BR0001", "BR0002", "BR0003"]

    br1 = rows["BR0001"]
    assert "enabled" in text(br1.all("td")[1]) and "DIRECT" in text(br1.all("td")[1])
    assert br1.one("td", "last-import").one("span", "badge").text() == "LOADED"
    assert text(br1.one("td", "leads-read")) == "3"
    assert text(br1.one("td", "contacts")) == "2"
    assert text(br1.one("td", "import-quarantined")) == "1"
    assert [a.attrs["data-reason"] for a in br1.one("td", "quarantine").all("a") if "data-reason" in a.attrs] == [
        "NO_NAME_NO_CONTACT"
    ]
    assert br1.one("a", "quarantine-link").text().split()[0] == "1"
    assert text(br1.one("td", "pending")) == "0" and text(br1.one("td", "blocked")) == "0"
    assert text(br1.one("td", "failed")) == "1"
    last_error = text(br1.one("td", "last-error"))
    assert f"event {world.failed_event} VPE UNMAPPED_REASON" in last_error and "V99" in last_error

    assert "DISTRIBUTION" in text(rows["BR0002"].all("td")[1])
    assert text(rows["BR0002"].one("td", "failed")) == "0" and "none" in text(rows["BR0002"].one("td", "quarantine"))

    br3 = rows["BR0003"]
    assert br3.one("td", "last-import").one("span", "badge").text() == "FAILED"
    assert "at extract" in text(br3.one("td", "last-import"))
    assert "gm_crm_typo" in text(br3.all("td")[1])
    error = text(br3.one("td", "last-error"))
    assert "import (extract)" in error and "'gm_crm_typo' is not defined in Airflow" in error

    # API calls today, per GM connection, saying where each figure comes from.
    usage = {s.attrs["data-conn-id"]: s for s in page.all("section", "api-usage")}
    assert set(usage) == {"gm_crm", "gm_crm_typo"}
    gm = usage["gm_crm"]
    imports, sends = int(gm.one("span", "api-imports").text()), int(gm.one("span", "api-sends").text())
    assert imports >= 1 and sends >= 1 and int(gm.one("span", "api-used").text()) == imports + sends
    # Against GM's daily limit, as GM's own Sforce-Limit-Info header gave it to the extract.
    assert int(gm.one("strong", "api-limit").text()) == 15000
    assert "calls used by the org" in text(gm.one("p", "api-remaining")) and "left at" in text(gm)
    assert "gmcrm.import_batch.api_limit" in text(gm) and "gmcrm.send_log" in text(gm)
    assert text(usage["gm_crm_typo"].one("span", "api-used")) == "0"


def test_links_lead_to_the_lists_and_the_lists_to_their_fixes(client: TestClient, world: World) -> None:
    br1 = dealer_rows(get(client, "/gmcrm/ops"))["BR0001"]

    quarantine = get(client, br1.one("a", "quarantine-link").attrs["href"])
    [row] = quarantine.one("table", id="quarantine").all("tr", "quarantined")
    assert row.attrs["data-lead-id"] == world.quarantined and row.attrs["data-reason"] == "NO_NAME_NO_CONTACT"
    assert row.one("a", "lead-id").attrs["href"] == f"/gmcrm/lead-log/lead/{world.quarantined}"
    fix = text(row.one("td", "fix"))
    assert "gmcrm quarantine retry BR0001 --reason NO_NAME_NO_CONTACT" in fix and fix.startswith("Correct the customer")
    by_reason = br1.one("a", data_reason="NO_NAME_NO_CONTACT").attrs["href"]
    assert by_reason == "/gmcrm/ops/quarantine?dealer_code=BR0001&reason=NO_NAME_NO_CONTACT"
    assert len(get(client, by_reason).all("tr", "quarantined")) == 1
    assert get(client, "/gmcrm/ops/quarantine", reason="NO_USER").all("tr", "quarantined") == []
    # The lead's timeline behind the link says the same.
    assert "NO_NAME_NO_CONTACT" in text(get(client, f"/gmcrm/lead-log/lead/{world.quarantined}"))

    failed = get(client, br1.one("a", "failed-link").attrs["href"])
    [event] = failed.one("table", id="events").all("tr", "event")
    assert event.attrs["data-outbox-id"] == str(world.failed_event) and event.attrs["data-status"] == "FAILED"
    assert "UNMAPPED_REASON" in cells(event)[5] and "V99" in cells(event)[5]
    commands = [c.text() for c in event.one("ol", "fix").all("code")]
    assert commands == [
        "gmcrm reasons list BR0001 --unmapped",
        "gmcrm reasons map BR0001 V99 <GM reason>",
        f"gmcrm events retry {world.failed_event}",
    ]
    params = json.loads(event.one("pre", "params").text())
    assert params == {"retry_failed": True, "dealer_codes": ["BR0001"]}
    assert event.one("td", "fix").one("a").attrs["href"] == "/dags/gmcrm_send_triggers"
    assert event.one("code", "airflow-cli").text() == (
        "airflow dags trigger gmcrm_send_triggers --conf '" + json.dumps(params) + "'"
    )
    assert event.one("a", "lead-id").attrs["href"] == f"/gmcrm/lead-log/lead/{world.failed}#event-{world.failed_event}"
    assert get(client, "/gmcrm/ops/events", status="BLOCKED").all("tr", "event") == []
    cancelled = get(client, "/gmcrm/ops/events", status="cancelled")
    assert "No CANCELLED event" in text(cancelled.one("table", id="events"))
    # The lead log's search by dealership: its imports (loaded and failed) and its quarantined leads.
    search = get(client, "/gmcrm/lead-log", dealer_code="BR0003")
    [failed_import] = search.one("table", id="imports").all("tr", "import")
    assert failed_import.attrs["data-outcome"] == "FAILED" and "gm_crm_typo" in text(failed_import)
    search = get(client, "/gmcrm/lead-log", dealer_code="BR0001")
    [loaded] = search.one("table", id="imports").all("tr", "import")
    assert cells(loaded)[1:6] == ["LOADED", "scheduled__ops_1", "3", "2", "1"]
    [q] = search.one("table", id="quarantined").all("tr", "quarantined")
    assert q.attrs["data-lead-id"] == world.quarantined
    by_lead = get(client, "/gmcrm/lead-log", lead_id=world.quarantined)
    assert [r.attrs["data-lead-id"] for r in by_lead.one("table", id="quarantined").all("tr", "quarantined")] == [
        world.quarantined
    ]
    # Without a dealership or a Lead ID the search stays as it was: send attempts only.
    assert not get(client, "/gmcrm/lead-log").all("table", id="imports")


def test_free_text_is_masked(client: TestClient, world: World) -> None:
    with psycopg.connect(world.dms_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO gmcrm.lead_quarantine (lead_id, dealer_code, reason_code, reason, raw_record) "
            "VALUES ('00QOPS0000000000001', 'BR0002', 'FIELD_TOO_LONG', %s, '{}')",
            (f"comments quote the phone {PHONE}",),
        )
        conn.execute(
            "UPDATE gmcrm.import_failure SET error = %s || error WHERE dealer_code = 'BR0003'", (f"call {PHONE}: ",)
        )
    pages = [
        client.get("/gmcrm/ops").text,
        client.get("/gmcrm/ops/quarantine").text,
        client.get("/gmcrm/lead-log", params={"dealer_code": "BR0003"}).text,
        client.get("/gmcrm/lead-log", params={"dealer_code": "BR0002"}).text,
    ]
    assert all(PHONE not in html and "98765-4321" not in html for html in pages)
    assert "00QOPS0000000000001" in pages[1] and "***21" in pages[1]
    assert "***21" in pages[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/gmcrm/ops/quarantine?dealer_code=<script>", "Dealership: not a dealer code"),
        ("/gmcrm/ops/quarantine?reason=no%20user", "Reason: a reason code"),
        ("/gmcrm/ops/events?status=LOST", "Status: one of FAILED, BLOCKED"),
        ("/gmcrm/ops/events?dealer_code=BR0001BR0001BR0001", "Dealership: not a dealer code"),
    ],
)
def test_bad_input_gets_a_message(dms_conn_env: str, url: str, message: str) -> None:
    with TestClient(mounted(create_app(lane_counts=None))) as client:
        response = client.get(url)
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
    page = dom(response.text)
    assert message in page.one("div", "errors").text()
    assert response.text.count("<script") == 1 and not page.all("table")  # only the page's own script


def test_an_empty_dms_shows_no_data_not_an_error(dms_conn_env: str) -> None:
    with TestClient(mounted(create_app(lane_counts=None))) as client:
        page = get(client, "/gmcrm/ops")
        assert "No dealership yet" in text(page.one("table", id="dealerships"))
        assert "No lead in quarantine" in text(get(client, "/gmcrm/ops/quarantine"))
        assert "No FAILED event" in text(get(client, "/gmcrm/ops/events"))


def test_a_dms_outage_is_a_503_page(dms_conn_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = f"postgresql://postgres@127.0.0.1:{port}/gone?connect_timeout=2"
    monkeypatch.setenv("AIRFLOW_CONN_DMS_POSTGRES", postgres_conn_json(down))
    with TestClient(mounted(create_app(lane_counts=None)), raise_server_exceptions=False) as client:
        for url in ("/gmcrm/ops", "/gmcrm/ops/quarantine?dealer_code=BR0001", "/gmcrm/ops/events"):
            response = client.get(url)
            assert response.status_code == 503, (url, response.text[:500])
            page = dom(response.text)
            assert "DMS database unavailable" in page.one("h1").text()
            assert "Traceback" not in response.text


# ---------------------------------------------------------------------------------------------
# Headless Chromium, with the screenshots kept under docs/.


@pytest.fixture
def served(world: World) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(mounted(create_app(lane_counts=lanes_of(1))), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless browser test needs Debian's Chromium: apt-get install -y chromium"
)
def test_pages_in_headless_chromium(served: str, world: World, tmp_path: Path) -> None:
    profile = tmp_path / "chromium-profile"
    ops_url = f"{served}/gmcrm/ops"
    page = dom(chromium(profile, "--dump-dom", ops_url))
    rows = dealer_rows(page)
    assert list(rows) == ["BR0001", "BR0002", "BR0003"]
    quarantine_url = urljoin(ops_url, rows["BR0001"].one("a", "quarantine-link").attrs["href"])
    events_url = urljoin(ops_url, rows["BR0001"].one("a", "failed-link").attrs["href"])
    quarantine = dom(chromium(profile, "--dump-dom", quarantine_url))
    assert [r.attrs["data-lead-id"] for r in quarantine.all("tr", "quarantined")] == [world.quarantined]
    events = dom(chromium(profile, "--dump-dom", events_url))
    assert [r.attrs["data-outbox-id"] for r in events.all("tr", "event")] == [str(world.failed_event)]
    search_url = f"{served}/gmcrm/lead-log?dealer_code=BR0001"
    search = dom(chromium(profile, "--dump-dom", search_url))
    assert len(search.one("table", id="imports").all("tr", "import")) == 1

    shots = {
        "ops-page.png": (ops_url, "1600,1000"),
        "quarantine.png": (quarantine_url, "1400,700"),
        "failed-events.png": (events_url, "1400,700"),
        "lead-log-search.png": (f"{served}/gmcrm/lead-log?lead_id={world.failed}", "1400,800"),
        "lead-log-dealership.png": (search_url, "1400,1500"),
        "lead-log-timeline.png": (f"{served}/gmcrm/lead-log/lead/{world.failed}", "1400,2000"),
    }
    for name, (url, size) in shots.items():
        chromium(profile, f"--screenshot={tmp_path / name}", f"--window-size={size}", url)
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000, png
    keep = os.environ.get("GMCRM_SCREENSHOT_DIR")
    if keep:
        for name in shots:
            shutil.copy(tmp_path / name, Path(keep) / name)
    print(f"screenshots in {tmp_path}")


def test_a_dealership_search_offers_no_lead_timeline(client: TestClient, world: World) -> None:
    """Searching a dealership without a Lead ID has no "timeline of lead" note (it once linked nowhere)."""
    page = get(client, "/gmcrm/lead-log", dealer_code="BR0001")
    assert not page.all("p", "note")
    assert get(client, "/gmcrm/lead-log", lead_id=world.sent).one("p", "note").one("a").attrs["href"] == (
        f"/gmcrm/lead-log/lead/{world.sent}"
    )
