"""What the admin dashboard shows, computed from the store for one tenant: per time bucket the
request volume, abstain / cache / guard rates, latency percentiles per stage, feedback rate and
sentiment; the quality of the scheduled re-evaluations over time; open alerts; the live config.

Traces and feedback are read with the tenant in the query (as store/serving.py does) and bucketed in
Python, so the SQL stays portable (SQLite and PostgreSQL). Alerts and monitor runs are keyed by
collection, so they are kept to the tenant's collections.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from llmpilot.monitoring.spans import ROOT_SPAN, STAGES
from llmpilot.monitoring.store import MonitorStore
from llmpilot.store import schema
from llmpilot.store.db import Store

#: Stage names in pipeline order (the spans' stages, then the whole answer); unknown stages follow
#: in name order.
STAGE_ORDER = (*STAGES, "total")
QUALITY_KINDS = ("eval", "traffic")
POSITIVE_SIGNALS = ("thumbs_up",)
NEGATIVE_SIGNALS = ("thumbs_down", "correction")
MAX_ALERTS = 100
MAX_RUNS = 200


@dataclass
class _Bucket:
    requests: int = 0
    abstained: int = 0
    cache_hits: int = 0
    guard_blocks: int = 0
    feedback: int = 0
    positive: int = 0
    negative: int = 0
    latency: dict[str, list[float]] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return self.requests - self.abstained


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def stage_latencies(latency_json: str, spans_json: str | None) -> dict[str, float]:
    """Milliseconds per stage of one trace: from its spans when recorded (the root span is "total"),
    else from the trace's latency dict. A non-total stage at 0 ms did not run and is left out, so
    it does not pull that stage's percentiles down."""
    found: dict[str, Any] = {}
    spans = _loads(spans_json) if spans_json else None
    if isinstance(spans, list) and spans:
        for span in spans:
            if not isinstance(span, dict):
                continue
            name = str(span.get("name", ""))
            value = span.get("duration_ms")
            found["total" if name == ROOT_SPAN else name] = value
    else:
        latency = _loads(latency_json)
        if isinstance(latency, dict):
            found = {str(k): v for k, v in latency.items()}
    return {
        stage: float(ms)
        for stage, ms in found.items()
        if stage
        and isinstance(ms, int | float)
        and not isinstance(ms, bool)
        and math.isfinite(ms)
        and (ms > 0 or (stage == "total" and ms >= 0))
    }


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _sentiment(signal: str, rating: int | None) -> int:
    """+1 positive, -1 negative, 0 neutral (implicit signals, comments, a rating of 3)."""
    if signal in POSITIVE_SIGNALS or (signal == "rating" and rating is not None and rating >= 4):
        return 1
    if signal in NEGATIVE_SIGNALS or (signal == "rating" and rating is not None and rating <= 2):
        return -1
    return 0


def _ordered_stages(names: Iterable[str]) -> list[str]:
    known = [s for s in STAGE_ORDER if s in names]
    return known + sorted(set(names) - set(STAGE_ORDER))


def _bucket_json(bucket: _Bucket, start: datetime, end: datetime, stages: Sequence[str]) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "requests": bucket.requests,
        "answered": bucket.answered,
        "abstained": bucket.abstained,
        "abstain_rate": _rate(bucket.abstained, bucket.requests),
        "cache_hits": bucket.cache_hits,
        "cache_rate": _rate(bucket.cache_hits, bucket.requests),
        "guard_blocks": bucket.guard_blocks,
        "guard_rate": _rate(bucket.guard_blocks, bucket.requests),
        "feedback": bucket.feedback,
        "feedback_rate": _rate(bucket.feedback, bucket.answered),
        "positive": bucket.positive,
        "negative": bucket.negative,
        "sentiment": _rate(bucket.positive, bucket.positive + bucket.negative),
        "latency_ms": {stage: _latency_json(bucket.latency.get(stage, [])) for stage in stages},
    }


def _latency_json(values: Sequence[float]) -> dict[str, Any]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


def tenant_collections(store: Store, tenant: str) -> list[str]:
    """The collections the tenant has served (names in its traces and review items)."""
    t, q = schema.traces, schema.review_items
    with store.engine.connect() as conn:
        names = {r[0] for r in conn.execute(select(t.c.collection).where(t.c.tenant == tenant).distinct())}
        names |= {r[0] for r in conn.execute(select(q.c.collection).where(q.c.tenant == tenant).distinct())}
    return sorted(names)


