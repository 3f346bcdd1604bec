"""llmpilot.monitoring.dashboard over a real SQLite store: buckets, rates, sentiment and latency
percentiles equal values computed by hand; quality series, open alerts and the live config; tenants
never see each other's data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from llmpilot.monitoring.dashboard import dashboard_data, percentile, stage_latencies
from llmpilot.monitoring.store import MonitorStore
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.store.serving import ServingStore, TraceRecord

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(hh: int, mm: int) -> datetime:
    return NOW.replace(hour=hh, minute=mm)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield opened
    opened.close()


def add_trace(
    store: Store,
    when: datetime,
    *,
    tenant: str = "acme",
    collection: str = "manuals",
    abstained: bool = False,
    latency: dict[str, float],
    details: dict[str, Any] | None = None,
) -> str:
    trace_id = ServingStore(store).add_trace(
        TraceRecord(
            tenant=tenant,
            collection=collection,
            question=f"q at {when:%H:%M}",
            answer="" if abstained else "an answer",
            abstained=abstained,
            reason="",
            confidence=0.5,
            citations=[],
            sources=[],
            latency_ms=latency,
            details=details or {},
            config_hash="h" * 32,
        )
    )
    with store.engine.begin() as conn:  # the store stamps "now"; place the trace in the test's time
        conn.execute(update(schema.traces).where(schema.traces.c.id == trace_id).values(created_at=when))
    return trace_id


def set_run_time(store: Store, run_id: int, when: datetime) -> None:
    r = schema.monitor_runs
    with store.engine.begin() as conn:
        conn.execute(update(r).where(r.c.id == run_id).values(started_at=when, finished_at=when))


def add_run(
    store: Store, kind: str, collection: str, when: datetime, metrics: dict[str, Any], status: str = "done"
) -> int:
    monitor = MonitorStore(store)
    run_id = monitor.start_monitor_run(kind, collection, 1, "h" * 32)
    monitor.finish_monitor_run(run_id, status=status, summary={"metrics": metrics}, items=[])
    set_run_time(store, run_id, when)
    return run_id


@pytest.fixture
def seeded(store: Store) -> dict[str, str]:
    serving = ServingStore(store)
    monitor = MonitorStore(store)
    ids = {
        "t1": add_trace(store, at(8, 30), latency={"retrieve": 10, "generate": 100, "total": 120}),
        "t2": add_trace(
            store, at(8, 45), abstained=True, latency={"retrieve": 20, "generate": 0, "total": 25}
        ),
        # Spans win over latency_json (whose numbers here are deliberately different).
        "t3": add_trace(store, at(10, 15), latency={"retrieve": 1, "generate": 1, "total": 1}),
        "t4": add_trace(
            store,
            at(10, 20),
            latency={"cache": 2, "retrieve": 0, "generate": 0, "total": 3},
            details={"cached": "exact"},
        ),
        "t5": add_trace(
            store,
            at(10, 40),
            latency={"guard_input": 5, "retrieve": 0, "generate": 0, "total": 6},
            details={"blocked": True},
        ),
        "old": add_trace(store, at(7, 0), latency={"retrieve": 999, "total": 999}),
        "globex": add_trace(
            store, at(10, 0), tenant="globex", collection="handbook", abstained=True, latency={"total": 5000}
        ),
    }
    monitor.add_trace_meta(
        ids["t3"],
        config_version=1,
        variant="live",
        spans=[
            {"name": "llmpilot.answer", "duration_ms": 300.0},
            {"name": "retrieve", "duration_ms": 30.0},
            {"name": "generate", "duration_ms": 250.0},
            {"name": "answer_policy", "duration_ms": 20.0},
        ],
        tokens=42,
        cost_usd=0.0,
    )
    for trace, signal, extra in (
        ("t1", "thumbs_up", {}),
        ("t1", "rating", {"rating": 5}),
        ("t2", "comment", {"comment": "hm"}),
        ("t3", "thumbs_down", {}),
        ("t3", "correction", {"correction": "the right answer"}),
        ("t3", "rating", {"rating": 3}),
        ("t3", "copied", {}),
        ("t4", "rating", {"rating": 2}),
        ("old", "thumbs_down", {}),
    ):
        assert serving.add_feedback("acme", ids[trace], signal, **extra) is not None
    assert serving.add_feedback("globex", ids["globex"], "thumbs_down") is not None
    return ids


def test_buckets_rates_and_percentiles_match_hand_computed_values(
    store: Store, seeded: dict[str, str]
) -> None:
    data = dashboard_data(store, "acme", hours=4, buckets=4, now=NOW)
    assert data["window"] == {
        "start": at(8, 0).isoformat(),
        "end": NOW.isoformat(),
        "hours": 4.0,
        "buckets": 4,
        "bucket_seconds": 3600.0,
    }
    assert data["empty"] is False and data["collections"] == ["manuals"]
    assert data["stages"] == ["cache", "guard_input", "retrieve", "generate", "answer_policy", "total"]
    b0, b1, b2, b3 = data["buckets"]
    assert [b["start"] for b in data["buckets"]] == [at(h, 0).isoformat() for h in (8, 9, 10, 11)]

    # 08:00-09:00: t1 (answered) and t2 (abstained); feedback 2 on t1 + 1 on t2, per answered trace.
    assert (b0["requests"], b0["answered"], b0["abstained"], b0["abstain_rate"]) == (2, 1, 1, 0.5)
    assert (b0["feedback"], b0["feedback_rate"], b0["positive"], b0["negative"], b0["sentiment"]) == (
        3,
        3.0,
        2,
        0,
        1.0,
    )
    assert b0["latency_ms"]["retrieve"] == {"p50": 15.0, "p95": pytest.approx(19.5), "n": 2}
    assert b0["latency_ms"]["generate"] == {"p50": 100.0, "p95": 100.0, "n": 1}  # t2's 0 ms: did not run
    assert b0["latency_ms"]["total"] == {"p50": 72.5, "p95": pytest.approx(115.25), "n": 2}
    assert b0["latency_ms"]["cache"] == {"p50": None, "p95": None, "n": 0}

    # An hour without traffic: counts 0, rates undefined.
    for empty in (b1, b3):
        assert empty["requests"] == 0 and empty["feedback"] == 0
        assert empty["abstain_rate"] is None and empty["feedback_rate"] is None and empty["sentiment"] is None

    # 10:00-11:00: t3 (spans), t4 (cache hit), t5 (blocked by a guardrail).
    assert (b2["requests"], b2["abstained"], b2["cache_hits"], b2["guard_blocks"]) == (3, 0, 1, 1)
    assert b2["cache_rate"] == pytest.approx(1 / 3) and b2["guard_rate"] == pytest.approx(1 / 3)
    assert (b2["feedback"], b2["positive"], b2["negative"], b2["sentiment"]) == (5, 0, 3, 0.0)
    assert b2["feedback_rate"] == pytest.approx(5 / 3)
    assert b2["latency_ms"]["total"] == {"p50": 6.0, "p95": pytest.approx(270.6), "n": 3}
    assert b2["latency_ms"]["retrieve"] == {"p50": 30.0, "p95": 30.0, "n": 1}
    assert b2["latency_ms"]["generate"]["p50"] == 250.0 and b2["latency_ms"]["answer_policy"]["p50"] == 20.0
    assert b2["latency_ms"]["cache"]["p50"] == 2.0 and b2["latency_ms"]["guard_input"]["p50"] == 5.0

    totals = data["totals"]
    assert (totals["requests"], totals["answered"], totals["abstained"], totals["abstain_rate"]) == (
        5,
        4,
        1,
        0.2,
    )
    assert (totals["feedback"], totals["feedback_rate"], totals["positive"], totals["negative"]) == (
        8,
        2.0,
        2,
        3,
    )
    assert totals["sentiment"] == pytest.approx(0.4)
    assert totals["latency_ms"]["total"]["n"] == 5 and totals["latency_ms"]["total"]["p50"] == 25.0


def test_quality_series_alerts_and_live_version(store: Store, seeded: dict[str, str]) -> None:
    monitor = MonitorStore(store)
    metrics = {
        "rougeL": {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 10},
        "abstained": {"mean": 0.1, "n": 10},
    }
    first = add_run(store, "eval", "manuals", at(9, 0), metrics)
    second = add_run(
        store,
        "eval",
        "manuals",
        at(11, 0),
        {"rougeL": {"mean": 0.45, "ci_low": 0.3, "ci_high": 0.55, "n": 12}},
    )
    traffic = add_run(
        store,
        "traffic",
        "manuals",
        at(10, 30),
        {"support": {"mean": 0.9, "ci_low": 0.8, "ci_high": 1.0, "n": 5}},
    )
    add_run(store, "drift", "manuals", at(10, 0), {"x": {"mean": 1.0}})  # not a quality run
    add_run(store, "eval", "manuals", at(10, 0), metrics, status="failed")
    add_run(store, "eval", "manuals", at(6, 0), metrics)  # before the window
    add_run(store, "eval", "handbook", at(10, 0), metrics)  # another tenant's collection

    open_id = monitor.add_alert(
        "quality_drop", "critical", "manuals", "rougeL dropped", "0.50 → 0.45", {}, {}
    )
    acked = monitor.add_alert("drift", "warning", "manuals", "drift", "questions changed", {}, {})
    monitor.acknowledge_alert(acked)
    monitor.add_alert("quality_drop", "warning", "handbook", "theirs", "not acme's", {}, {})
    version = monitor.add_version("h" * 32, "retrieval: {}", source="test", status="live", by="tester")

    data = dashboard_data(store, "acme", hours=4, buckets=4, now=NOW)
    quality = {(s["kind"], s["collection"], s["metric"]): s["points"] for s in data["quality"]}
    assert set(quality) == {
        ("eval", "manuals", "rougeL"),
        ("eval", "manuals", "abstained"),
        ("traffic", "manuals", "support"),
    }
    rouge = quality[("eval", "manuals", "rougeL")]
    assert [p["run_id"] for p in rouge] == [first, second]  # oldest first
    assert [(p["mean"], p["ci_low"], p["ci_high"], p["n"]) for p in rouge] == [
        (0.5, 0.4, 0.6, 10),
        (0.45, 0.3, 0.55, 12),
    ]
    assert quality[("eval", "manuals", "abstained")][0]["ci_low"] is None
    assert quality[("traffic", "manuals", "support")][0]["run_id"] == traffic

    assert [a["id"] for a in data["alerts"]] == [open_id]
    assert data["alerts"][0]["title"] == "rougeL dropped"
    assert data["config_version"] is not None and data["config_version"]["version"] == version.id


def test_tenants_see_only_their_own_traffic(store: Store, seeded: dict[str, str]) -> None:
    MonitorStore(store).add_alert("quality_drop", "warning", "manuals", "acme's", "", {}, {})
    theirs = dashboard_data(store, "globex", hours=4, buckets=4, now=NOW)
    assert theirs["collections"] == ["handbook"]
    assert theirs["totals"]["requests"] == 1 and theirs["totals"]["abstained"] == 1
    assert theirs["totals"]["feedback"] == 1 and theirs["totals"]["negative"] == 1
    assert theirs["totals"]["latency_ms"]["total"]["p50"] == 5000.0
    assert theirs["alerts"] == []
    nobody = dashboard_data(store, "initech", hours=4, buckets=4, now=NOW)
    assert nobody["empty"] is True and nobody["totals"]["requests"] == 0


def test_an_empty_store_gives_an_empty_but_complete_summary(store: Store) -> None:
    data = dashboard_data(store, "acme", hours=24, buckets=6, now=NOW)
    assert data["empty"] is True
    assert len(data["buckets"]) == 6 and all(b["requests"] == 0 for b in data["buckets"])
    assert (
        data["stages"] == []
        and data["quality"] == []
        and data["alerts"] == []
        and data["config_version"] is None
    )
    assert data["totals"]["abstain_rate"] is None and data["totals"]["latency_ms"] == {}


def test_a_trace_at_the_window_end_falls_in_the_last_bucket(store: Store) -> None:
    add_trace(store, NOW, latency={"total": 7})
    add_trace(store, NOW - timedelta(hours=4), latency={"total": 9})  # exactly the start: first bucket
    data = dashboard_data(store, "acme", hours=4, buckets=4, now=NOW)
    assert [b["requests"] for b in data["buckets"]] == [1, 0, 0, 1]


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        dashboard_data(None, "acme", hours=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dashboard_data(None, "acme", buckets=0)  # type: ignore[arg-type]


def test_stage_latencies_and_percentile() -> None:
    spans = (
        '[{"name": "llmpilot.answer", "duration_ms": 12.5}, {"name": "cache", "duration_ms": 0}, '
        '{"name": "x"}]'
    )
    assert stage_latencies('{"total": 1}', spans) == {"total": 12.5}
    assert stage_latencies('{"retrieve": 3, "generate": 0, "total": 0, "bad": "x"}', None) == {
        "retrieve": 3.0,
        "total": 0.0,
    }
    assert stage_latencies("not json", "[]") == {}
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
