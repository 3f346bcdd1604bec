"""The monitoring dashboard and the review queue in a real headless Chromium against a real
`llmpilot serve` on loopback.

A small keyword-retrieval project answers through the `openai` generator from a stub
OpenAI-compatible server on loopback (no model to load). Traffic is seeded through the API: answers,
a cache hit, an abstention, a thumbs-down with a correction; a monitor run and an alert are written
with MonitorStore, and the review queue is filled by llmpilot.monitoring.review.collect. The browser
opens /admin/monitor in Korean and English (the SVG charts hold data, the alert is listed and
acknowledged) and /admin/review (one item approved with an edited answer, which then is in the eval
set). Console errors fail the test.

Set LLMPILOT_MONITOR_SCREENSHOT=PATH to keep a screenshot of the dashboard
(docs/monitor-dashboard.png comes from this test that way), LLMPILOT_REVIEW_SCREENSHOT=PATH for the
review queue (in Korean).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import update

from llmpilot.monitoring.evalset import eval_set_path, load_eval_set
from llmpilot.monitoring.review import collect
from llmpilot.monitoring.store import MonitorStore
from llmpilot.project import CONFIG_NAME, Project
from llmpilot.store import schema
from llmpilot.store.serving import ServingStore
from tests.conftest import _stop, free_port
from tests.e2e.test_report_browser import CHROMEDRIVER, CHROMIUM, PNG_MAGIC, _smaller_png, start_browser
from tests.fixtures.serving import FakeGenerator, keyword_project

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
        reason=(
            "Debian chromium/chromium-driver not installed (/usr/bin/chromium, /usr/bin/chromedriver): "
            "run `bash scripts/install_debian_deps.sh` as root (`make test` runs it when it is root)"
        ),
    ),
]

COLLECTION = "project"  # `llmpilot serve` names the collection after the project folder
QUESTIONS = (
    "When is phone support open on Saturday?",
    "How many years does the SolBox 10 battery warranty last?",
)
OFF_TOPIC = "Who painted the Mona Lisa?"
#: More of a day's questions (answered or not: the dashboard counts whatever happened).
MORE_QUESTIONS = (
    "What does the warranty not cover?",
    "반품은 며칠 안에 할 수 있나요?",
    "Can I get support by email?",
    "What is the capital of Australia?",
    "How do I register my SolBox for the warranty?",
    "When is phone support open on Saturday?",
)
CORRECTION = "10 years or 6,000 full cycles, whichever comes first."
EDITED = "10 years or 6,000 cycles (보증 10년), whichever comes first."
SERVER_START_TIMEOUT_S = 120.0
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float, interval_s: float = 0.1) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


class StubChat(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: FakeGenerator's answer (source [1]'s first sentence, cited)."""

    fake = FakeGenerator("markers")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        text = self.fake.generate(body.get("messages", []), max_tokens=64, temperature=0.0)
        if body.get("stream"):
            chunks = [{"choices": [{"delta": {"content": word}}]} for word in text.split(" ")]
            payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            self._send(payload.encode(), "text/event-stream")
        else:
            answer = {
                "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
            }
            self._send(json.dumps(answer).encode(), "application/json")

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: Any) -> None:
        pass


@dataclass(frozen=True)
class Server:
    base_url: str
    key: str
    project: Path


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StubChat)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, stub_url: str) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("monitor-e2e")
    project = keyword_project(
        root,
        generator={"name": "openai", "base_url": stub_url, "model": "stub", "max_tokens": 64},
        cache={"semantic": False},  # exact repeats only: no embedder to load
    )
    key = ServingStore(project.store).create_key("default", "admin", name="e2e-reviewer")[1]
    folder = project.root
    (folder / CONFIG_NAME).write_text(project.config.to_yaml(), encoding="utf-8")  # what `serve` opens
    project.close()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = root / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmpilot",
                "serve",
                "-p",
                str(folder),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"llmpilot serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{base_url}/api/health", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for("llmpilot serve to answer /api/health", up, SERVER_START_TIMEOUT_S, interval_s=0.25)
        yield Server(base_url=base_url, key=key, project=folder)
    finally:
        _stop(proc)


