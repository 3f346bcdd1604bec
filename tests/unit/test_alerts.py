"""Alert delivery (llmpilot.monitoring.alerts): stored first, logged, POSTed to a real HTTP server on
loopback (signed with HMAC-SHA256), retried on 5xx, and never lost when the webhook is down."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmpilot.config import MonitoringConfig
from llmpilot.monitoring.alerts import SIGNATURE_HEADER, deliver_alert, key_evidence
from llmpilot.monitoring.store import MonitorStore
from llmpilot.store.db import Store

SECRET_ENV = "LLMPILOT_TEST_WEBHOOK_SECRET"
EVIDENCE = {
    "run_id": 7,
    "baseline_run_id": 6,
    "metrics": [
        {
            "metric": "hit@k",
            "baseline_mean": 1.0,
            "current_mean": 0.5,
            "difference": -0.5,
            "ci_low": -0.8,
            "ci_high": -0.2,
            "p_value": 0.002,
            "n_paired": 10,
        }
    ],
}


class Receiver:
    """A webhook receiver on 127.0.0.1: answers with the queued statuses (then 200) and keeps
    every request's headers and body."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/llmpilot"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'alerts.db'}")
    yield opened
    opened.close()


def _no_wait(seconds: float) -> None:
    del seconds


def _deliver(store: Store, cfg: MonitoringConfig, severity: str = "warning") -> int:
    return deliver_alert(
        store,
        cfg,
        kind="quality_drop",
        severity=severity,
        collection="manuals",
        title="Quality drop / 품질 저하: manuals (eval set) — hit@k",
        message="hit@k 1.000→0.500",
        evidence=EVIDENCE,
        sleep=_no_wait,
    )


def test_webhook_receives_the_alert_signed_with_hmac(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver([])
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    cfg = MonitoringConfig(webhook=receiver.url, webhook_secret_env=SECRET_ENV)
    try:
        with caplog.at_level(logging.WARNING, logger="llmpilot.monitoring"):
            alert_id = _deliver(store, cfg, severity="critical")
    finally:
        receiver.close()

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == expected
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["id"] == alert_id and payload["severity"] == "critical"
    assert payload["evidence"] == EVIDENCE
    assert payload["title"].startswith("Quality drop / 품질 저하")

    stored = MonitorStore(store).alerts()[0]
    assert stored["id"] == alert_id and stored["evidence"] == EVIDENCE
    assert stored["delivered"] == {"log": True, "webhook": {"signed": True, "status": 200, "tries": 1}}
    # Logged at ERROR (critical) with the title and the key evidence.
    record = next(r for r in caplog.records if r.name == "llmpilot.monitoring")
    assert record.levelno == logging.ERROR
    assert "hit@k 1.000->0.500" in record.getMessage() and "p=0.0020" in record.getMessage()


def test_webhook_answering_500_twice_is_tried_three_times(store: Store) -> None:
    receiver = Receiver([500, 503])
    try:
        alert_id = _deliver(store, MonitoringConfig(webhook=receiver.url))
    finally:
        receiver.close()
    assert len(receiver.requests) == 3
    assert SIGNATURE_HEADER.lower() not in receiver.requests[0][0]  # no secret configured: unsigned
    delivered = MonitorStore(store).alerts()[0]["delivered"]
    assert MonitorStore(store).alerts()[0]["id"] == alert_id
    assert delivered["webhook"] == {"status": 200, "tries": 3}


def test_a_client_error_is_not_retried(store: Store) -> None:
    receiver = Receiver([404])
    try:
        _deliver(store, MonitoringConfig(webhook=receiver.url))
    finally:
        receiver.close()
    assert len(receiver.requests) == 1
    webhook = MonitorStore(store).alerts()[0]["delivered"]["webhook"]
    assert webhook["status"] == 404 and webhook["tries"] == 1 and webhook["error"].startswith("HTTP 404")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_webhook_keeps_the_alert_with_the_error(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = MonitoringConfig(webhook=f"http://127.0.0.1:{_closed_port()}/hook")
    with caplog.at_level(logging.WARNING, logger="llmpilot.monitoring"):
        alert_id = _deliver(store, cfg)
    alerts = MonitorStore(store).alerts()
    assert [a["id"] for a in alerts] == [alert_id]
    delivered = alerts[0]["delivered"]
    assert delivered["log"] is True
    assert delivered["webhook"]["tries"] == 3
    assert "ConnectError" in delivered["webhook"]["error"] and "status" not in delivered["webhook"]
    assert any("failed after 3 tries" in r.getMessage() for r in caplog.records)


def test_without_a_webhook_the_alert_is_stored_and_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="llmpilot.monitoring"):
        _deliver(store, MonitoringConfig())
    assert MonitorStore(store).alerts()[0]["delivered"] == {"log": True, "webhook": None}
    record = next(r for r in caplog.records if r.name == "llmpilot.monitoring")
    assert record.levelno == logging.WARNING and "품질 저하" in record.getMessage()


def test_a_secret_variable_that_is_not_set_sends_unsigned_and_says_so(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    receiver = Receiver([])
    try:
        _deliver(store, MonitoringConfig(webhook=receiver.url, webhook_secret_env=SECRET_ENV))
    finally:
        receiver.close()
    assert SIGNATURE_HEADER.lower() not in receiver.requests[0][0]
    webhook = MonitorStore(store).alerts()[0]["delivered"]["webhook"]
    assert webhook["signed"] is False and SECRET_ENV in webhook["note"] and webhook["status"] == 200


def test_an_unknown_severity_is_refused_before_anything_is_stored(store: Store) -> None:
    with pytest.raises(ValueError, match="severity"):
        _deliver(store, MonitoringConfig(), severity="panic")
    assert MonitorStore(store).alerts() == []


def test_key_evidence_without_metrics_lists_the_scalar_fields() -> None:
    line = key_evidence({"feature": "language", "p_value": 0.001, "details": {"a": 1}})
    assert json.loads(line) == {"feature": "language", "p_value": 0.001}
