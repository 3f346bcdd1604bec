"""Scores of a strategy comparison: per-item metrics, bootstrap CIs, paired tests, the recommendation.

Every strategy answers the same test items, so strategies are compared with the paired bootstrap on
per-item scores (llmpilot.evaluation.bootstrap). The recommendation follows the optimizer's "cheapest
not worse" rule (llmpilot.optimization.select): the simplest strategy whose primary metric is not
significantly below the best's. Simplicity is the order prompt < rag < finetune < hybrid: each step adds
a moving part (an index, then trained weights, then both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap

#: Simplest first.
STRATEGIES: tuple[str, ...] = ("prompt", "rag", "finetune", "hybrid")
PRIMARY_METRIC = "rougeL"
DEFAULT_METRICS: tuple[str, ...] = ("rougeL", "chrf", "bleu", "meteor")
ALPHA = 0.05


def score_items(
    predictions: Sequence[str], references: Sequence[Sequence[str]], metrics: Sequence[str]
) -> dict[str, list[float]]:
    """Per-item scores (best reference counts), metric -> one value per prediction, in order."""
    from llmpilot.evaluation.scoring import score_answers

    rows = score_answers(list(predictions), [list(r) for r in references], list(metrics))
    return {m: [float(row[m]) for row in rows] for m in metrics}


@dataclass(frozen=True)
class Aggregate:
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]


def aggregate(per_item: Mapping[str, Sequence[float]], seed: int = 0) -> Aggregate:
    """Mean and percentile-bootstrap 95% CI of each metric."""
    metrics: dict[str, float] = {}
    ci: dict[str, tuple[float, float]] = {}
    for name, values in per_item.items():
        if not values:
            continue
        mean, low, high = bootstrap_ci(list(values), seed=seed)
        metrics[name] = round(mean, 6)
        ci[name] = (round(low, 6), round(high, 6))
    return Aggregate(metrics, ci)


def paired_tests(
    per_item: Mapping[str, Mapping[str, Sequence[float]]], metric: str, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Every pair as "a vs b" (a simpler than b, STRATEGIES order): diff = mean(a) − mean(b) over the
    same items, its 95% CI and the two-sided paired-bootstrap p-value."""
    names = [s for s in STRATEGIES if s in per_item] + sorted(set(per_item) - set(STRATEGIES))
    out: dict[str, dict[str, Any]] = {}
    for a, b in combinations(names, 2):
        test = paired_bootstrap(list(per_item[a][metric]), list(per_item[b][metric]), seed=seed)
        out[f"{a} vs {b}"] = {
            "metric": metric,
            "diff": round(test["mean_diff"], 6),
            "ci": [round(test["ci_low"], 6), round(test["ci_high"], 6)],
            "p_value": round(test["p_value"], 6),
        }
    return out


def _p_value(paired: Mapping[str, Mapping[str, Any]], a: str, b: str) -> float:
    test = paired.get(f"{a} vs {b}") or paired.get(f"{b} vs {a}")
    if test is None:
        raise KeyError(f"no paired test between {a} and {b}")
    return float(test["p_value"])


def shown_p(p: float) -> str:
    """A bootstrap p of 0 means no resample crossed zero: below the test's resolution, not zero."""
    return "< 0.001" if p <= 0 else f"= {p:.3g}"


def recommend(
    means: Mapping[str, float], paired: Mapping[str, Mapping[str, Any]], metric: str
) -> tuple[str, str]:
    """(strategy, reason): the simplest strategy whose `metric` is not significantly worse than the
    best's (paired p >= ALPHA, or it is the best). Ties on the mean go to the simpler strategy."""
    order = [s for s in STRATEGIES if s in means] + sorted(set(means) - set(STRATEGIES))
    if not order:
        raise ValueError("no strategy was scored")
    best = max(order, key=lambda s: (means[s], -order.index(s)))
    for name in order:
        if name == best:
            simpler = order[: order.index(name)]
            why = f"{best} has the best {metric} ({means[best]:.4f})" + (
                ", and every simpler strategy ("
                + ", ".join(f"{s} {means[s]:.4f}, p {shown_p(_p_value(paired, s, best))}" for s in simpler)
                + f") is significantly worse (paired bootstrap, p < {ALPHA})"
                if simpler
                else ", and it is the simplest strategy"
            )
            return best, why + "."
        p = _p_value(paired, name, best)
        if p >= ALPHA:
            return name, (
                f"{name} is the simplest strategy not significantly worse than the best, {best}, on {metric} "
                f"({means[name]:.4f} vs {means[best]:.4f}, paired bootstrap p {shown_p(p)} >= {ALPHA}); "
                "the extra moving parts of the better-scoring strategy did not buy a measurable gain."
            )
    raise AssertionError("unreachable: the best strategy is in the order")
