"""`monitor drift` end to end: real project (keyword retrieval over the sample corpus), real e5-small
embeddings, a real SQLite store with traces and feedback."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from sqlalchemy import update
from typer.testing import CliRunner

from llmpilot.errors import LlmpilotError
from llmpilot.monitoring.cli_drift import DRIFT_EXIT, register
from llmpilot.monitoring.drift_inputs import SIGNALS, parse_traces_spec, run_drift_check, traffic_drift
from llmpilot.monitoring.store import MonitorStore
from llmpilot.project import Project
from llmpilot.store import schema
from llmpilot.store.serving import ServingStore, TraceRecord
from tests.fixtures.serving import keyword_project

KOREAN = [
    "반품은 제품을 받은 날로부터 며칠 안에 신청할 수 있나요?",
    "단순 변심으로 반품하면 운송비는 누가 부담하나요?",
    "환불은 검수 후 며칠 안에 처리되나요?",
    "카드 결제 취소는 얼마나 더 걸리나요?",
    "설치 후 결함이 있으면 교환해 주나요?",
    "반품 신청은 어디에서 하나요?",
    "주문 번호는 어떤 형식인가요?",
    "설치가 끝난 제품도 반품할 수 있나요?",
    "교환 설치비는 무료인가요?",
    "물류센터 검수는 며칠 걸리나요?",
    "포장을 뜯은 제품은 반품이 되나요?",
    "잘못 배송된 제품의 반품 비용은 누가 내나요?",
]
ENGLISH = [
    "How long is the SolBox 10 battery warranty?",
    "What capacity must the battery still hold at the end of the warranty?",
    "How long is the inverter covered?",
    "When must I register the battery?",
    "Can I install the SolBox 10 myself?",
    "Does the SolBox 10 work during a power cut?",
    "Which Wi-Fi network does the app need?",
    "How often is the firmware updated?",
    "Is the wall bracket covered by the warranty?",
    "What happens if the battery holds less than 70% of its capacity?",
    "Where can I register my battery?",
    "How many charge cycles does the warranty cover?",
]


def _write(path: Path, texts: list[str]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)
        ),
        encoding="utf-8",
    )
    return path


def _project_folder(root: Path) -> Project:
    """keyword_project with its config written, so `-p FOLDER` opens it as a user's project."""
    project = keyword_project(root)
    project.config_path.write_text(project.config.to_yaml(), encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return _project_folder(tmp_path_factory.mktemp("drift"))


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps `drift` a subcommand, as under `llmpilot monitor`
        pass

    return app


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(_cli(), ["drift", *args])


def test_korean_baseline_against_english_traffic_is_drift(project: Project, tmp_path: Path) -> None:
    baseline = _write(tmp_path / "ko.jsonl", KOREAN)
    current = _write(tmp_path / "en.jsonl", ENGLISH)
    out = tmp_path / "report.json"
    result = _invoke(
        "--baseline",
        str(baseline),
        "--current",
        str(current),
        "-p",
        str(project.root),
        "--json",
        str(out),
        "--permutations",
        "200",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    for key in ("drift", "p_value", "statistic", "method", "n_baseline", "n_current", "signals"):
        assert key in report
    assert report["drift"] is True
    assert (report["method"], report["n_baseline"], report["n_current"]) == ("mmd", 12, 12)
    assert report["p_value"] < 0.01
    assert set(report["signals"]) == set(SIGNALS)
    assert report["signals"]["language_mix"]["drift"] is True
    assert report["signals"]["embedding"]["drift"] is True
    assert report["signals"]["embedding_classifier"]["skipped"].startswith("not selected")
    assert "no feedback" in report["signals"]["feedback_rate"]["skipped"]
    for name in ("retrieval_score", "abstain_rate"):  # a project was given: retrieved
        assert "skipped" not in report["signals"][name]
        assert report["signals"][name]["n_current"] == 12
    assert "DRIFT" in result.output
    # Recorded: a monitor run of kind drift with the report, and an alert.
    monitor = MonitorStore(project.store)
    run = monitor.monitor_runs(kind="drift")[0]
    assert run["status"] == "done" and run["summary"]["drift"] is True
    alert = monitor.alerts()[0]
    assert (alert["kind"], alert["id"]) == ("drift", report["alert_id"])
    assert alert["delivered"] == {"log": True}
    assert "language_mix" in alert["title"]
    # --fail-on-drift turns the finding into exit code 3.
    failing = _invoke(
        "--baseline", str(baseline), "--current", str(current), "--fail-on-drift", "--permutations", "100"
    )
    assert failing.exit_code == DRIFT_EXIT, failing.output


def test_two_halves_of_the_same_traffic_are_not_drift(project: Project, tmp_path: Path) -> None:
    mixed = [q for pair in zip(KOREAN, ENGLISH, strict=True) for q in pair]
    first = _write(tmp_path / "a.jsonl", mixed[0::2][:6] + mixed[1::2][:6])
    second = _write(tmp_path / "b.jsonl", mixed[0::2][6:] + mixed[1::2][6:])
    out = tmp_path / "halves.json"
    alerts_before = len(MonitorStore(project.store).alerts())
    result = _invoke(
        "--baseline",
        str(first),
        "--current",
        str(second),
        "-p",
        str(project.root),
        "--json",
        str(out),
        "--permutations",
        "200",
        "--fail-on-drift",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["drift"] is False, report["flagged"]
    assert report["p_value"] > 0.05
    assert report["signals"]["language_mix"]["p_value"] == pytest.approx(1.0)
    assert len(MonitorStore(project.store).alerts()) == alerts_before  # no drift, no alert


def test_without_a_project_the_retrieval_signals_are_skipped(tmp_path: Path) -> None:
    baseline = _write(tmp_path / "ko.jsonl", KOREAN)
    current = _write(tmp_path / "en.jsonl", ENGLISH)
    report = run_drift_check(None, str(baseline), str(current), method="classifier", permutations=60)
    assert report["drift"] is True and report["method"] == "classifier"
    assert report["signals"]["embedding"]["skipped"].startswith("not selected")
    assert report["signals"]["embedding_classifier"]["statistic"] > 0.9  # AUC: the languages separate
    for name in ("retrieval_score", "abstain_rate"):
        assert "no project given" in report["signals"][name]["skipped"]
        assert report["signals"][name]["drift"] is False


def test_a_bad_jsonl_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.jsonl", KOREAN)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "첫 질문"}\n\n{"id": 2, "text": "둘째"\n', encoding="utf-8")
    result = _invoke("--baseline", str(good), "--current", str(bad))
    assert isinstance(result.exception, LlmpilotError)
    assert f"{bad}:3: not valid JSON" in str(result.exception)
    missing_text = tmp_path / "notext.jsonl"
    missing_text.write_text('{"text": "ok"}\n{"id": "q2", "question": "wrong key"}\n', encoding="utf-8")
    with pytest.raises(LlmpilotError, match=rf"{missing_text}:2: \"text\" must be a non-empty string"):
        run_drift_check(None, str(good), str(missing_text))


def _trace(store: ServingStore, question: str, *, score: float, abstained: bool, lang: str) -> str:
    return store.add_trace(
        TraceRecord(
            tenant="default",
            collection="manuals",
            question=question,
            answer="" if abstained else "answer [1]",
            abstained=abstained,
            reason="low_support" if abstained else "answered",
            confidence=score,
            citations=[],
            sources=[
                {"n": 1, "doc_id": "d", "title": "", "snippet": "", "start": 0, "end": 1, "score": score}
            ],
            latency_ms={"total": 1.0},
            details={"lang": lang, "retrieval_confidence": score},
            config_hash="c",
        )
    )


def test_traces_windows_from_the_store(tmp_path: Path) -> None:
    project = _project_folder(tmp_path)
    serving = ServingStore(project.store)
    old = [_trace(serving, q, score=0.9, abstained=False, lang="ko") for q in KOREAN]
    new = [_trace(serving, q, score=0.3, abstained=True, lang="en") for q in ENGLISH]
    for trace_id in new[:8]:
        serving.add_feedback("default", trace_id, "thumbs_down")
    serving.add_feedback("default", old[0], "thumbs_up")
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with project.store.engine.begin() as conn:  # the Korean traffic was served ten days ago
        conn.execute(update(schema.traces).where(schema.traces.c.id.in_(old)).values(created_at=ten_days_ago))
    out = tmp_path / "traces.json"
    result = _invoke(
        "--baseline",
        "traces:-14d..-7d",
        "--current",
        "traces:-1d..now",
        "-p",
        str(project.root),
        "--collection",
        "manuals",
        "--json",
        str(out),
        "--permutations",
        "200",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["n_baseline"], report["n_current"]) == (12, 12)
    signals = report["signals"]
    assert signals["abstain_rate"]["details"]["rate_baseline"] == 0.0
    assert signals["abstain_rate"]["details"]["rate_current"] == 1.0
    assert signals["retrieval_score"]["details"]["mean_difference"] == pytest.approx(-0.6)
    assert signals["feedback_rate"]["details"]["rate_current"] == pytest.approx(8 / 12)
    assert signals["feedback_rate"]["details"]["feedback_share_baseline"] == pytest.approx(1 / 12)
    assert set(report["flagged"]) >= {"abstain_rate", "retrieval_score", "feedback_rate", "language_mix"}
    # Another collection's traces are not in the window: nothing to compare.
    with pytest.raises(LlmpilotError, match="has 0 question"):
        run_drift_check(project, "traces:-14d..-7d", "traces:-1d..now", collection="other")
    with pytest.raises(LlmpilotError, match="needs a project"):
        run_drift_check(None, "traces:-14d..-7d", "traces:-1d..now")


def test_traces_spec_parsing() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert parse_traces_spec("traces:-7d..-1d", now=now) == (now - timedelta(days=7), now - timedelta(days=1))
    assert parse_traces_spec("traces:2026-11-01..now", now=now) == (datetime(2026, 11, 1, tzinfo=UTC), now)
    assert parse_traces_spec("traces:..-36h", now=now) == (None, now - timedelta(hours=36))
    with pytest.raises(LlmpilotError, match="cannot read 'yesterday'"):
        parse_traces_spec("traces:yesterday..now", now=now)
    with pytest.raises(LlmpilotError, match="is not before UNTIL"):
        parse_traces_spec("traces:-1d..-2d", now=now)
    with pytest.raises(LlmpilotError, match=r"SINCE\.\.UNTIL"):
        parse_traces_spec("traces:-1d", now=now)


def test_on_alert_hook_gets_the_stored_alert_and_its_failure_is_only_logged(
    project: Project, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    baseline = _write(tmp_path / "ko.jsonl", KOREAN)
    current = _write(tmp_path / "en.jsonl", ENGLISH)
    calls: list[tuple[int, dict[str, Any]]] = []
    report = run_drift_check(
        project, str(baseline), str(current), permutations=100, on_alert=lambda i, a: calls.append((i, a))
    )
    assert [alert_id for alert_id, _ in calls] == [report["alert_id"]]
    assert calls[0][1]["kind"] == "drift" and calls[0][1]["evidence"]["drift"] is True

    def broken(alert_id: int, alert: dict[str, Any]) -> None:
        raise ConnectionError("webhook down")

    again = run_drift_check(project, str(baseline), str(current), permutations=100, on_alert=broken)
    assert again["alert_id"] > report["alert_id"]
    assert f"delivering drift alert {again['alert_id']} failed" in caplog.text
    stored = MonitorStore(project.store).alerts(limit=1)[0]
    assert stored["id"] == again["alert_id"]


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_cli_posts_the_drift_alert_to_the_configured_webhook(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        project = keyword_project(tmp_path, monitoring={"webhook": url})
        project.config_path.write_text(project.config.to_yaml(), encoding="utf-8")
        baseline = _write(tmp_path / "ko.jsonl", KOREAN)
        current = _write(tmp_path / "en.jsonl", ENGLISH)
        result = _invoke(
            "--baseline",
            str(baseline),
            "--current",
            str(current),
            "-p",
            str(project.root),
            "--permutations",
            "100",
        )
        assert result.exit_code == 0, result.output
    finally:
        server.shutdown()
    (body,) = _Receiver.bodies
    assert body["kind"] == "drift" and body["evidence"]["drift"] is True
    stored = MonitorStore(project.store).alerts()[0]
    assert stored["id"] == body["id"]
    assert stored["delivered"]["webhook"]["status"] == 200


def test_monitor_runs_traffic_drift_check_waits_for_confirmation(tmp_path: Path) -> None:
    """`monitor run`'s own drift check: the last traffic window against the one before it; a quiet
    service is skipped (nothing recorded), and the alert needs `drift_confirm` checks in a row."""
    project = _project_folder(tmp_path)
    cfg = project.config.monitoring
    assert (cfg.traffic_window_hours, cfg.drift_min_questions, cfg.drift_confirm) == (24.0, 30, 2)
    serving = ServingStore(project.store)
    monitor = MonitorStore(project.store)
    quiet = traffic_drift(project, collection="manuals")
    assert "too few questions" in quiet["skipped"] and monitor.monitor_runs(kind="drift") == []
    yesterday = [_trace(serving, q, score=0.9, abstained=False, lang="ko") for q in (KOREAN * 3)[:30]]
    [_trace(serving, q, score=0.3, abstained=True, lang="en") for q in (ENGLISH * 3)[:30]]
    with project.store.engine.begin() as conn:  # served 30 hours ago: the window before the last one
        conn.execute(
            update(schema.traces)
            .where(schema.traces.c.id.in_(yesterday))
            .values(created_at=datetime.now(UTC) - timedelta(hours=30))
        )
    first = traffic_drift(project, collection="manuals")
    assert first["drift"] and first["scheduled"] and "alert_id" not in first
    assert "2 checks in a row" in first["alert_pending"] and monitor.alerts() == []
    second = traffic_drift(project, collection="manuals")
    assert second["drift"] and second["confirmed"] and second["alert_id"] is not None
    [alert] = monitor.alerts()
    assert alert["kind"] == "drift" and alert["id"] == second["alert_id"]
    assert [r["summary"]["scheduled"] for r in monitor.monitor_runs(kind="drift")] == [True, True]
