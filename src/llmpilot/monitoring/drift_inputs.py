"""The windows that `monitor drift` compares, and the drift report over two of them.

A window is what was asked in one period: the questions, their embeddings, the retrieval top score
and abstain decision of each, their languages and the feedback they got. It comes from

- a JSONL query file (one {"id"?, "text"} per line): embedded with the project's embedder (e5-small
  without a project); with a project, each question is also retrieved (`Pipeline`'s retriever) for
  its retrieval confidence, and abstained = retrieval confidence < `answer.abstain_below` (the answer policy's
  retrieval gate; nothing is generated). Without a project the retrieval signals are skipped.
- the traces a project's store holds for a time window, `traces:SINCE..UNTIL`: the served questions,
  their stored retrieval confidence (details.retrieval_confidence), abstained, language and feedback.

`drift_report` runs every signal's test (llmpilot.monitoring.drift) and decides with Holm's rule;
`run_drift_check` adds the bookkeeping of a monitor run (monitor_runs row, alert, `on_alert` hook).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select

from llmpilot.errors import DatasetError, LlmpilotError
from llmpilot.index.tokenizers import is_korean
from llmpilot.monitoring import drift as tests
from llmpilot.store import schema

if TYPE_CHECKING:
    from llmpilot.project import Project
    from llmpilot.protocols import Embedder

log = logging.getLogger("llmpilot.monitoring")

SIGNALS = (
    "embedding",
    "embedding_classifier",
    "retrieval_score",
    "abstain_rate",
    "language_mix",
    "feedback_rate",
)
METHODS = ("mmd", "classifier")
#: Feedback that says an answer was bad (a rating counts when it is 2 or less out of 5).
NEGATIVE_SIGNALS = ("thumbs_down", "correction")
LOW_RATING = 2
#: Permutations of the classifier test when none are asked for (each one refits the classifier).
CLASSIFIER_DEFAULT_PERMUTATIONS = 200


@dataclass(frozen=True)
class FeedbackCounts:
    """Of a window's traces: how many got any feedback, and how many got negative feedback."""

    traces: int
    with_feedback: int
    negative: int


@dataclass
class Window:
    """One period's questions and what the service did with them. A signal that cannot be measured
    on this window is None here and named in `unavailable` with the reason."""

    source: str
    texts: list[str]
    languages: list[str]
    embeddings: np.ndarray | None = None
    top_scores: list[float] | None = None
    abstained: list[bool] | None = None
    feedback: FeedbackCounts | None = None
    unavailable: dict[str, str] = field(default_factory=dict)


def language_of(text: str) -> str:
    return "ko" if is_korean(text) else "en"


# --- query files ------------------------------------------------------------------------------------


def read_query_file(path: Path) -> list[str]:
    """The questions of a JSONL file of {"id"?, "text"} objects (blank lines skipped); a malformed
    line raises a DatasetError naming file:line."""
    from llmpilot.evaluation.datasets import read_jsonl

    texts = []
    hint = 'give a JSONL file of {"id": "q1", "text": "…"} lines, or traces:SINCE..UNTIL'
    for number, item in read_jsonl(path, missing_hint=hint):
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f'{path}:{number}: "text" must be a non-empty string (the question)')
        texts.append(text.strip())
    return texts


def _default_embedder(project: Project | None) -> Embedder:
    from llmpilot import factory
    from llmpilot.config import EmbedderConfig

    return factory.embedder(project.config.embedder if project is not None else EmbedderConfig())


def _embed(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    return np.asarray(embedder.embed(list(texts), "query"), dtype=np.float64)


def window_from_queries(
    path: Path, *, project: Project | None = None, embedder: Embedder | None = None
) -> Window:
    """A window from a query file: embedded; with a project also retrieved (top score, abstained)."""
    texts = read_query_file(path)
    window = Window(source=str(path), texts=texts, languages=[language_of(t) for t in texts])
    window.unavailable["feedback_rate"] = "a query file holds no feedback (compare traces:… windows for it)"
    if not texts:
        return window
    embedder = embedder or _default_embedder(project)
    window.embeddings = _embed(embedder, texts)
    if project is None:
        reason = "no project given (-p PROJECT): the questions were not retrieved"
        window.unavailable["retrieval_score"] = reason
        window.unavailable["abstain_rate"] = reason
        return window
    from llmpilot.pipeline import Pipeline, retrieval_confidence

    retriever = Pipeline(project, embedder=embedder).retriever
    hits = retriever.retrieve_many(texts, vectors=window.embeddings.astype(np.float32))
    threshold = project.config.answer.abstain_below
    # The retrieval confidence, as a served trace stores it (details.retrieval_confidence), so files
    # and traces compare; the fused top score is min-max normalized per query and nearly constant.
    window.top_scores = [retrieval_confidence(h) for h in hits]
    window.abstained = [retrieval_confidence(h) < threshold for h in hits]
    return window


# --- traces -----------------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SPEC_HELP = (
    "traces:SINCE..UNTIL with ISO dates or times (2026-11-01, 2026-11-01T08:00) or relative ones "
    "(-7d, -36h, -30m, -2w, now); UNTIL is excluded, either side may be empty (open)"
)