def seed(server: Server) -> dict[str, Any]:
    """Traffic through the API, then a monitor run, an alert and the review queue from the store."""
    headers = {"Authorization": f"Bearer {server.key}"}

    def ask(question: str) -> dict[str, Any]:
        response = httpx.post(
            f"{server.base_url}/api/ask", json={"question": question}, headers=headers, timeout=60
        )
        response.raise_for_status()
        return dict(response.json())

    answers = [ask(q) for q in (*QUESTIONS, QUESTIONS[0])]  # the repeat comes from the cache
    abstained = ask(OFF_TOPIC)
    assert abstained["abstained"] and not any(a["abstained"] for a in answers), answers
    assert answers[2]["cached"] == "exact"
    more = [ask(q) for q in MORE_QUESTIONS]
    wrong = answers[1]["trace_id"]
    for body in (
        {"signal": "thumbs_up", "trace_id": answers[0]["trace_id"]},
        {"signal": "thumbs_down", "trace_id": wrong},
        {"signal": "correction", "trace_id": wrong, "correction": CORRECTION},
    ):
        httpx.post(
            f"{server.base_url}/api/feedback", json=body, headers=headers, timeout=10
        ).raise_for_status()

    project = Project.open(server.project)
    try:
        monitor = MonitorStore(project.store)
        runs = []
        for mean, low, high in ((0.62, 0.55, 0.69), (0.58, 0.50, 0.66), (0.49, 0.41, 0.57)):
            run = monitor.start_monitor_run("eval", COLLECTION, None, "0" * 32)
            metrics = {"rougeL": {"mean": mean, "ci_low": low, "ci_high": high, "n": 40}}
            monitor.finish_monitor_run(run, status="done", summary={"metrics": metrics}, items=[])
            runs.append(run)
        # Spread the day's traffic and runs over the last 22 hours, as a day of service would be
        # (the store stamps everything "now"; only the timestamps change).
        now = datetime.now(UTC)
        served = [a["trace_id"] for a in (*answers, abstained, *more)]
        t, r = schema.traces, schema.monitor_runs
        with project.store.engine.begin() as conn:
            for i, trace_id in enumerate(served):
                when = now - timedelta(hours=22 * (len(served) - 1 - i) / (len(served) - 1), minutes=1)
                conn.execute(update(t).where(t.c.id == trace_id).values(created_at=when))
            for run, hours_ago in zip(runs, (20, 11, 2), strict=True):
                when = now - timedelta(hours=hours_ago)
                conn.execute(update(r).where(r.c.id == run).values(started_at=when, finished_at=when))
        alert = monitor.add_alert(
            "quality_drop",
            "critical",
            COLLECTION,
            "rougeL dropped 0.62 → 0.49",
            "paired bootstrap p = 0.004 against the previous run",
            {"p": 0.004},
            {"log": True},
        )
        # The server queues corrections as they come; collect() adds the abstained question.
        collect(project.store, tenant="default")
        queued = {i["trace_id"]: i for i in monitor.review_items(tenant="default")}
        item = queued[wrong]
        assert item["reason"] == "correction" and item["proposed_answer"] == CORRECTION, item
        assert queued[abstained["trace_id"]]["reason"] == "abstained"
    finally:
        project.close()
    every = [*answers, abstained, *more]
    return {
        "alert": alert,
        "item": item["id"],
        "wrong": wrong,
        "requests": len(every),
        "abstain_pct": f"{round(100 * sum(a['abstained'] for a in every) / len(every))}%",
    }


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    browser = start_browser(width=1280, height=1000)
    try:
        yield browser
    finally:
        browser.quit()


