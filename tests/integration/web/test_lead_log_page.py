"""The lead log page (manual: "Consulta de Logs") in the Airflow UI, end to end.

Data is made as production makes it: leads created at the GM CRM sandbox and imported, worked in the
DMS (``gmcrm_devtools.dms_actions``; the capture triggers record the events), sent as the send DAG
sends them, one of them failing (a lost sale whose reason has no GM reason). Then:

1. the FastAPI app, mounted under ``/gmcrm`` as Airflow mounts it, through FastAPI's TestClient;
2. the same app served by uvicorn and read by a real headless Chromium (``--dump-dom`` and
   ``--screenshot``); skipped only when ``/usr/bin/chromium`` is not installed;
3. the plugin as Airflow loads it: found by ``airflow.plugins_manager`` with its FastAPI app and its
   Browse menu entry, loaded with no database or network; and the page behind Airflow's own API server
   app (``airflow.api_fastapi.app.create_app``), whose JWT decides who may read it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from gmcrm.airflow_support import postgres_conn_json
from gmcrm.dag_defaults import SEND_DAG_ID
from gmcrm.web.app import MOUNT_PREFIX, create_app
from gmcrm.web.auth import require_lead_log_access
from gmcrm.web.links import task_log_links
from gmcrm_devtools import dms_actions as dms
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.send import contacts, import_leads, seed, send, send_log

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
# A run id as Airflow's scheduler makes them: ':' and '+' must survive the task log link.
RUN_ID = "scheduled__2026-03-02T12:05:00+00:00"
TASK_LOG = f"/dags/{SEND_DAG_ID}/runs/{quote(RUN_ID, safe='')}/tasks/send_lane/mapped/0?try_number=1"
PHONE, EMAIL = "(11) 98765-4321", "ana.silva@exemplo.com.br"
# How the Airflow 3.3 UI frames an external view (airflow/ui/dist: the plugin page's <iframe>).
AIRFLOW_FRAME_SANDBOX = "allow-scripts allow-same-origin allow-forms allow-downloads"


# ---------------------------------------------------------------------------------------------
# A small DOM for asserting on HTML (the page's and Chromium's): the standard library's parser.


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.attrs.get("class", "").split())
            and all(n.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls} {attrs}>"
        return found[0]

    def facts(self) -> dict[str, str]:
        """The <dt>/<dd> pairs of the entry's first <dl class="facts">."""
        dl = self.all("dl", "facts")[0]
        return {div.one("dt").text().strip(): div.one("dd").text().strip() for div in dl.all("div")}


