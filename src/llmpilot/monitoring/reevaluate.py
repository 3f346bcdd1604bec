"""Scheduled re-evaluation (`llmpilot monitor run` / `watch`): answer the project's eval set and a
sample of recent served questions with the live config, compare each with the previous run of the
same kind using paired tests, and raise a `quality_drop` alert on a significant drop.

- The eval set (llmpilot.monitoring.evalset) has references: retrieval `hit@k` and `mrr` over its
  `doc_ids`, `rougeL` and `chrf` against its reference answers.
- Every item, and every traffic question, gets the reference-free scores: `abstained` (0/1, lower
  is better), `support` (the answer policy's own sentence-support check, llmpilot.support: the
  judge where no reference exists; only for shown answers), `confidence`, `cited` (the shown
  answer has a verified citation). Traffic questions with a user's correction in the feedback are
  also scored against it (`rougeL`, `chrf`). `judge="generator"` adds the evaluation module's LLM
  judge (`judge_faithfulness`, `judge_relevance`) with the project's generator.
- Rows are keyed by eval item id / trace id, so a run is paired with its baseline (the newest
  finished run of the same kind and collection) on the ids both have: `paired_bootstrap` per
  metric; a metric that got worse by at least `monitoring.min_drop` with p < `monitoring.alpha`
  raises an alert (critical when p < alpha / 10) whose evidence holds the figures and the items
  that dropped most.

Answers come through `answering.Responder` with the answer cache off: a monitor that read its own
cache would measure the cache, not the config.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from llmpilot.answering import Responder
from llmpilot.errors import LlmpilotError
from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.evaluation.retrieval_metrics import hit_rate_at_k, mrr_at_k
from llmpilot.monitoring.alerts import deliver_alert
from llmpilot.monitoring.evalset import EvalItem, eval_set_path, load_eval_set
from llmpilot.monitoring.store import MonitorStore
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.types import Answer

log = logging.getLogger("llmpilot.monitoring")

#: (stage, done, total): "eval" / "traffic" progress of a run.
Progress = Callable[[str, int, int], None]

JUDGES = ("policy", "generator")
#: Display and comparison order; metrics not listed come after, by name.
METRIC_ORDER = (
    "hit@k",
    "mrr",
    "rougeL",
    "chrf",
    "abstained",
    "cited",
    "support",
    "confidence",
    "judge_faithfulness",
    "judge_relevance",
)
#: Metrics where a rise is the drop in quality.
LOWER_IS_BETTER = frozenset({"abstained"})
#: Fewer paired items than this: no test (a bootstrap over two questions says nothing).
MIN_PAIRS = 3
#: Items listed in an alert's evidence, largest drop first.
WORST_ITEMS = 5
#: Characters of an answer kept in a run's rows (evidence, not an archive).
ANSWER_CHARS = 600
RUN_KINDS = ("eval", "traffic")


# --- scoring one answer -------------------------------------------------------------------------


def make_responder(project: Project, collection: str) -> Responder:
    """The live answer path (guardrails as configured) with the answer cache off."""
    return Responder(Pipeline(project), collection=collection, cache=False)


def _reference_free(answer: Answer) -> dict[str, float]:
    shown = not answer.abstained
    scores = {
        "abstained": 0.0 if shown else 1.0,
        "confidence": float(max(0.0, min(1.0, answer.confidence))),
        "cited": 1.0 if shown and answer.citations else 0.0,
    }
    if shown and answer.generated:
        scores["support"] = float(answer.support)  # an abstention states nothing to support
    return scores


def _reference_scores(answer: Answer, reference: str) -> dict[str, float]:
    """rougeL and chrF against a reference; an abstention scores 0 (it is no answer)."""
    if answer.abstained:
        return {"rougeL": 0.0, "chrf": 0.0}
    from llmpilot.evaluation.answer_metrics import chrf, rouge

    return {"rougeL": rouge(answer.text, [reference])["rougeL"], "chrf": chrf(answer.text, [reference])}


def _retrieval_scores(answer: Answer, relevant_ids: Sequence[str]) -> dict[str, float]:
    ranked = list(dict.fromkeys(s.doc_id for s in answer.sources))
    relevant = dict.fromkeys(relevant_ids, 1)
    return {"hit@k": hit_rate_at_k(ranked, relevant, None), "mrr": mrr_at_k(ranked, relevant, None)}


def _judge_scores(responder: Responder, answer: Answer) -> tuple[dict[str, float], list[str]]:
    """The evaluation module's LLM judge with the project's generator (shown answers only): the
    scores it gave, and why any is missing (an unparseable reply is never a made-up score)."""
    if answer.abstained:
        return {}, []
    from llmpilot.evaluation.judge import judge

    texts = responder.pipeline.project.store.document_texts(s.doc_id for s in answer.sources)
    contexts = [texts.get(s.doc_id, "")[s.start : s.end] or s.snippet for s in answer.sources]
    scores: dict[str, float] = {}
    notes: list[str] = []
    generator = responder.pipeline.generator
    for criterion, name in (("faithfulness", "judge_faithfulness"), ("answer_relevance", "judge_relevance")):
        verdict = judge(generator, criterion, question=answer.question, answer=answer.text, contexts=contexts)
        if verdict.score is None:
            notes.append(f"{name}: {verdict.reason}")
        else:
            scores[name] = verdict.score
    return scores, notes


def _row(item_id: str, answer: Answer, scores: dict[str, float], notes: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": item_id,
        "question": answer.question,
        "answer": answer.text[:ANSWER_CHARS],
        "abstained": answer.abstained,
        "reason": answer.reason,
        "retrieved": list(dict.fromkeys(s.doc_id for s in answer.sources)),
        "scores": scores,
    }
    if notes:
        row["notes"] = notes
    return row


def _check_judge(judge: str | None) -> str:
    chosen = judge or "policy"
    if chosen not in JUDGES:
        raise LlmpilotError(f"--judge {judge!r}: use one of {', '.join(JUDGES)}")
    return chosen


# --- the eval set and the traffic sample ---------------------------------------------------------


def evaluate_eval_set(
    project: Project,
    *,
    collection: str,
    judge: str | None = None,
    items: Sequence[EvalItem] | None = None,
    responder: Responder | None = None,
    on_progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One scored row per eval item (keyed by the item's id), answered with the live config.
    `items`: the eval set already loaded (default: read `monitoring.eval_set`; a missing file is
    an error, not an empty set)."""
    chosen = _check_judge(judge)
    items = list(items) if items is not None else load_eval_set(eval_set_path(project))
    responder = responder or make_responder(project, collection)
    rows = []
    for done, item in enumerate(items, start=1):
        answer = responder.ask(item.question, lang=item.lang, use_cache=False)
        scores = _reference_free(answer)
        if item.doc_ids:
            scores.update(_retrieval_scores(answer, item.doc_ids))
        if item.answer:
            scores.update(_reference_scores(answer, item.answer))
        notes: list[str] = []
        if chosen == "generator":
            judged, notes = _judge_scores(responder, answer)
            scores.update(judged)
        rows.append(_row(item.id, answer, scores, notes))
        if on_progress is not None:
            on_progress("eval", done, len(items))
    return rows


