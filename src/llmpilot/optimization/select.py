"""Pick the optimum with evidence: CIs on every aggregate, a paired test against the runner-up,
and the cheapest config that is not significantly worse than the best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.optimization.results import MetricValue, Significance, TrialResult

ALPHA = 0.05


@dataclass(frozen=True)
class Selection:
    best: TrialResult
    runner_up: TrialResult | None
    significance: Significance | None
    cheapest_not_worse: TrialResult | None
    cheapest_p_value: float | None


def aggregate(result: TrialResult) -> dict[str, MetricValue]:
    out = {}
    for metric, values in result.per_query.items():
        if not values:  # e.g. an answer metric on a halving subset where no query has a reference
            continue
        ordered = [values[q] for q in sorted(values)]
        mean, low, high = bootstrap_ci(ordered)
        out[metric] = MetricValue(mean=mean, ci_low=low, ci_high=high, n=len(ordered))
    return out


def _paired(a: TrialResult, b: TrialResult, metric: str) -> dict[str, float]:
    queries = sorted(set(a.per_query[metric]) & set(b.per_query[metric]))
    return paired_bootstrap(
        [a.per_query[metric][q] for q in queries], [b.per_query[metric][q] for q in queries]
    )


def final_results(results: Sequence[TrialResult]) -> list[TrialResult]:
    """The complete trials (all queries), one per config."""
    by_id = {r.trial_id: r for r in results if r.complete}
    return list(by_id.values())


def select(results: Sequence[TrialResult], metric: str) -> Selection:
    complete = final_results(results)
    if not complete:
        raise ValueError("no trial was evaluated on all queries")
    ranked = sorted(complete, key=lambda r: (-r.mean(metric), r.latency_ms_p50, r.trial_id))
    best = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    significance = None
    if runner_up is not None:
        test = _paired(best, runner_up, metric)
        significance = Significance(metric=metric, **test, significant=bool(test["p_value"] < ALPHA))
    cheapest, cheapest_p = None, None
    for candidate in sorted(ranked, key=lambda r: (r.latency_ms_p50, -r.mean(metric))):
        if candidate is best:
            cheapest, cheapest_p = best, 1.0
            break
        p = _paired(best, candidate, metric)["p_value"]
        if p >= ALPHA:
            cheapest, cheapest_p = candidate, p
            break
    return Selection(best, runner_up, significance, cheapest, cheapest_p)