class _Builder(HTMLParser):
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def dom(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


# ---------------------------------------------------------------------------------------------
# Data: two leads of BR0001, worked in the DMS and sent; the second one's lost sale fails.


@dataclass(frozen=True)
class Leads:
    sent: str  # LIM, LAT, CRE (phone), TDA, TDR: all SENT
    failed: str  # LIM, LAT, CRE, PAB SENT; VPE FAILED (reason V99 has no GM reason)
    quarantined: str  # never imported: its quarantine reason quotes a phone and an e-mail
    dms_url: str

    def send_log(self, lead_id: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.dms_url) as conn:
            return send_log(conn, lead_id)


@pytest.fixture
def leads(dms_conn_env: str, gm_sandbox: SandboxProcess) -> Leads:
    dms_url = dms_conn_env
    with psycopg.connect(dms_url, autocommit=True) as conn:
        seed(conn)
        sent, failed = import_leads(dms_url, gm_sandbox, ("BR0001", "NEW_VEHICLE"), ("BR0001", "NEW_VEHICLE"))
        contact, lost = contacts(conn, [sent, failed])
        dms.register_contact(conn, contact, "PHONE")
        drive = dms.schedule_test_drive(conn, contact, "ONIX-10-LT-25")
        dms.complete_test_drive(conn, drive)
        dms.register_contact(conn, lost, "PHONE")
        proposal = dms.save_proposal(conn, lost, "MONTANA-12T-PREMIER-25")
        dms.cancel_proposal(conn, proposal, "V99")  # "Desistiu da compra", deliberately unmapped
        report = send(conn, run_id=RUN_ID)
        assert report.totals() == {"SENT": 9, "FAILED": 1}
        # What the import writes for a lead it cannot load, with a reason quoting customer data.
        quarantined = "00QQUARANTINE00001"
        conn.execute(
            "INSERT INTO gmcrm.lead_quarantine (lead_id, dealer_code, reason_code, reason, raw_record) "
            "VALUES (%s, 'BR0001', 'NO_CONTACT', %s, '{}')",
            (quarantined, f"no usable contact: phone {PHONE} and e-mail {EMAIL} rejected"),
        )
    return Leads(sent, failed, quarantined, dms_url)


def lanes_of(count: int) -> Any:
    return lambda _dag_id, runs: dict.fromkeys(runs, count)


def mounted(app: FastAPI) -> FastAPI:
    """The app under ``/gmcrm``, as Airflow's API server mounts plugin apps; auth is tested apart."""
    app.dependency_overrides[require_lead_log_access] = lambda: None
    root = FastAPI()
    root.mount(MOUNT_PREFIX, app)
    return root


@pytest.fixture
def client(leads: Leads) -> Iterator[TestClient]:
    with TestClient(mounted(create_app(lane_counts=lanes_of(1)))) as test_client:
        yield test_client


def get_dom(client: TestClient, url: str, **params: str) -> Node:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    return dom(response.text)


def result_rows(page: Node) -> list[Node]:
    return page.one("table", id="results").one("tbody").all("tr", "attempt")


def cells(row: Node) -> list[str]:
    return [" ".join(td.text().split()) for td in row.all("td")]


# ---------------------------------------------------------------------------------------------
# 1. The app through FastAPI's TestClient.


def test_search_by_lead_id_lists_its_attempts_with_links(client: TestClient, leads: Leads) -> None:
    page = get_dom(client, "/gmcrm/lead-log", lead_id=leads.sent)
    rows = result_rows(page)
    assert [r.attrs["data-lead-id"] for r in rows] == [leads.sent] * 5
    assert sorted(cells(r)[3] for r in rows) == sorted(["LIM", "LAT", "CRE", "TDA", "TDR"])
    assert {r.attrs["data-outcome"] for r in rows} == {"SENT"}
    cre = next(r for r in rows if cells(r)[3] == "CRE")
    assert cells(cre)[1:] == [
        "BR0001", leads.sent, "CRE", "Experiencing / InProgressPhone", "SENT", "200", "—", "task log",
    ]  # fmt: skip
    # The Lead ID links to the lead's timeline, at this very attempt.
    [attempt] = [e for e in leads.send_log(leads.sent) if e["trigger_code"] == "CRE"]
    assert cre.one("a", "lead-id").attrs["href"] == f"/gmcrm/lead-log/lead/{leads.sent}#attempt-{attempt['id']}"
    # And to the Airflow task log of the run that sent it (send_lane is mapped: lane 0 of 1, try 1).
    assert cre.one("a", "task-log-link").attrs["href"] == TASK_LOG
    # The form keeps what was asked, with a label for every control.
    form = page.one("form", "filters")
    assert form.one("input", id="lead_id").attrs["value"] == leads.sent
    for control in form.all("input") + form.all("select"):
        assert form.all("label", for_=control.attrs["id"]), control.attrs
    assert page.one("p", "note").one("a").attrs["href"] == f"/gmcrm/lead-log/lead/{leads.sent}"


def test_timeline_shows_events_attempts_and_formatted_json(client: TestClient, leads: Leads) -> None:
    response = client.get(f"/gmcrm/lead-log/lead/{leads.sent}")
    assert response.status_code == 200
    page = dom(response.text)
    entries = page.one("ol", "timeline").all("li", "entry")
    kinds = [e.attrs["class"].split()[1] for e in entries]
    assert kinds[0] == "IMPORTED"
    assert kinds.count("EVENT_CREATED") == 5 and kinds.count("SEND_ATTEMPT") == 5
    created = [e for e in entries if "EVENT_CREATED" in e.attrs["class"]]
    assert all("Evento criado" in e.text() for e in created)
    assert [e.one("span", "code").text() for e in created] == ["LIM", "LAT", "CRE", "TDA", "TDR"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", e.facts()["Sent at"]) for e in created)
    assert "***" not in response.text  # nothing here to mask, and nothing masked by mistake (times, ids)

    imported = entries[0].facts()
    assert (imported["Dealership"], imported["Lead type"]) == ("BR0001", "NEW_VEHICLE")

    log = {e["trigger_code"]: e for e in leads.send_log(leads.sent)}
    cre = page.one("li", id=f"attempt-{log['CRE']['id']}")
    facts = cre.facts()
    assert (facts["Outcome"], facts["Stage"], facts["Substage"], facts["HTTP status"]) == (
        "Sent", "Experiencing", "InProgressPhone", "200",
    )  # fmt: skip
    # The request body as formatted JSON: indented, exactly what was sent, escaped in the HTML.
    request_json = cre.one("details", "request").one("code").text()
    assert json.loads(request_json) == log["CRE"]["request_body"]
    assert request_json == json.dumps(log["CRE"]["request_body"], indent=2, ensure_ascii=False)
    assert f'\n  "Lead__c": "{leads.sent}"' in request_json
    assert '"Stage__c": "Experiencing"' in request_json
    assert "&#34;Lead__c&#34;: &#34;" in response.text  # quotes escaped, not raw markup
    response_json = cre.one("details", "response").one("code").text()
    assert json.loads(response_json) == log["CRE"]["response_body"]
    assert "StatusCode 200" in cre.one("details", "response").one("summary").text()
    link = cre.one("a", "task-log-link")
    assert link.attrs["href"] == TASK_LOG
    assert "Airflow task log" in link.text()


def test_filter_by_outcome_failed_shows_the_failure_and_its_message(client: TestClient, leads: Leads) -> None:
    page = get_dom(client, "/gmcrm/lead-log", outcome="FAILED")
    [row] = result_rows(page)
    text = cells(row)
    assert (text[2], text[3], text[5], text[6]) == (leads.failed, "VPE", "FAILED", "—")
    # The message as the send recorded it; the Lead ID in it stays whole (masking is for contact data).
    for part in ("UNMAPPED_REASON", "V99", "Desistiu da compra", "BR0001", "retry", f"lead {leads.failed}"):
        assert part in text[7], part
    assert page.one("select", id="outcome").one("option", value="FAILED").attrs.get("selected") is not None

    # Its timeline: the failed attempt, nothing sent, the reason; the event is FAILED.
    timeline = get_dom(client, "/gmcrm/lead-log/lead/" + leads.failed)
    failed = [e for e in timeline.all("li", "SEND_ATTEMPT") if "FAILED" in e.attrs["class"].split()]
    assert len(failed) == 1
    facts = failed[0].facts()
    assert facts["Outcome"] == "Failed" and facts["Error code"] == "UNMAPPED_REASON" and "V99" in facts["Error message"]
    assert "Nothing was sent." in failed[0].one("details", "request").text()
    vpe_event = next(e for e in timeline.all("li", "EVENT_CREATED") if e.one("span", "code").text() == "VPE")
    assert vpe_event.facts()["Status now"] == "FAILED"
    assert "1 failed" in timeline.one("section", "lead-summary").text()


def test_other_filters(client: TestClient, leads: Leads) -> None:
    def leads_of(**params: str) -> list[str]:
        return [r.attrs["data-lead-id"] for r in result_rows(get_dom(client, "/gmcrm/lead-log", **params))]

    assert sorted(leads_of(trigger_code="cre")) == sorted([leads.sent, leads.failed])
    assert leads_of(trigger_code="TDR") == [leads.sent]
    assert len(leads_of(dealer_code="BR0001")) == 10
    assert leads_of(dealer_code="BR0002") == []
    today = date.today()
    around = {"date_from": str(today - timedelta(days=1)), "date_to": str(today + timedelta(days=1))}
    assert len(leads_of(**around)) == 10
    assert leads_of(date_to=str(today - timedelta(days=2))) == []
    assert leads_of(lead_id=leads.failed, outcome="SENT") == [leads.failed] * 4
    # No filter: the latest attempts.
    page = get_dom(client, "/gmcrm/lead-log")
    assert len(result_rows(page)) == 10 and "Latest 10 send attempts" in page.one("caption").text()
    # The selects offer the dealerships and the trigger catalogue.
    options = [o.attrs["value"] for o in page.one("select", id="dealer_code").all("option")]
    assert options[:4] == ["", "BR0001", "BR0002", "BR0003"]
    assert {"CRE", "VPE", "NFF"} <= {o.attrs["value"] for o in page.one("select", id="trigger_code").all("option")}
    # Bad input is explained, not searched.
    bad = get_dom(client, "/gmcrm/lead-log", date_from="31/12/2026", lead_id="<script>")
    alert = bad.one("div", "errors")
    assert "From date" in alert.text() and "Lead ID" in alert.text()
    assert not bad.all("table", id="results")


@pytest.fixture
def empty_client(dms_conn_env: str) -> Iterator[TestClient]:
    """The page over a migrated DMS with nothing sent yet, through the ``dms_postgres`` connection."""
    with TestClient(mounted(create_app(lane_counts=None))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_to": "9999-12-31"}, "To date: between"),
        ({"date_from": "0001-01-01"}, "From date: between"),
        ({"date_from": "2026-02-30"}, "From date: use the date picker"),
        ({"date_to": "yesterday"}, "To date: use the date picker"),
        ({"date_from": "2026-12-31", "date_to": "2026-01-01"}, "the end is before the start"),
        ({"date_from": "9999-12-31", "date_to": "9999-12-31"}, "From date: between"),
    ],
)
def test_bad_dates_get_a_message_not_a_500(empty_client: TestClient, params: dict[str, str], message: str) -> None:
    page = get_dom(empty_client, "/gmcrm/lead-log", **params)
    assert message in page.one("div", "errors").text()
    assert not page.all("table", id="results")


def test_a_dms_outage_is_a_page_that_says_so(
    dms_conn_env: str, monkeypatch: pytest.MonkeyPatch, unused_port: int
) -> None:
    """The DMS refuses connections: HTTP 503 with a page saying the database is unavailable."""
    down = f"postgresql://postgres@127.0.0.1:{unused_port}/gone?connect_timeout=2"
    monkeypatch.setenv("AIRFLOW_CONN_DMS_POSTGRES", postgres_conn_json(down))
    with TestClient(mounted(create_app(lane_counts=None)), raise_server_exceptions=False) as client:
        for url in ("/gmcrm/lead-log", "/gmcrm/lead-log?lead_id=00QWD00000H4eBaYAJ", "/gmcrm/lead-log/lead/00QX"):
            response = client.get(url)
            assert response.status_code == 503, (url, response.text[:500])
            assert response.headers["content-type"].startswith("text/html")
            page = dom(response.text)
            assert "DMS database unavailable" in page.one("h1").text()
            assert "cannot reach the DMS database" in page.one("div", "errors").text()
            assert "Traceback" not in response.text


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_free_text_is_masked_and_unknown_leads_are_404(client: TestClient, leads: Leads) -> None:
    response = client.get(f"/gmcrm/lead-log/lead/{leads.quarantined}")
    assert response.status_code == 200
    [entry] = dom(response.text).all("li", "QUARANTINED")
    assert "no usable contact" in entry.text() and "***21" in entry.text()
    for pii in (PHONE, EMAIL, "98765-4321", "ana.silva@"):
        assert pii not in response.text
    # Nothing on any page shows the leads' customers' e-mail or phone.
    sandbox_leads = {leads.sent, leads.failed}
    with psycopg.connect(leads.dms_url) as conn:
        values = conn.execute(
            "SELECT c.email, c.mobile_phone FROM dms.customer c JOIN dms.contact k ON k.customer_id = c.id "
            "WHERE k.lead_id = ANY(%s)",
            (list(sandbox_leads),),
        ).fetchall()
    pages = [client.get(f"/gmcrm/lead-log/lead/{lead}").text for lead in sandbox_leads]
    pages.append(client.get("/gmcrm/lead-log").text)
    for value in (v for row in values for v in row if v):
        assert all(value not in html for html in pages), value

    missing = client.get("/gmcrm/lead-log/lead/00QNOTHING00000000")
    assert missing.status_code == 404 and "Nothing is recorded for lead 00QNOTHING00000000" in missing.text
    assert client.get("/gmcrm/lead-log/lead/bad%20id").status_code == 404
    assert client.get("/gmcrm/", follow_redirects=False).headers["location"] == "/gmcrm/lead-log"
    headers = client.get("/gmcrm/lead-log").headers
    assert headers["x-frame-options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in headers["content-security-policy"]


def test_task_log_links_follow_the_lanes_of_the_run(leads: Leads, dms_conn_env: str) -> None:
    with psycopg.connect(dms_conn_env) as conn:
        rows = [*send_log(conn, leads.sent)[:1], {"lead_id": leads.sent, "dag_id": None, "run_id": None}]
        run = f"/ui/dags/{SEND_DAG_ID}/runs/{quote(RUN_ID, safe='')}/tasks/send_lane/mapped"
        # Three lanes: the lead's lane as the send DAG assigns it (include/sql/queries/send.sql).
        lane = conn.execute("SELECT abs(hashtext(%s)) %% 3", (leads.sent,)).fetchone()
        assert lane is not None
        three = task_log_links(conn, rows, ui_root="/ui", lane_counts=lanes_of(3))
        assert three[0] is not None and three[0].href == f"{run}/{lane[0]}?try_number=1"
        assert three[1] is None  # sent outside Airflow
        # Lanes unknown (no run in Airflow's metadata, or no access to it): the run's list of lanes.
        unknown = task_log_links(conn, rows, ui_root="/ui", lane_counts=None)
        assert [link.href if link else None for link in unknown] == [
            run, None,
        ]  # fmt: skip

        def broken(_dag_id: str, _runs: Any) -> dict[str, int]:
            raise RuntimeError("no metadata database")

        fallback = task_log_links(conn, rows, ui_root="/ui", lane_counts=broken)
        assert fallback[0] is not None and fallback[0].href == run


# ---------------------------------------------------------------------------------------------
# 2. A real browser: headless Chromium against the app served by uvicorn.


def airflow_frame(src: str) -> str:
    """What the Airflow UI does with an external view: the page in an iframe with these sandbox flags
    (:data:`AIRFLOW_FRAME_SANDBOX`). Once the page has
    loaded, a click on its task log link; the top page notes where its history went, and the frame's."""
    return f"""<!doctype html><html><body>
<p id="top-location">not navigated</p><p id="frame-location"></p>
<iframe id="frame" sandbox="{AIRFLOW_FRAME_SANDBOX}" src="{html.escape(src)}"></iframe>
<script>
const frame = document.getElementById("frame");
addEventListener("popstate", () => {{
  document.getElementById("top-location").textContent = location.pathname + location.search;
  setTimeout(() => {{
    document.getElementById("frame-location").textContent = frame.contentWindow.location.pathname;
  }}, 500);
}});
frame.addEventListener("load", () => {{
  const link = frame.contentDocument.querySelector("a.task-log-link");
  if (link && !window.clicked) {{ window.clicked = true; link.click(); }}
}});
</script></body></html>"""


@pytest.fixture
def served(leads: Leads) -> Iterator[str]:
    """The app under /gmcrm on 127.0.0.1, a free port, in a thread; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    root = mounted(create_app(lane_counts=lanes_of(1)))
    root.add_api_route("/plugin/lead-log", airflow_frame, response_class=HTMLResponse)
    server = uvicorn.Server(uvicorn.Config(root, log_level="warning", lifespan="off"))
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


def chromium(profile: Path, *args: str) -> str:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# Checked before the fixtures import and send leads and start a server for nothing.
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless browser test needs Debian's Chromium: apt-get install -y chromium"
)
def test_pages_in_headless_chromium(served: str, leads: Leads, tmp_path: Path) -> None:
    profile = tmp_path / "chromium-profile"

    # The search page, as the form submits a Lead ID.
    search_url = f"{served}/gmcrm/lead-log?lead_id={leads.failed}"
    page = dom(chromium(profile, "--dump-dom", search_url))
    assert page.one("title").text().startswith(f"Lead {leads.failed}")
    assert page.one("input", id="lead_id").attrs["value"] == leads.failed
    rows = result_rows(page)
    assert len(rows) == 5 and {r.attrs["data-lead-id"] for r in rows} == {leads.failed}
    failed_row = next(r for r in rows if r.attrs["data-outcome"] == "FAILED")
    assert "UNMAPPED_REASON" in cells(failed_row)[7] and "V99" in cells(failed_row)[7]
    search_png = tmp_path / "lead-log-search.png"
    chromium(profile, f"--screenshot={search_png}", "--window-size=1400,900", search_url)

    # Its timeline, following the link the browser rendered.
    href = next(r for r in rows if cells(r)[3] == "CRE").one("a", "lead-id").attrs["href"]
    timeline_url = urljoin(search_url, href)
    timeline = dom(chromium(profile, "--dump-dom", timeline_url))
    assert timeline.one("h1").text().strip() == f"Lead {leads.failed}"
    entries = timeline.all("li", "entry")
    assert sum("Evento criado" in e.text() for e in entries) == 5
    cre = timeline.one("li", id=href.rsplit("#", 1)[1])
    assert cre.facts()["Stage"] == "Experiencing" and cre.facts()["HTTP status"] == "200"
    body = json.loads(cre.one("details", "request").one("code").text())
    assert body["Lead__c"] == leads.failed and body["Trigger_Code__c"] == "CRE"
    assert cre.one("a", "task-log-link").attrs["href"].startswith(f"/dags/{SEND_DAG_ID}/runs/")
    timeline_png = tmp_path / "lead-log-timeline.png"
    # (Headless Chromium paints nothing when the URL has a #fragment: shoot the page itself.)
    chromium(profile, f"--screenshot={timeline_png}", "--window-size=1400,2200", timeline_url.split("#")[0])

    # Inside the Airflow UI's frame, the task log link opens the log in the UI itself (the frame may
    # not navigate the top window, and must not load a second UI inside itself).
    timeline_path = href.split("#")[0]
    framed = dom(
        chromium(profile, "--virtual-time-budget=5000", "--dump-dom", f"{served}/plugin/lead-log?src={timeline_path}")
    )
    task_log = cre.one("a", "task-log-link").attrs["href"]
    assert framed.one("p", id="top-location").text() == task_log
    assert framed.one("p", id="frame-location").text() == timeline_path

    for png in (search_png, timeline_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000, png
    keep = os.environ.get("GMCRM_SCREENSHOT_DIR")
    if keep:
        for png in (search_png, timeline_png):
            shutil.copy(png, Path(keep) / png.name)
    print(f"screenshots: {search_png} {timeline_png}")


# ---------------------------------------------------------------------------------------------
# 3. The plugin as Airflow loads it, and the page behind Airflow's API server and its auth.


def _airflow_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "ops:viewer",
            "AIRFLOW__API_AUTH__JWT_SECRET": "lead-log-test-secret-lead-log-test-secret",
        }
    )
    return env


def _run_python(script: str, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_plugin_registers_with_airflow_without_database_or_network(tmp_path: Path) -> None:
    script = """
        import json, socket
        def refuse(*args, **kwargs):
            raise RuntimeError("network used while loading plugins")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from airflow import plugins_manager
        plugins_manager.ensure_plugins_loaded()
        info = {p["name"]: p for p in plugins_manager.get_plugin_info()}
        apps, _ = plugins_manager.get_fastapi_plugins()
        external_views, _ = plugins_manager._get_ui_plugins()
        errors = {k: v for k, v in plugins_manager.get_import_errors().items() if "lead_log" in k}
        import sys
        print(json.dumps({
            "pages_imported": [m for m in ("gmcrm.web.app", "fastapi") if m in sys.modules],
            "plugin": info.get("gmcrm_lead_log"),
            "prefixes": [a["url_prefix"] for a in apps],
            "app_types": [type(a["app"]).__name__ for a in apps],
            "views": external_views,
            "errors": errors,
        }, default=str))
    """
    env = {k: v for k, v in _airflow_env(tmp_path).items() if not k.startswith("AIRFLOW_CONN_")}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg://nobody@203.0.113.1:1/nothing"
    found = _run_python(script, env)
    assert found["errors"] == {}
    plugin = found["plugin"]
    assert plugin is not None, "gmcrm_lead_log not loaded"
    assert plugin["source"] == "$PLUGINS_FOLDER/gmcrm_lead_log_plugin.py"
    assert plugin["fastapi_apps"] == [
        {"app": "gmcrm_lead_log_plugin.PagesApp", "url_prefix": "/gmcrm", "name": "gmcrm lead log"}
    ]
    assert found["prefixes"].count("/gmcrm") == 1 and "PagesApp" in found["app_types"]
    # Loading the plugin (as every task instance does) builds no app: the pages load at their first request.
    assert "gmcrm.web.app" not in found["pages_imported"]
    view = {
        "name": "Lead log",
        "href": "/gmcrm/lead-log",
        "destination": "nav",
        "category": "browse",
        "url_route": "lead-log",
    }
    ops = {**view, "name": "Operations", "href": "/gmcrm/ops", "url_route": "gmcrm-ops"}
    assert plugin["external_views"] == [view, ops]
    assert view in found["views"] and ops in found["views"]  # what the UI's navigation reads (GET /api/v2/plugins)


def test_the_plugin_mounts_the_pages_under_the_app_s_own_prefix() -> None:
    import gmcrm_lead_log_plugin

    assert gmcrm_lead_log_plugin.MOUNT_PREFIX == MOUNT_PREFIX


def test_page_behind_airflow_api_server_auth(leads: Leads, dms_conn_env: str, tmp_path: Path) -> None:
    """Airflow's own API server app with the plugin: its JWT decides who reads the page; a real run of
    the send DAG (``dag.test()``) gives the page the run's lanes from Airflow's metadata database."""
    env = {**_airflow_env(tmp_path), "GMCRM_SEND_LANES": "2"}  # the default, whatever this shell says
    with psycopg.connect(leads.dms_url, autocommit=True) as conn:
        dms.register_contact(conn, dms.contact_of_lead(conn, leads.sent), "EMAIL")  # CRE, for the DAG to send
        row = conn.execute("SELECT gmcrm.lead_hash(%s) %% 2", (leads.sent,)).fetchone()
    lane = row[0] if row else None  # the lane of the run's two that sends this lead's events
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    script = f"""
        import json, re
        from fastapi.testclient import TestClient
        from airflow.api_fastapi.app import create_app, get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from airflow.dag_processing.dagbag import DagBag

        run = DagBag(dag_folder={str(ROOT / "dags")!r}).dags["gmcrm_send_triggers"].test()
        client = TestClient(create_app("core"))
        page = "/gmcrm/lead-log/lead/{leads.sent}"
        anonymous = client.get(page, follow_redirects=False)
        ops_anonymous = client.get("/gmcrm/ops", follow_redirects=False).status_code
        forged = client.get(page, headers={{"Authorization": "Bearer not-a-jwt"}})
        manager = get_auth_manager()
        nobody = manager.generate_jwt(SimpleAuthManagerUser(username="nobody", role=None))
        denied = client.get(page, headers={{"Authorization": "Bearer " + nobody}})
        viewer = manager.generate_jwt(SimpleAuthManagerUser(username="ops", role="viewer"))
        client.cookies.set("_token", viewer)  # what the UI's session cookie carries
        allowed = client.get(page)
        ops = client.get("/gmcrm/ops")
        plugins = client.get("/api/v2/plugins").json()
        print(json.dumps({{
            "anonymous": [anonymous.status_code, anonymous.headers.get("location")],
            "ops": [ops_anonymous, ops.status_code, 'data-dealer-code="BR0001"' in ops.text],
            "forged": forged.status_code,
            "denied": [denied.status_code, "Not allowed" in denied.text],
            "allowed": [allowed.status_code, "Evento criado" in allowed.text, "{leads.sent}" in allowed.text],
            "run": [run.run_id, str(run.state)],
            "task_logs": re.findall(r'class="task-log-link" href="([^"]+)"', allowed.text),
            "views": [v for p in plugins.get("plugins", []) for v in p["external_views"]],
        }}))
    """
    found = _run_python(script, env)
    status, location = found["anonymous"]
    assert status == 303 and location.startswith("/auth/login") and "next=" in location
    assert found["forged"] == 403
    assert found["denied"] == [403, True]
    assert found["allowed"] == [200, True, True]
    assert found["ops"] == [303, 200, True]  # the operations page: same sign-in
    run_id, state = found["run"]
    assert state == "success"
    # The attempt of the real run: the lead's lane (of the default 2) and try, straight to the log.
    runs = f"/dags/{SEND_DAG_ID}/runs"
    exact = f"{runs}/{quote(run_id, safe='')}/tasks/send_lane/mapped/{lane}?try_number=1"
    lanes = f"{runs}/{quote(RUN_ID, safe='')}/tasks/send_lane/mapped"
    assert sorted(set(found["task_logs"])) == sorted({exact, lanes})  # RUN_ID never ran in this Airflow
    assert found["task_logs"].count(exact) == 1
    assert {"name": "Lead log", "url_route": "lead-log", "category": "browse"}.items() <= found["views"][0].items()
