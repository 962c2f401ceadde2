"""Alerts reach a real webhook over HTTP (a local server), masked; no connection means no alert."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from gmcrm.alerts import alert, failed_events_text


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append({"path": self.path, "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received = []
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": server.server_port,
        "schema": "http",
        "extra": {"endpoint": "hooks/ops"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GMCRM_ALERTS", json.dumps(conn))
    yield _Hook.received
    server.shutdown()


def test_failed_events_alert_is_posted_and_masked(webhook: list[dict[str, Any]]) -> None:
    text = failed_events_text(
        [("BR0001", 42, "VPE", "UNMAPPED_REASON", "reason V99 has no GM reason; customer maria@example.com")]
    )
    assert alert(text)
    assert len(webhook) == 1
    assert webhook[0]["path"] == "/hooks/ops"
    posted = webhook[0]["body"]["text"]
    assert "BR0001 event 42 (VPE): UNMAPPED_REASON" in posted and "retry_failed" in posted
    assert "maria@example.com" not in posted


def test_no_connection_no_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_GMCRM_ALERTS", raising=False)
    assert alert("nothing to see") is False