def sample_traces(
    store: Store, *, collection: str, sample: int, window_hours: float, seed: int = 0
) -> list[dict[str, Any]]:
    """Up to `sample` traces of `collection` served in the last `window_hours` (refusals by an
    input guardrail left out: nothing was answered), with the latest correction each got.

    The sample is seeded by a hash of (seed, trace id), not by drawing: a trace picked once is
    picked again while it stays in the window, so consecutive runs share most of their traces
    and can be paired on them."""
    if sample <= 0:
        return []
    t, f = schema.traces, schema.feedback
    cutoff = datetime.now(UTC) - timedelta(hours=window_hours)
    query = select(t.c.id, t.c.tenant, t.c.question, t.c.abstained, t.c.confidence, t.c.details_json).where(
        t.c.collection == collection, t.c.created_at >= cutoff
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    served = [r for r in rows if r.question.strip() and not json.loads(r.details_json or "{}").get("blocked")]

    def rank(trace_id: str) -> str:
        return hashlib.sha256(f"{seed}:{trace_id}".encode()).hexdigest()

    chosen = sorted(served, key=lambda r: rank(r.id))[:sample]
    ids = [r.id for r in chosen]
    corrections: dict[str, str] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            query = (
                select(f.c.trace_id, f.c.correction)
                .where(f.c.trace_id.in_(ids[i : i + 500]), f.c.correction.is_not(None))
                .order_by(f.c.id)
            )
            for fr in conn.execute(query):
                if fr.correction.strip():
                    corrections[fr.trace_id] = fr.correction  # the latest one wins
    return [
        {
            "trace_id": r.id,
            "tenant": r.tenant,
            "question": r.question,
            "served_abstained": bool(r.abstained),
            "served_confidence": float(r.confidence),
            "correction": corrections.get(r.id),
        }
        for r in chosen
    ]


def evaluate_traffic(
    project: Project,
    store: Store,
    *,
    collection: str,
    sample: int,
    window_hours: float,
    seed: int = 0,
    judge: str | None = None,
    responder: Responder | None = None,
    on_progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One scored row per sampled trace (keyed by trace id): the question re-answered with the live
    config, reference-free scores, and rougeL/chrF against a user's correction when there is one."""
    chosen = _check_judge(judge)
    traces = sample_traces(store, collection=collection, sample=sample, window_hours=window_hours, seed=seed)
    if not traces:
        return []
    return answer_traces(
        traces, responder or make_responder(project, collection), judge=chosen, on_progress=on_progress
    )


def answer_traces(
    traces: Sequence[dict[str, Any]],
    responder: Responder,
    *,
    judge: str | None = None,
    on_progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Scored rows for traces picked by `sample_traces`."""
    chosen = _check_judge(judge)
    rows = []
    for done, trace in enumerate(traces, start=1):
        answer = responder.ask(trace["question"], use_cache=False)
        scores = _reference_free(answer)
        if trace["correction"]:
            scores.update(_reference_scores(answer, trace["correction"]))
        notes: list[str] = []
        if chosen == "generator":
            judged, notes = _judge_scores(responder, answer)
            scores.update(judged)
        row = _row(trace["trace_id"], answer, scores, notes)
        row["served"] = {"abstained": trace["served_abstained"], "confidence": trace["served_confidence"]}
        rows.append(row)
        if on_progress is not None:
            on_progress("traffic", done, len(traces))
    return rows


# --- summaries and paired comparison ---------------------------------------------------------------


def _ordered(names: Sequence[str] | set[str]) -> list[str]:
    known = [m for m in METRIC_ORDER if m in names]
    return known + sorted(set(names) - set(known))


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """metric -> {"mean", "ci_low", "ci_high", "n"}: the mean over the rows that have the metric,
    with its 95% bootstrap CI."""
    values: dict[str, list[float]] = {}
    for row in rows:
        for name, value in row["scores"].items():
            if value is not None:
                values.setdefault(name, []).append(float(value))
    out = {}
    for name in _ordered(set(values)):
        mean, low, high = bootstrap_ci(values[name])
        out[name] = {"mean": mean, "ci_low": low, "ci_high": high, "n": len(values[name])}
    return out


@dataclass(frozen=True)
class MetricComparison:
    """One metric of a run against its baseline, over the items both runs scored."""

    metric: str
    n_paired: int
    baseline_mean: float | None = None
    current_mean: float | None = None
    #: current - baseline, with its bootstrap CI.
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    #: "regressed" (worse by >= min_drop, p < alpha), "improved" (the same, better), "unchanged",
    #: or "too few pairs".
    verdict: str = "unchanged"
    #: Items that got worse on this metric, the largest drop first.
    worst: list[dict[str, Any]] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return self.verdict == "regressed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_paired": self.n_paired,
            "baseline_mean": self.baseline_mean,
            "current_mean": self.current_mean,
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "direction": "lower is better" if self.metric in LOWER_IS_BETTER else "higher is better",
            "verdict": self.verdict,
        }


def compare_runs(
    baseline: Sequence[dict[str, Any]],
    current: Sequence[dict[str, Any]],
    *,
    alpha: float,
    min_drop: float,
    seed: int = 0,
) -> list[MetricComparison]:
    """Paired bootstrap per metric on the item ids both runs scored (current - baseline)."""
    before = {row["id"]: row for row in baseline}
    names = {n for row in current for n in row["scores"]} | {n for row in baseline for n in row["scores"]}
    out = []
    for name in _ordered(names):
        pairs = [
            (before[row["id"]], row)
            for row in current
            if row["id"] in before
            and row["scores"].get(name) is not None
            and before[row["id"]]["scores"].get(name) is not None
        ]
        if len(pairs) < MIN_PAIRS:
            out.append(MetricComparison(name, len(pairs), verdict="too few pairs"))
            continue
        old = [float(b["scores"][name]) for b, _ in pairs]
        new = [float(c["scores"][name]) for _, c in pairs]
        test = paired_bootstrap(new, old, seed=seed)
        sign = -1.0 if name in LOWER_IS_BETTER else 1.0
        worsening = -sign * test["mean_diff"]  # > 0: quality went down
        significant = test["p_value"] < alpha and abs(test["mean_diff"]) >= min_drop
        verdict = "unchanged"
        if significant:
            verdict = "regressed" if worsening > 0 else "improved"
        worst = sorted(
            (
                {
                    "id": c["id"],
                    "question": c["question"],
                    "baseline": o,
                    "current": n,
                    "baseline_answer": b.get("answer", ""),
                    "current_answer": c.get("answer", ""),
                }
                for (b, c), o, n in zip(pairs, old, new, strict=True)
                if -sign * (n - o) > 0
            ),
            key=lambda item: sign * (item["baseline"] - item["current"]),
            reverse=True,
        )[:WORST_ITEMS]
        out.append(
            MetricComparison(
                metric=name,
                n_paired=len(pairs),
                baseline_mean=sum(old) / len(old),
                current_mean=sum(new) / len(new),
                difference=test["mean_diff"],
                ci_low=test["ci_low"],
                ci_high=test["ci_high"],
                p_value=test["p_value"],
                verdict=verdict,
                worst=worst,
            )
        )
    return out


# --- one monitoring pass -------------------------------------------------------------------------


@dataclass
class RunReport:
    """One monitor run (kind "eval" or "traffic") as `monitor run` prints it."""

    kind: str
    run_id: int
    n_items: int
    metrics: dict[str, dict[str, float]]
    baseline_id: int | None = None
    comparisons: list[MetricComparison] = field(default_factory=list)
    alert_id: int | None = None
    severity: str | None = None

    @property
    def regressions(self) -> list[MetricComparison]:
        return [c for c in self.comparisons if c.regressed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "run_id": self.run_id,
            "n_items": self.n_items,
            "baseline_id": self.baseline_id,
            "metrics": self.metrics,
            "comparison": [c.as_dict() for c in self.comparisons],
            "alert_id": self.alert_id,
            "severity": self.severity,
        }


@dataclass
class MonitorResult:
    collection: str
    config_hash: str
    config_version: int | None
    runs: list[RunReport] = field(default_factory=list)
    #: Queued "reevaluate" jobs this pass served.
    jobs: list[int] = field(default_factory=list)
    #: Runs left "running" by an earlier, interrupted pass, now marked "failed".
    marked_failed: list[int] = field(default_factory=list)
    #: Why there is no traffic run ("" when there is one).
    traffic_note: str = ""

    @property
    def alerts(self) -> list[int]:
        return [r.alert_id for r in self.runs if r.alert_id is not None]

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "config_hash": self.config_hash,
            "config_version": self.config_version,
            "runs": [r.as_dict() for r in self.runs],
            "alerts": self.alerts,
            "jobs": self.jobs,
            "marked_failed": self.marked_failed,
            "traffic_note": self.traffic_note,
        }


def mark_interrupted(monitor: MonitorStore, collection: str, current_run: int) -> list[int]:
    """Runs of this collection still "running" from an earlier pass (its process was stopped or
    crashed) are marked "failed", their summary saying so. Two passes at the same time on one
    collection would mark each other's runs: schedule one `monitor run`/`watch` per collection."""
    stale = []
    for kind in RUN_KINDS:
        for run in monitor.monitor_runs(kind=kind, collection=collection, limit=1000):
            if run["status"] == "running" and run["id"] != current_run:
                summary = {
                    **run["summary"],
                    "error": f"interrupted: still running when monitor run {current_run} started "
                    "(its process was stopped or crashed)",
                    "marked_failed_by": current_run,
                }
                monitor.finish_monitor_run(run["id"], status="failed", summary=summary, items=[])
                stale.append(int(run["id"]))
    return sorted(stale)


def monitor_once(
    project: Project,
    *,
    collection: str | None = None,
    judge: str | None = None,
    on_progress: Progress | None = None,
    seed: int = 0,
) -> MonitorResult:
    """One monitoring pass: an "eval" run over the eval set and, when the window holds served
    traffic, a "traffic" run; each compared with its baseline, alerting on a significant drop.
    Serves the queued "reevaluate" jobs. A run that fails (or is interrupted) is recorded as
    "failed" with the error, and the error raised."""
    chosen = _check_judge(judge)
    name = collection or project.root.name
    cfg = project.config.monitoring
    store = project.store
    monitor = MonitorStore(store)
    # A missing or malformed eval set is the user's to fix: raised before any run is recorded.
    items = load_eval_set(eval_set_path(project))
    config_hash = project.config.hash()
    # llmpilot.yaml is the live config (llmpilot.monitoring.versions): its version by hash, else the
    # one marked live (a version keeps the file's unresolved model paths, so the hashes can differ).
    version = monitor.version_by_hash(config_hash)
    result = MonitorResult(name, config_hash, version.id if version else monitor.live_version_id())
    jobs = monitor.queued_jobs("reevaluate")
    responder = make_responder(project, name)

    def run(kind: str, evaluate: Callable[[], list[dict[str, Any]]], extra: dict[str, Any]) -> RunReport:
        run_id = monitor.start_monitor_run(kind, name, result.config_version, config_hash)
        result.marked_failed += mark_interrupted(monitor, name, run_id)
        try:
            rows = evaluate()
            report = _finish(project, monitor, run_id, kind, name, rows, result, {**extra, "judge": chosen})
        except BaseException as exc:  # Ctrl-C included: the run must not stay "running"
            summary = {**extra, "error": f"{type(exc).__name__}: {exc}", "judge": chosen}
            if isinstance(exc, KeyboardInterrupt):
                summary["error"] = "interrupted (Ctrl-C)"
            monitor.finish_monitor_run(run_id, status="failed", summary=summary, items=[])
            raise
        result.runs.append(report)
        return report

    run(
        "eval",
        lambda: evaluate_eval_set(
            project, collection=name, judge=chosen, items=items, responder=responder, on_progress=on_progress
        ),
        {"eval_set": str(eval_set_path(project)), "jobs": [j["id"] for j in jobs]},
    )
    monitor.finish_jobs([j["id"] for j in jobs])
    result.jobs = [j["id"] for j in jobs]

    traces = sample_traces(
        store,
        collection=name,
        sample=cfg.traffic_sample,
        window_hours=cfg.traffic_window_hours,
        seed=seed,
    )
    if traces:
        run(
            "traffic",
            lambda: answer_traces(traces, responder, judge=chosen, on_progress=on_progress),
            {"sample": cfg.traffic_sample, "window_hours": cfg.traffic_window_hours, "seed": seed},
        )
    else:
        result.traffic_note = (
            "no traffic sample: monitoring.traffic_sample is 0"
            if cfg.traffic_sample <= 0
            else f"no served traffic for {name!r} in the last {cfg.traffic_window_hours:g} h"
        )
    return result


def _finish(
    project: Project,
    monitor: MonitorStore,
    run_id: int,
    kind: str,
    collection: str,
    rows: list[dict[str, Any]],
    result: MonitorResult,
    extra: dict[str, Any],
) -> RunReport:
    """Summarize, compare with the baseline, alert on a drop, and record the run as done."""
    cfg = project.config.monitoring
    report = RunReport(kind, run_id, len(rows), summarize(rows) if rows else {})
    baseline = monitor.baseline_run(kind, collection, before=run_id)
    if baseline is not None:
        report.baseline_id = int(baseline["id"])
        report.comparisons = compare_runs(baseline["items"], rows, alpha=cfg.alpha, min_drop=cfg.min_drop)
    if report.regressions:
        assert baseline is not None
        critical = any(c.p_value is not None and c.p_value < cfg.alpha / 10 for c in report.regressions)
        report.severity = "critical" if critical else "warning"
        report.alert_id = _raise_alert(project, kind, collection, run_id, baseline, report, result)
    summary = {
        **extra,
        "metrics": report.metrics,
        "n_items": len(rows),
        "comparison": {
            "baseline_id": report.baseline_id,
            "metrics": [c.as_dict() for c in report.comparisons],
        },
        "alert_id": report.alert_id,
        "marked_failed": result.marked_failed,
    }
    monitor.finish_monitor_run(
        run_id, status="done", summary=summary, items=rows, baseline_id=report.baseline_id
    )
    return report


_KIND_KO = {"eval": "평가 세트", "traffic": "최근 트래픽"}
_KIND_EN = {"eval": "eval set", "traffic": "recent traffic"}


def _raise_alert(
    project: Project,
    kind: str,
    collection: str,
    run_id: int,
    baseline: dict[str, Any],
    report: RunReport,
    result: MonitorResult,
) -> int:
    cfg = project.config.monitoring
    dropped = report.regressions
    worst: dict[str, dict[str, Any]] = {}
    for comparison in dropped:  # one entry per item, with every metric it dropped on
        for item in comparison.worst:
            entry = worst.setdefault(
                item["id"],
                {
                    "id": item["id"],
                    "question": item["question"],
                    "baseline_answer": item["baseline_answer"],
                    "current_answer": item["current_answer"],
                    "drops": {},
                },
            )
            entry["drops"][comparison.metric] = {"baseline": item["baseline"], "current": item["current"]}
    worst_items = sorted(worst.values(), key=lambda e: -len(e["drops"]))[:WORST_ITEMS]
    evidence = {
        "kind": kind,
        "run_id": run_id,
        "baseline_run_id": baseline["id"],
        "config_version": result.config_version,
        "config_hash": result.config_hash,
        "baseline_config_version": baseline["config_version"],
        "baseline_config_hash": baseline["config_hash"],
        "alpha": cfg.alpha,
        "min_drop": cfg.min_drop,
        "metrics": [c.as_dict() for c in dropped],
        "worst_items": worst_items,
    }
    figures = ", ".join(f"{c.metric} {c.baseline_mean:.3f}→{c.current_mean:.3f}" for c in dropped)
    title = (
        f"Quality drop / 품질 저하: {collection} ({_KIND_EN[kind]}) — {', '.join(c.metric for c in dropped)}"
    )
    message = (
        f"{_KIND_EN[kind].capitalize()} of {collection!r}: {figures} against baseline run {baseline['id']} "
        f"(paired bootstrap, p < {cfg.alpha:g}, drop >= {cfg.min_drop:g}).\n"
        f"{collection!r} {_KIND_KO[kind]}: {figures} — 기준 실행 {baseline['id']} 대비 유의한 하락입니다."
    )
    return deliver_alert(
        project.store,
        cfg,
        kind="quality_drop",
        severity=report.severity or "warning",
        collection=collection,
        title=title,
        message=message,
        evidence=evidence,
    )
