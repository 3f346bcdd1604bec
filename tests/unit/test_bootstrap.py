"""Statistical honesty of the bootstrap: a 95% CI covers the true mean about 95% of the time, and
the paired test rarely calls a difference significant when there is none. Seeded, so deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap


def test_95_percent_ci_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    trials, covered = 1000, 0
    for seed in range(trials):
        sample = rng.random(60)  # uniform 0-1: true mean 0.5
        _, low, high = bootstrap_ci(sample.tolist(), seed=seed)
        covered += low <= 0.5 <= high
    # Measured 0.944 (a 90% interval gives 0.901 here); 1000 trials: about +-0.7 points of noise.
    assert 0.925 <= covered / trials <= 0.97


def test_paired_test_false_positive_rate_under_the_null_is_near_alpha() -> None:
    rng = np.random.default_rng(8)
    trials, significant = 400, 0
    for seed in range(trials):
        a, b = rng.random(80), rng.random(80)  # two systems drawn from the same distribution
        significant += paired_bootstrap(a.tolist(), b.tolist(), n_resamples=1000, seed=seed)["p_value"] < 0.05
    assert significant / trials <= 0.09  # measured 0.0575


def test_paired_test_is_antisymmetric() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.random(50), rng.random(50) * 0.8
    ab = paired_bootstrap(a.tolist(), b.tolist())
    ba = paired_bootstrap(b.tolist(), a.tolist())
    assert ab["mean_diff"] == -ba["mean_diff"] and ab["p_value"] == ba["p_value"]
    assert ab["ci_low"] == pytest.approx(-ba["ci_high"])
