"""The drift tests: calibrated under no shift, powerful under clear shifts, equal to scipy's
references where one exists, and Holm's rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from llmpilot.errors import LlmpilotError
from llmpilot.monitoring.drift import (
    classifier_test,
    holm,
    mix_shift,
    mmd_test,
    permutation_p_value,
    rate_shift,
    score_shift,
)
from llmpilot.monitoring.drift_inputs import SIGNALS, Window, drift_report


def _gaussian(rng: np.random.Generator, n: int, shift: float = 0.0, dim: int = 16) -> np.ndarray:
    x = rng.normal(size=(n, dim))
    x[:, 0] += shift
    return x


def test_mmd_p_values_are_not_small_when_both_samples_share_a_distribution() -> None:
    p_values = []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        p_values.append(mmd_test(_gaussian(rng, 40), _gaussian(rng, 30), permutations=200, seed=seed).p_value)
    # Valid p-values are uniform under H0: about 5% under 0.05; allow chance, not a broken test.
    assert sum(p <= 0.05 for p in p_values) <= 5
    assert np.median(p_values) > 0.2


def test_mmd_detects_a_clear_shift() -> None:
    rng = np.random.default_rng(1)
    result = mmd_test(_gaussian(rng, 40), _gaussian(rng, 30, shift=1.5), permutations=300, seed=1)
    assert result.p_value < 0.01
    assert result.statistic > result.details["null_q95"]
    assert result.method == "mmd" and (result.n_baseline, result.n_current) == (40, 30)


def test_mmd_statistic_is_the_unbiased_estimate_with_the_median_bandwidth() -> None:
    rng = np.random.default_rng(2)
    x, y = _gaussian(rng, 7, dim=3), _gaussian(rng, 5, shift=0.5, dim=3)
    z = np.vstack([x, y])
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    sigma = np.median(d[np.triu_indices(len(z), 1)])
    k = np.exp(-(d**2) / (2 * sigma**2))
    kxx, kyy, kxy = k[:7, :7], k[7:, 7:], k[:7, 7:]
    expected = (kxx.sum() - np.trace(kxx)) / (7 * 6) + (kyy.sum() - np.trace(kyy)) / (5 * 4) - 2 * kxy.mean()
    result = mmd_test(x, y, permutations=50, seed=0)
    assert result.statistic == pytest.approx(expected, rel=1e-9)
    assert result.details["bandwidth"] == pytest.approx(sigma)


def test_permutation_p_value_has_the_plus_one_correction() -> None:
    assert permutation_p_value(5.0, np.array([1.0, 2.0, 3.0])) == pytest.approx(1 / 4)
    assert permutation_p_value(0.0, np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    assert mmd_test(np.eye(4)[:2], np.eye(4)[2:], permutations=99, seed=0).p_value >= 0.01


def test_classifier_test_calibrated_and_powerful() -> None:
    small = []
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        small.append(
            classifier_test(_gaussian(rng, 30), _gaussian(rng, 30), permutations=60, seed=seed).p_value
        )
    assert sum(p <= 0.05 for p in small) <= 2
    rng = np.random.default_rng(7)
    shifted = classifier_test(_gaussian(rng, 30), _gaussian(rng, 30, shift=2.0), permutations=150, seed=7)
    assert shifted.p_value < 0.01
    assert shifted.statistic > shifted.details["null_q95"] > 0.5  # AUC above its null


def test_score_shift_is_scipys_ks_test_with_the_mean_difference() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 0.05, 50), rng.normal(0.7, 0.05, 40)
    reference = stats.ks_2samp(a, b)
    result = score_shift(a, b)
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.p_value < 0.01
    assert result.details["mean_difference"] == pytest.approx(b.mean() - a.mean())


def test_rate_shift_z_test_matches_chi_square_without_correction() -> None:
    table = [[12, 88], [30, 70]]
    _, p_chi2, _, _ = stats.chi2_contingency(table, correction=False)
    result = rate_shift(12, 100, 30, 100)
    assert result.method == "two-proportion z"
    assert result.p_value == pytest.approx(p_chi2)
    assert result.statistic > 0  # the rate went up
    assert result.details["difference"] == pytest.approx(0.18)


def test_rate_shift_small_counts_use_fishers_exact_test() -> None:
    result = rate_shift(0, 12, 4, 10)
    _, reference = stats.fisher_exact([[0, 12], [4, 6]])
    assert result.method == "fisher exact"
    assert result.p_value == pytest.approx(reference)


def test_rate_shift_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="baseline"):
        rate_shift(5, 3, 1, 10)


def test_mix_shift_chi_square_matches_scipy() -> None:
    a, b = {"ko": 60, "en": 40}, {"ko": 30, "en": 70}
    statistic, p, _, _ = stats.chi2_contingency([[40, 60], [70, 30]], correction=False)
    result = mix_shift(a, b)
    assert result.method == "chi-square"
    assert result.statistic == pytest.approx(statistic)
    assert result.p_value == pytest.approx(p)


def test_mix_shift_small_two_language_counts_are_exact() -> None:
    result = mix_shift({"ko": 20}, {"ko": 15, "en": 5})
    _, reference = stats.fisher_exact([[0, 20], [5, 15]])
    assert result.method == "fisher exact"
    assert result.p_value == pytest.approx(reference)
    assert result.details["share_current"] == {"en": 0.25, "ko": 0.75}


def test_mix_shift_small_counts_over_three_languages_is_a_permutation_test() -> None:
    same = mix_shift({"ko": 8, "en": 2, "ja": 1}, {"ko": 7, "en": 3, "ja": 1}, permutations=500, seed=1)
    assert same.method == "chi-square permutation"
    assert same.p_value > 0.5
    moved = mix_shift({"ko": 20, "en": 1, "ja": 0}, {"ko": 2, "en": 10, "ja": 4}, permutations=500, seed=1)
    assert moved.p_value < 0.01


def test_mix_shift_one_language_is_no_shift() -> None:
    result = mix_shift({"ko": 10}, {"ko": 7})
    assert (result.statistic, result.p_value) == (0.0, 1.0)


def test_holm_steps_down() -> None:
    decisions = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.5}, alpha=0.05)
    # 0.01 * 4 = 0.04 <= 0.05 rejected; 0.03 * 3 = 0.09 > 0.05 stops there.
    assert decisions["a"] == (pytest.approx(0.04), True)
    assert decisions["c"] == (pytest.approx(0.09), False)
    assert decisions["b"] == (pytest.approx(0.09), False)  # max(0.09, 0.04 * 2): monotone
    assert decisions["d"] == (pytest.approx(0.5), False)


def test_holm_rejects_more_than_bonferroni_when_several_signals_are_small() -> None:
    decisions = holm({"a": 0.02, "b": 0.04}, alpha=0.05)
    # Bonferroni needs p <= 0.025 for each (it keeps b); Holm's second step only needs p <= 0.05.
    assert decisions == {"a": (pytest.approx(0.04), True), "b": (pytest.approx(0.04), True)}
    assert not holm({"a": 0.03, "b": 0.04}, alpha=0.05)["a"][1]


def test_holm_of_nothing_is_empty_and_alpha_is_checked() -> None:
    assert holm({}, 0.05) == {}
    with pytest.raises(ValueError, match="alpha"):
        holm({"a": 0.1}, 1.0)


def _window(source: str, embeddings: np.ndarray, langs: list[str], abstained: list[bool]) -> Window:
    n = len(embeddings)
    return Window(
        source=source,
        texts=[f"q{i}" for i in range(n)],
        languages=langs,
        embeddings=embeddings,
        top_scores=[0.9 - 0.5 * a for a in abstained],
        abstained=abstained,
        unavailable={"feedback_rate": "a query file holds no feedback"},
    )


def test_drift_report_has_the_issues_keys_and_decides_with_holm() -> None:
    rng = np.random.default_rng(5)
    base = _window("a.jsonl", _gaussian(rng, 30), ["ko"] * 30, [False] * 30)
    same = _window("b.jsonl", _gaussian(rng, 20), ["ko"] * 20, [False] * 20)
    report = drift_report(base, same, permutations=100, seed=1)
    assert {"drift", "p_value", "statistic", "method", "n_baseline", "n_current", "signals"} <= set(report)
    assert set(report["signals"]) == set(SIGNALS)
    assert report["drift"] is False and report["flagged"] == []
    assert report["signals"]["feedback_rate"]["skipped"] == "baseline: a query file holds no feedback"
    json.dumps(report, allow_nan=False)  # strict JSON: no NaN or infinity anywhere

    # Only the abstain rate moves: 12 of 20 abstain. Holm flags it, and only it.
    moved = _window("c.jsonl", _gaussian(rng, 20), ["ko"] * 20, [True] * 12 + [False] * 8)
    report = drift_report(base, moved, permutations=100, seed=1)
    assert report["drift"] is True
    assert "abstain_rate" in report["flagged"] and "embedding" not in report["flagged"]
    signal = report["signals"]["abstain_rate"]
    assert signal["p_adjusted"] >= signal["p_value"]
    assert signal["drift"] is (signal["p_adjusted"] <= report["alpha"])


def test_drift_report_rejects_tiny_windows_and_bad_settings() -> None:
    rng = np.random.default_rng(6)
    base = _window("a.jsonl", _gaussian(rng, 10), ["ko"] * 10, [False] * 10)
    tiny = _window("one.jsonl", _gaussian(rng, 1), ["ko"], [False])
    with pytest.raises(LlmpilotError, match=r"current window \(one.jsonl\) has 1 question"):
        drift_report(base, tiny)
    with pytest.raises(LlmpilotError, match="--method must be one of mmd, classifier"):
        drift_report(base, base, method="ks")
    with pytest.raises(LlmpilotError, match="alpha must be between 0 and 1"):
        drift_report(base, base, alpha=0.0)
