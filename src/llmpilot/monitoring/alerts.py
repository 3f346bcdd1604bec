"""Deliver an alert of the monitoring loop: to the store (the dashboard lists it), the log, and the
configured webhook, each with its evidence.

The alert is stored first and its delivery outcome recorded after: a webhook that is down, slow or
refuses it never loses the alert, and `llmpilot monitor alerts` shows what reached where.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from llmpilot.config import MonitoringConfig
from llmpilot.monitoring.store import MonitorStore
from llmpilot.store.db import Store

log = logging.getLogger("llmpilot.monitoring")

SEVERITIES = ("info", "warning", "critical")
#: Header carrying "sha256=<hex HMAC-SHA256 of the body>" when a webhook secret is configured.
SIGNATURE_HEADER = "X-Llmpilot-Signature"
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOK_TRIES = 3
#: Seconds to wait before the 2nd and 3rd try (a receiver restarting gets a moment to come back).
WEBHOOK_BACKOFF_S = (0.5, 1.5)


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for `body`: what a receiver recomputes with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def deliver_alert(
    store: Store,
    cfg: MonitoringConfig,
    *,
    kind: str,
    severity: str,
    collection: str,
    title: str,
    message: str,
    evidence: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Store the alert, log it, POST it to `cfg.webhook` (when set) and record where it arrived;
    returns the alert id. `sleep` waits between webhook tries (tests pass a no-op)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    monitor = MonitorStore(store)
    delivered: dict[str, Any] = {"log": False, "webhook": "pending" if cfg.webhook else None}
    alert_id = monitor.add_alert(kind, severity, collection, title, message, evidence, delivered)
    delivered["log"] = _log_alert(alert_id, kind, severity, collection, title, message, evidence)
    if cfg.webhook:
        payload = {
            "id": alert_id,
            "kind": kind,
            "severity": severity,
            "collection": collection,
            "title": title,
            "message": message,
            "evidence": evidence,
            "sent_at": datetime.now(UTC).isoformat(),
            "source": "llmpilot",
        }
        delivered["webhook"] = post_webhook(
            cfg.webhook, payload, secret_env=cfg.webhook_secret_env, sleep=sleep
        )
    monitor.set_alert_delivery(alert_id, delivered)
    return alert_id


def _log_alert(
    alert_id: int,
    kind: str,
    severity: str,
    collection: str,
    title: str,
    message: str,
    evidence: dict[str, Any],
) -> bool:
    level = (
        logging.ERROR
        if severity == "critical"
        else logging.WARNING
        if severity == "warning"
        else logging.INFO
    )
    try:
        log.log(
            level,
            "alert %d [%s %s] %s: %s | %s | %s",
            alert_id,
            severity,
            kind,
            collection,
            title,
            message.replace("\n", " "),
            key_evidence(evidence),
        )
    except Exception:  # a broken log handler must not lose the webhook or the stored outcome
        return False
    return True


def key_evidence(evidence: dict[str, Any]) -> str:
    """One line of the evidence that matters most: per metric baseline -> now (difference, p, n),
    else the evidence's scalar fields."""
    metrics = evidence.get("metrics")
    if isinstance(metrics, list) and metrics and all(isinstance(m, dict) for m in metrics):
        parts = []
        for m in metrics:
            try:
                parts.append(
                    f"{m['metric']} {float(m['baseline_mean']):.3f}->{float(m['current_mean']):.3f} "
                    f"(diff {float(m['difference']):+.3f}, p={float(m['p_value']):.4f}, n={m['n_paired']})"
                )
            except (KeyError, TypeError, ValueError):
                parts.append(json.dumps(m, ensure_ascii=False, default=str)[:160])
        runs = f"run {evidence.get('run_id')} vs baseline {evidence.get('baseline_run_id')}"
        return f"{runs}: " + "; ".join(parts)
    scalars = {k: v for k, v in evidence.items() if isinstance(v, str | int | float | bool) or v is None}
    return json.dumps(dict(list(scalars.items())[:8]), ensure_ascii=False, default=str)


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    secret_env: str | None = None,
    tries: int = WEBHOOK_TRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST `payload` as JSON, signed when `secret_env` names a set variable; retried on a
    transport error, 429 or 5xx. The outcome: {"status", "tries"} on a 2xx, else {"error",
    "tries"} (plus "status" when the receiver answered)."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "llmpilot-monitor"}
    outcome: dict[str, Any] = {}
    secret = os.environ.get(secret_env) if secret_env else None
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
        outcome["signed"] = True
    elif secret_env:
        # Configured but not set: deliver unsigned rather than not at all, and say so.
        outcome["signed"] = False
        outcome["note"] = f"environment variable {secret_env} is not set: sent unsigned"
    last_error = ""
    status: int | None = None
    for attempt in range(1, tries + 1):
        if attempt > 1:
            sleep(WEBHOOK_BACKOFF_S[min(attempt - 2, len(WEBHOOK_BACKOFF_S) - 1)])
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            status, last_error = None, f"{type(exc).__name__}: {exc}"
            continue
        status = response.status_code
        if 200 <= status < 300:
            return {**outcome, "status": status, "tries": attempt}
        last_error = f"HTTP {status}: {response.text[:200]}"
        if status != 429 and status < 500:
            return {**outcome, "status": status, "tries": attempt, "error": last_error}  # will not change
    failed = {**outcome, "tries": tries, "error": last_error}
    if status is not None:
        failed["status"] = status
    log.error("alert webhook %s failed after %d tries: %s", url, tries, last_error)
    return failed