def severe(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def full_page_png(driver: Any) -> bytes:
    size = driver.get_window_size()
    try:
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(size["width"], height + 140)  # + browser chrome
        driver.execute_script("window.scrollTo(0, 0)")
        png: bytes = driver.get_screenshot_as_png()
    finally:
        driver.set_window_size(size["width"], size["height"])
    return png


def chart_facts(driver: Any) -> dict[str, Any]:
    """What the page's SVG charts hold: count per kind, bars, points and bands drawn."""
    script = """
    const charts = [...document.querySelectorAll('svg.chart')];
    return {
      charts: charts.length,
      empty: charts.filter(c => c.classList.contains('chart-empty')).length,
      bars: document.querySelectorAll('svg.chart rect.bar').length,
      points: document.querySelectorAll('svg.chart circle.point').length,
      bands: document.querySelectorAll('svg.chart .band').length,
      titled: charts.filter(c => c.querySelector('title') && c.querySelector('title').textContent).length,
      wide: charts.filter(c => c.getBoundingClientRect().width > 200).length,
    };
    """
    return dict(driver.execute_script(script))


def test_dashboard_and_review_queue(driver: Any, server: Server) -> None:
    seeded = seed(server)
    driver.get(f"{server.base_url}/login?next=/admin/monitor")
    driver.find_element("id", "api-key").send_keys(server.key)
    driver.find_element("css selector", "#login-form button[type=submit]").click()
    wait_for(
        "the dashboard",
        lambda: "/admin/monitor" in driver.current_url and driver.find_elements("css selector", "svg.chart"),
        15,
    )
    driver.get_log("browser")  # nothing after signing in may log an error

    # Korean: headings, cards and charts with data.
    driver.get(f"{server.base_url}/admin/monitor?lang=ko&hours=24")
    assert driver.find_element("tag name", "h1").text == "모니터링"
    assert driver.find_element("css selector", "#card-requests .stat-value").text == str(seeded["requests"])
    assert driver.find_element("css selector", "#card-abstain .stat-value").text == seeded["abstain_pct"]
    facts = chart_facts(driver)
    assert facts["charts"] >= 7 and facts["empty"] == 0 and facts["titled"] == facts["charts"], facts
    assert facts["bars"] >= 2 and facts["points"] >= 6 and facts["bands"] >= 1, facts
    assert facts["wide"] == facts["charts"], facts  # laid out, not collapsed
    assert "단계별 지연 시간 p95" in driver.find_element("tag name", "main").text
    assert not driver.find_elements("id", "no-traffic")

    # English: the alert is listed; acknowledging it removes it from the open list.
    driver.get(f"{server.base_url}/admin/monitor?lang=en&hours=24")
    assert driver.find_element("tag name", "h1").text == "Monitoring"
    row = driver.find_element("css selector", f"tr.alert-row[data-alert-id='{seeded['alert']}']")
    assert "rougeL dropped" in row.text and "critical" in row.text
    quality = driver.find_element("id", "quality")
    assert quality.find_elements("css selector", "svg.chart polygon.band"), "no confidence band drawn"
    png = full_page_png(driver)
    assert png.startswith(PNG_MAGIC)
    keep = os.environ.get("LLMPILOT_MONITOR_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(_smaller_png(png))
    row.find_element("css selector", "button.ack-button").click()
    wait_for("the acknowledged notice", lambda: driver.find_elements("css selector", ".notice-ok"), 10)
    assert "Alert acknowledged." in driver.find_element("css selector", ".notice-ok").text
    assert driver.find_elements("id", "alerts-empty")
    alerts = httpx.get(
        f"{server.base_url}/api/alerts",
        params={"include_acknowledged": True},
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=10,
    ).json()["items"]
    assert [(a["id"], bool(a["acknowledged_at"])) for a in alerts] == [(seeded["alert"], True)]

    # The review queue, in Korean, then in English: the correction is shown; approve it with an
    # edited answer.
    driver.get(f"{server.base_url}/admin/review?lang=ko")
    assert driver.find_element("tag name", "h1").text == "검토 대기열"
    assert "승인" in driver.find_element("css selector", f"#review-{seeded['item']} .approve-button").text
    keep = os.environ.get("LLMPILOT_REVIEW_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(_smaller_png(full_page_png(driver)))
    driver.get(f"{server.base_url}/admin/review?lang=en")
    item = driver.find_element("id", f"review-{seeded['item']}")
    assert CORRECTION in item.find_element("css selector", ".review-correction").text
    assert QUESTIONS[1] in item.find_element("css selector", ".review-question").text
    box = item.find_element("css selector", "textarea[name=answer]")
    assert box.get_attribute("value") == CORRECTION
    box.clear()
    box.send_keys(EDITED)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", item)
    item.find_element("css selector", "button.approve-button").click()
    wait_for("the approved notice", lambda: driver.find_elements("css selector", ".notice-ok"), 10)
    assert (
        f"Item {seeded['item']} was added to the eval set."
        in driver.find_element("css selector", ".notice-ok").text
    )
    assert not driver.find_elements("id", f"review-{seeded['item']}")  # no longer pending

    project = Project.open(server.project)
    try:
        written = [
            e
            for e in load_eval_set(eval_set_path(project))
            if e.provenance.get("trace_id") == seeded["wrong"]
        ]
        decided = MonitorStore(project.store).review_item(seeded["item"])
    finally:
        project.close()
    assert len(written) == 1 and written[0].answer == EDITED
    assert written[0].provenance["approved_by"] == "e2e-reviewer"
    assert decided is not None and decided["status"] == "approved" and decided["reviewer"] == "e2e-reviewer"

    driver.get(f"{server.base_url}/admin/review?status=approved&lang=ko")
    assert driver.find_element("id", f"review-{seeded['item']}")
    assert severe(driver) == []
