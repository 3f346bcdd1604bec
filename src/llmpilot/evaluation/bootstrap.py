"""Bootstrap confidence intervals and paired comparisons over per-query scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap of the mean, deterministic for a seed."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    mean = float(data.mean())
    if data.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, float(min(low, mean)), float(max(high, mean))


def bootstrap_statistic_ci(
    n_items: int,
    statistic: Callable[[np.ndarray], float],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(value, low, high) for a statistic of a whole item set that has no per-item values, such as
    corpus BLEU: `statistic(indices)` is recomputed on `n_resamples` resamples (with replacement)
    of the item indices 0..n_items-1; percentile interval. Draws the same resamples as
    `bootstrap_ci`, so for the mean both agree exactly; deterministic for a seed."""
    if n_items <= 0:
        raise ValueError("bootstrap_statistic_ci needs at least one item")
    value = float(statistic(np.arange(n_items)))
    if n_items == 1:
        return value, value, value
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_items, size=(n_resamples, n_items))
    samples = np.array([statistic(row) for row in draws], dtype=np.float64)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return value, float(min(low, value)), float(max(high, value))


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Is system a better than b on the same queries? The mean difference a - b with its
    bootstrap CI, and a two-sided p-value: how often resampled differences fall on the other side
    of zero (doubled), the usual paired-bootstrap test in IR evaluation."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.size == 0:
        raise ValueError("paired_bootstrap needs two equally long, non-empty score lists")
    diff = x - y
    observed = float(diff.mean())
    if np.allclose(diff, 0.0):
        return {"mean_diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0}
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    other_side = np.mean(means <= 0.0) if observed > 0 else np.mean(means >= 0.0)
    p_value = float(min(1.0, 2.0 * other_side))
    return {"mean_diff": observed, "ci_low": float(low), "ci_high": float(high), "p_value": p_value}