def parse_time(value: str, *, now: datetime, spec: str) -> datetime | None:
    """One side of a SINCE..UNTIL range: None when empty (open), UTC otherwise."""
    value = value.strip()
    if not value:
        return None
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: float(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise LlmpilotError(f"{spec!r}: cannot read {value!r} as a time; use {SPEC_HELP}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_traces_spec(spec: str, *, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """(since, until) of `traces:SINCE..UNTIL`."""
    now = now or datetime.now(UTC)
    body = spec.removeprefix("traces:")
    if ".." not in body:
        raise LlmpilotError(f"{spec!r}: expected {SPEC_HELP}")
    first, _, second = body.partition("..")
    since = parse_time(first, now=now, spec=spec)
    until = parse_time(second, now=now, spec=spec)
    if since is not None and until is not None and since >= until:
        raise LlmpilotError(f"{spec!r}: the window is empty (SINCE {since.isoformat()} is not before UNTIL)")
    return since, until


def _naive_utc(moment: datetime) -> datetime:
    # SQLite keeps the naive UTC wall time the store wrote; PostgreSQL compares aware values itself.
    return moment.astimezone(UTC).replace(tzinfo=None)


def _trace_window_query(
    project: Project, since: datetime | None, until: datetime | None, collection: str | None, query: Any
) -> Any:
    t = schema.traces
    aware = project.store.engine.dialect.name != "sqlite"
    if since is not None:
        query = query.where(t.c.created_at >= (since if aware else _naive_utc(since)))
    if until is not None:
        query = query.where(t.c.created_at < (until if aware else _naive_utc(until)))
    if collection:
        query = query.where(t.c.collection == collection)
    return query


def count_traces(
    project: Project, since: datetime | None, until: datetime | None, *, collection: str | None = None
) -> int:
    """How many traces were served in [since, until) (of `collection` when given)."""
    query = _trace_window_query(project, since, until, collection, select(func.count(schema.traces.c.id)))
    with project.store.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def window_from_traces(
    project: Project,
    since: datetime | None,
    until: datetime | None,
    *,
    collection: str | None = None,
    embedder: Embedder | None = None,
    source: str = "traces",
) -> Window:
    """The traces served in [since, until) (of `collection` when given), oldest first."""
    t, f = schema.traces, schema.feedback
    query = select(t.c.id, t.c.question, t.c.abstained, t.c.sources_json, t.c.details_json).order_by(
        t.c.created_at, t.c.id
    )
    query = _trace_window_query(project, since, until, collection, query)
    with project.store.engine.connect() as conn:
        rows = conn.execute(query).all()
        ids = [r.id for r in rows]
        labels: dict[str, list[tuple[str, int | None]]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for fr in conn.execute(
                select(f.c.trace_id, f.c.signal, f.c.rating).where(f.c.trace_id.in_(chunk))
            ):
                labels.setdefault(fr.trace_id, []).append((fr.signal, fr.rating))
    texts = [r.question for r in rows]
    languages, scores = [], []
    for r in rows:
        details = json.loads(r.details_json or "{}")
        lang = details.get("lang")
        languages.append(lang if lang in ("ko", "en") else language_of(r.question))
        # Traces stored before the retrieval confidence was recorded have none: left out of the sample
        # rather than mixed with another scale.
        confidence = details.get("retrieval_confidence")
        if isinstance(confidence, int | float) and not isinstance(confidence, bool):
            scores.append(float(confidence))
    negative = sum(
        1
        for r in rows
        if any(
            s in NEGATIVE_SIGNALS or (s == "rating" and v is not None and v <= LOW_RATING)
            for s, v in labels.get(r.id, [])
        )
    )
    window = Window(
        source=source,
        texts=texts,
        languages=languages,
        top_scores=scores,
        abstained=[bool(r.abstained) for r in rows],
        feedback=FeedbackCounts(
            traces=len(rows), with_feedback=sum(1 for r in rows if r.id in labels), negative=negative
        ),
    )
    if not scores:
        window.top_scores = None
        window.unavailable["retrieval_score"] = "no trace of this window recorded a retrieval confidence"
    if texts:
        window.embeddings = _embed(embedder or _default_embedder(project), texts)
    return window


def load_window(
    spec: str,
    *,
    project: Project | None,
    collection: str | None = None,
    embedder: Embedder | None = None,
    now: datetime | None = None,
) -> Window:
    """A window from `FILE` (JSONL queries) or `traces:SINCE..UNTIL` (needs a project)."""
    if spec.startswith("traces:"):
        if project is None:
            raise LlmpilotError(
                f"{spec!r}: a traces window needs a project (-p PROJECT) whose store holds them"
            )
        since, until = parse_traces_spec(spec, now=now)
        return window_from_traces(
            project, since, until, collection=collection, embedder=embedder, source=spec
        )
    return window_from_queries(Path(spec), project=project, embedder=embedder)


# --- the report -------------------------------------------------------------------------------------


def _skip(reason: str, n_baseline: int, n_current: int, method: str) -> dict[str, Any]:
    return {
        "statistic": None,
        "p_value": None,
        "method": method,
        "drift": False,
        "n_baseline": n_baseline,
        "n_current": n_current,
        "skipped": reason,
    }


def _reason(name: str, baseline: Window, current: Window) -> str | None:
    for side, window in (("baseline", baseline), ("current", current)):
        if name in window.unavailable:
            return f"{side}: {window.unavailable[name]}"
    return None


def _signal_tests(
    baseline: Window, current: Window, *, method: str, permutations: int, seed: int
) -> dict[str, tests.TestResult | str]:
    """Each signal's test result, or the reason it was skipped."""
    out: dict[str, tests.TestResult | str] = {}
    assert baseline.embeddings is not None and current.embeddings is not None
    if method == "mmd":
        out["embedding"] = tests.mmd_test(
            baseline.embeddings, current.embeddings, permutations=permutations, seed=seed
        )
        out["embedding_classifier"] = "not selected (run with --method classifier)"
    else:
        out["embedding"] = "not selected (run with --method mmd)"
        out["embedding_classifier"] = tests.classifier_test(
            baseline.embeddings, current.embeddings, permutations=permutations, seed=seed
        )
    reason = _reason("retrieval_score", baseline, current)
    if reason is None and baseline.top_scores and current.top_scores:
        out["retrieval_score"] = tests.score_shift(baseline.top_scores, current.top_scores)
    else:
        out["retrieval_score"] = reason or "no retrieval scores"
    reason = _reason("abstain_rate", baseline, current)
    if reason is None and baseline.abstained and current.abstained:
        out["abstain_rate"] = tests.rate_shift(
            sum(baseline.abstained), len(baseline.abstained), sum(current.abstained), len(current.abstained)
        )
    else:
        out["abstain_rate"] = reason or "no abstain decisions"
    out["language_mix"] = tests.mix_shift(
        _counts(baseline.languages), _counts(current.languages), permutations=permutations, seed=seed
    )
    reason = _reason("feedback_rate", baseline, current)
    if reason is None and baseline.feedback and current.feedback:
        b, c = baseline.feedback, current.feedback
        result = tests.rate_shift(b.negative, b.traces, c.negative, c.traces)
        result.details.update(
            {
                "rate": "traces with negative feedback (thumbs_down, correction, rating <= 2)",
                "feedback_share_baseline": b.with_feedback / b.traces,
                "feedback_share_current": c.with_feedback / c.traces,
            }
        )
        out["feedback_rate"] = result
    else:
        out["feedback_rate"] = reason or "no feedback counts"
    return out


def _counts(values: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such numbers become null."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def drift_report(
    baseline: Window,
    current: Window,
    *,
    alpha: float = 0.05,
    permutations: int = 500,
    seed: int = 0,
    method: str = "mmd",
) -> dict[str, Any]:
    """{"drift", "p_value", "statistic", "method", "n_baseline", "n_current", "signals"}.

    Every signal of SIGNALS is under "signals" with {statistic, p_value, p_adjusted, method, drift,
    n_baseline, n_current, details}, or {…, "skipped": reason} when it cannot be computed. The
    decision: Holm's step-down procedure over the signals that were computed, at `alpha` (the
    family-wise false-alarm rate stays <= alpha under any dependence); "drift" is true when any
    signal is rejected, and "flagged" names them. The top-level p_value, statistic and method are
    the query-embedding test's (`method`: mmd or classifier)."""
    if method not in METHODS:
        raise LlmpilotError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0.0 < alpha < 1.0:
        raise LlmpilotError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    for side, window in (("baseline", baseline), ("current", current)):
        if len(window.texts) < 2:
            raise LlmpilotError(
                f"the {side} window ({window.source}) has {len(window.texts)} question(s); at least 2 are "
                "needed (widen the traces window or add queries)"
            )
    results = _signal_tests(baseline, current, method=method, permutations=permutations, seed=seed)
    computed = {name: r for name, r in results.items() if isinstance(r, tests.TestResult)}
    decisions = tests.holm({name: r.p_value for name, r in computed.items()}, alpha) if computed else {}
    nb, nc = len(baseline.texts), len(current.texts)
    signals: dict[str, Any] = {}
    names = {
        "embedding": "mmd",
        "embedding_classifier": "classifier",
        "retrieval_score": "ks",
        "abstain_rate": "two-proportion",
        "language_mix": "chi-square",
        "feedback_rate": "two-proportion",
    }
    for name in SIGNALS:
        result = results[name]
        if isinstance(result, str):
            signals[name] = _skip(result, nb, nc, names[name])
            continue
        adjusted, rejected = decisions[name]
        signals[name] = {**result.as_dict(), "p_adjusted": adjusted, "drift": rejected}
    primary = signals["embedding" if method == "mmd" else "embedding_classifier"]
    flagged = [name for name in SIGNALS if signals[name]["drift"]]
    report = {
        "drift": bool(flagged),
        "p_value": primary["p_value"],
        "statistic": primary["statistic"],
        "method": method,
        "n_baseline": nb,
        "n_current": nc,
        "alpha": alpha,
        "decision": f"holm over {len(computed)} signal(s) at alpha {alpha}",
        "flagged": flagged,
        "baseline": baseline.source,
        "current": current.source,
        "permutations": permutations,
        "seed": seed,
        "signals": signals,
    }
    return dict(_finite(report))


# --- a monitor run ----------------------------------------------------------------------------------

AlertHook = Callable[[int, dict[str, Any]], None]


def run_drift_check(
    project: Project | None,
    baseline_spec: str,
    current_spec: str,
    *,
    method: str = "mmd",
    permutations: int | None = None,
    seed: int = 0,
    alpha: float | None = None,
    collection: str | None = None,
    on_alert: AlertHook | None = None,
    embedder: Embedder | None = None,
    min_questions: int = 0,
    confirm: int = 1,
    scheduled: bool = False,
) -> dict[str, Any]:
    """Load both windows, test them, and with a project record the run (monitor_runs, kind "drift",
    the report as summary) and, when drift is found, an alert (kind "drift"; logged at WARNING).
    `on_alert(alert_id, alert)` is then called, e.g. to deliver the alert to a webhook; its failure
    is logged, never raised (the alert is stored already). `permutations` defaults to
    `monitoring.drift_permutations` (at most CLASSIFIER_DEFAULT_PERMUTATIONS for the classifier
    test). Returns the report (+ "run_id", "alert_id" when recorded).

    The scheduled check of `monitor run` (`scheduled`): windows with fewer than `min_questions`
    questions are not tested (the report says "skipped"), and the alert needs `confirm` scheduled
    checks in a row that found drift — repeated tests on overlapping windows would otherwise raise
    false alarms far more often than alpha (benchmarks/drift.py measures both)."""
    cfg = project.config.monitoring if project is not None else None
    if permutations is None:
        permutations = cfg.drift_permutations if cfg else 500
        if method == "classifier":  # it refits per permutation: the default stays affordable
            permutations = min(permutations, CLASSIFIER_DEFAULT_PERMUTATIONS)
    alpha = alpha if alpha is not None else (cfg.alpha if cfg else 0.05)
    if embedder is None:
        embedder = _default_embedder(project)
    baseline = load_window(baseline_spec, project=project, collection=collection, embedder=embedder)
    current = load_window(current_spec, project=project, collection=collection, embedder=embedder)
    if min(len(baseline.texts), len(current.texts)) < min_questions:
        return {
            "skipped": f"too few questions to test (baseline {len(baseline.texts)}, current "
            f"{len(current.texts)}; monitoring.drift_min_questions is {min_questions})",
            "baseline": baseline_spec,
            "current": current_spec,
            "n_baseline": len(baseline.texts),
            "n_current": len(current.texts),
        }
    if project is None:
        return drift_report(
            baseline, current, alpha=alpha, permutations=permutations, seed=seed, method=method
        )

    from llmpilot.monitoring.store import MonitorStore

    monitor = MonitorStore(project.store)
    name = collection or project.root.name
    run_id = monitor.start_monitor_run("drift", name, monitor.live_version_id(), project.config.hash())
    try:
        report = drift_report(
            baseline, current, alpha=alpha, permutations=permutations, seed=seed, method=method
        )
    except Exception as exc:
        monitor.finish_monitor_run(run_id, status="failed", summary={"error": str(exc)}, items=[])
        raise
    report["scheduled"] = scheduled
    monitor.finish_monitor_run(run_id, status="done", summary=report, items=[])
    report["run_id"] = run_id
    if report["drift"] and confirm > 1:
        recent = [
            r for r in monitor.monitor_runs(kind="drift", collection=name, limit=50)
            if r["status"] == "done" and bool(r["summary"].get("scheduled")) == scheduled
        ][:confirm]  # fmt: skip
        in_a_row = len(recent) == confirm and all(r["summary"].get("drift") for r in recent)
        report["confirmed"] = in_a_row
        if not in_a_row:
            report["alert_pending"] = (
                f"drift found; an alert needs {confirm} checks in a row that find it "
                "(monitoring.drift_confirm)"
            )
            return report
    if report["drift"]:
        alert = drift_alert(report, name)
        alert_id = monitor.add_alert(**alert, delivered={"log": True})
        log.warning("drift alert %s: %s (%s)", alert_id, alert["title"], alert["message"])
        report["alert_id"] = alert_id
        if on_alert is not None:
            try:
                on_alert(alert_id, alert)
            except Exception:  # the alert is stored; a failed delivery must not lose the finding
                log.exception("delivering drift alert %s failed", alert_id)
    return report


def drift_alert(report: dict[str, Any], collection: str) -> dict[str, Any]:
    """The alert of a drift report: kind, severity, collection, title, message, evidence."""
    flagged = report["flagged"]
    parts = []
    for name in flagged:
        signal = report["signals"][name]
        parts.append(
            f"{name} p={signal['p_value']:.3g} (adjusted {signal['p_adjusted']:.3g}, {signal['method']})"
        )
    return {
        "kind": "drift",
        "severity": "warning",
        "collection": collection,
        "title": f"Drift in {collection}: {', '.join(flagged)} / 분포 변화 감지",
        "message": (
            f"{report['current']} ({report['n_current']} questions) differs from {report['baseline']} "
            f"({report['n_baseline']}): " + "; ".join(parts)
        ),
        "evidence": report,
    }


def traffic_drift(
    project: Project,
    *,
    collection: str | None = None,
    on_alert: AlertHook | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """`monitor run`'s drift check: the last `traffic_window_hours` of served questions against the
    window before it, with `drift_min_questions` and `drift_confirm` (see `run_drift_check`)."""
    cfg = project.config.monitoring
    hours = cfg.traffic_window_hours
    baseline_spec, current_spec = f"traces:-{2 * hours:g}h..-{hours:g}h", f"traces:-{hours:g}h..now"
    # Counted first: a quiet service skips the check without loading the embedder.
    counts = [
        count_traces(project, *parse_traces_spec(spec), collection=collection)
        for spec in (baseline_spec, current_spec)
    ]
    if min(counts) < cfg.drift_min_questions:
        return {
            "skipped": f"too few questions to test (baseline {counts[0]}, current {counts[1]}; "
            f"monitoring.drift_min_questions is {cfg.drift_min_questions})",
            "baseline": baseline_spec,
            "current": current_spec,
            "n_baseline": counts[0],
            "n_current": counts[1],
        }
    return run_drift_check(
        project,
        baseline_spec,
        current_spec,
        collection=collection,
        on_alert=on_alert,
        embedder=embedder,
        min_questions=cfg.drift_min_questions,
        confirm=cfg.drift_confirm,
        scheduled=True,
    )