def dashboard_data(
    store: Store,
    tenant: str,
    *,
    hours: float = 24 * 7,
    buckets: int = 24,
    now: datetime | None = None,
    collections: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Everything the dashboard draws for `tenant` over the last `hours`, in `buckets` equal time
    buckets (oldest first). `collections` are the tenant's collection names (the server knows them);
    by default the ones in its traces. Rates are None where their denominator is 0."""
    if not (hours > 0 and math.isfinite(hours)):
        raise ValueError("hours must be a positive number")
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    end = _utc(now) if now is not None else datetime.now(UTC)
    start = end - timedelta(hours=hours)
    width = timedelta(hours=hours) / buckets
    names = list(collections) if collections is not None else tenant_collections(store, tenant)

    slots = [_Bucket() for _ in range(buckets)]
    total = _Bucket()

    def slot_of(created: datetime) -> int:
        return min(buckets - 1, max(0, int((created - start) / width)))

    t, m, f = schema.traces, schema.trace_meta, schema.feedback
    trace_query = (
        select(t.c.id, t.c.created_at, t.c.abstained, t.c.latency_json, t.c.details_json, m.c.spans_json)
        .select_from(t.outerjoin(m, m.c.trace_id == t.c.id))
        .where(t.c.tenant == tenant, t.c.created_at >= start, t.c.created_at <= end)
    )
    feedback_query = (
        select(f.c.signal, f.c.rating, t.c.created_at)
        .join(t, t.c.id == f.c.trace_id)
        .where(f.c.tenant == tenant, t.c.tenant == tenant, t.c.created_at >= start, t.c.created_at <= end)
    )
    stage_names: set[str] = set()
    with store.engine.connect() as conn:
        for row in conn.execute(trace_query):
            index = slot_of(_utc(row.created_at))
            details = _loads(row.details_json)
            details = details if isinstance(details, dict) else {}
            latencies = stage_latencies(row.latency_json, row.spans_json)
            stage_names.update(latencies)
            for bucket in (slots[index], total):
                bucket.requests += 1
                bucket.abstained += int(bool(row.abstained))
                bucket.cache_hits += int(bool(details.get("cached")))
                bucket.guard_blocks += int(bool(details.get("blocked")))
                for stage, ms in latencies.items():
                    bucket.latency.setdefault(stage, []).append(ms)
        # Feedback counts against the bucket of the answer it is about (rate = per answered trace).
        for fb in conn.execute(feedback_query):
            index = slot_of(_utc(fb.created_at))
            mood = _sentiment(fb.signal, fb.rating)
            for bucket in (slots[index], total):
                bucket.feedback += 1
                bucket.positive += int(mood > 0)
                bucket.negative += int(mood < 0)

    stages = _ordered_stages(stage_names)
    monitor = MonitorStore(store)
    live = monitor.live_version()
    totals = _bucket_json(total, start, end, stages)
    del totals["start"], totals["end"]
    return {
        "tenant": tenant,
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "hours": float(hours),
            "buckets": buckets,
            "bucket_seconds": width.total_seconds(),
        },
        "empty": total.requests == 0,
        "collections": names,
        "stages": stages,
        "totals": totals,
        "buckets": [
            _bucket_json(slot, start + width * i, start + width * (i + 1), stages)
            for i, slot in enumerate(slots)
        ],
        "quality": quality_series(monitor, names, since=start, until=end),
        "alerts": open_alerts(monitor, names),
        "config_version": live.as_dict() if live is not None else None,
    }


def quality_series(
    monitor: MonitorStore, collections: Sequence[str], *, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """One series per (run kind, collection, metric): the mean and confidence interval of each
    finished run between `since` and `until`, oldest first."""
    wanted = set(collections)
    series: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for kind in QUALITY_KINDS:
        for run in reversed(monitor.monitor_runs(kind=kind, limit=MAX_RUNS)):
            if run["collection"] not in wanted or run["status"] != "done":
                continue
            at = run["finished_at"] or run["started_at"]
            if at is None or not since <= datetime.fromisoformat(at) <= until:
                continue
            metrics = run["summary"].get("metrics") if isinstance(run["summary"], dict) else None
            if not isinstance(metrics, dict):
                continue
            for name, stats in sorted(metrics.items()):
                if not isinstance(stats, dict) or not _is_number(stats.get("mean")):
                    continue
                series.setdefault((kind, run["collection"], str(name)), []).append(
                    {
                        "run_id": run["id"],
                        "at": at,
                        "config_version": run["config_version"],
                        "mean": float(stats["mean"]),
                        "ci_low": _number_or_none(stats.get("ci_low")),
                        "ci_high": _number_or_none(stats.get("ci_high")),
                        "n": int(stats["n"]) if _is_number(stats.get("n")) else None,
                    }
                )
    return [
        {"kind": kind, "collection": collection, "metric": metric, "points": points}
        for (kind, collection, metric), points in sorted(series.items())
    ]


def open_alerts(
    monitor: MonitorStore, collections: Sequence[str], *, include_acknowledged: bool = False
) -> list[dict[str, Any]]:
    """The tenant's alerts (of its collections), newest first; unacknowledged ones only by default."""
    found = [
        alert
        for name in sorted(set(collections))
        for alert in monitor.alerts(limit=MAX_ALERTS, collection=name)
        if alert["collection"] == name and (include_acknowledged or alert["acknowledged_at"] is None)
    ]
    return sorted(found, key=lambda alert: -int(alert["id"]))[:MAX_ALERTS]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) else None
