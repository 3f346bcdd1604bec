"""The HELM-style holistic table from bench JSON written by hand."""

from __future__ import annotations

from typing import Any

import pytest

from llmpilot.errors import LlmpilotError
from llmpilot.models.holistic import holistic_rows, mean_win_rates, win_rates


def entry(
    acc: float, norm: float, seconds: float, ece: float | None, robust: dict[str, float]
) -> dict[str, Any]:
    return {
        "accuracy": acc,
        "accuracy_norm": norm,
        "ci": [acc - 0.05, acc + 0.05],
        "ci_norm": [norm - 0.04, norm + 0.04],
        "n": 100,
        "seconds": seconds,
        "tokens_per_s": 1000.0 / seconds,
        "peak_rss_bytes": 400_000_000,
        "model_bytes": 98_000_000,
        "calibration_ece": ece,
        "robustness": {k: {"accuracy": v, "accuracy_norm": v + 0.01, "n": 100} for k, v in robust.items()},
    }


MMLU = {
    "benchmark": "mmlu-en",
    "format": "letters",
    "n": 100,
    "models": {
        "small": entry(0.30, 0.28, 10.0, 0.10, {"typos": 0.25, "spacing": 0.28}),
        "big": entry(0.50, 0.45, 40.0, 0.05, {"typos": 0.40, "spacing": 0.48}),
        "mid": entry(0.30, 0.29, 20.0, 0.20, {}),
    },
}
KO = {
    "benchmark": "kobest-hellaswag-ko",
    "format": "continuation",
    "n": 100,
    "models": {
        "small": entry(0.40, 0.45, 8.0, 0.02, {"jamo": 0.41}),
        "big": entry(0.42, 0.44, 30.0, 0.03, {"jamo": 0.30}),
    },
}


def test_rows_take_the_formats_headline_accuracy_and_derive_robustness_and_efficiency() -> None:
    rows = {(r.scenario, r.model): r for r in holistic_rows([MMLU, KO])}
    assert len(rows) == 5
    big = rows["mmlu-en", "big"]
    assert (big.metric, big.accuracy, big.ci_low, big.ci_high) == ("accuracy", 0.50, 0.45, 0.55)
    assert big.robust_worst == 0.40 and big.robust_mean == pytest.approx(0.44)
    assert big.robust_drop == pytest.approx(0.10)
    assert big.seconds_per_item == pytest.approx(0.4) and big.tokens_per_s == 25.0
    assert (big.ece, big.peak_rss_bytes, big.model_bytes) == (0.05, 400_000_000, 98_000_000)
    ko = rows["kobest-hellaswag-ko", "small"]
    # continuation: length-normalised accuracy, on the clean and the perturbed items
    assert (ko.metric, ko.accuracy, ko.ci_low) == ("accuracy_norm", 0.45, pytest.approx(0.41))
    assert ko.robustness == {"jamo": pytest.approx(0.42)}
    mid = rows["mmlu-en", "mid"]
    assert mid.robust_worst is None and mid.robust_drop is None
    assert mid.as_dict()["robust_worst"] is None


def test_win_rate_counts_ties_half_and_needs_two_models() -> None:
    assert win_rates({"a": 1.0, "b": 0.5, "c": 0.5}, True) == {"a": 1.0, "b": 0.25, "c": 0.25}
    assert win_rates({"a": 1.0, "b": 0.5}, False) == {"a": 0.0, "b": 1.0}
    assert win_rates({"a": 1.0}, True) == {}


def test_mean_win_rate_averages_over_scenarios_per_column() -> None:
    rates = mean_win_rates(holistic_rows([MMLU, KO]))
    # accuracy: mmlu big 1.0 (beats both), small 0.25 (ties mid), mid 0.25; ko small 1.0 (0.45 > 0.44)
    assert rates["big"]["accuracy"] == pytest.approx((1.0 + 0.0) / 2)
    assert rates["small"]["accuracy"] == pytest.approx((0.25 + 1.0) / 2)
    assert rates["mid"]["accuracy"] == pytest.approx(0.25)
    # calibration: lower ECE wins; efficiency: fewer seconds per item wins
    assert rates["big"]["calibration"] == pytest.approx((1.0 + 0.0) / 2)
    assert rates["small"]["efficiency"] == 1.0 and rates["big"]["efficiency"] == 0.0
    assert rates["mid"]["efficiency"] == 0.5
    # robustness: mid has no perturbed runs, so only small and big compete in mmlu
    assert rates["mid"]["robustness"] is None
    assert rates["big"]["robustness"] == pytest.approx((1.0 + 0.0) / 2)


def test_missing_or_bad_fields_are_errors_naming_the_benchmark_model_and_field() -> None:
    broken = {"benchmark": "mmlu-en", "format": "letters", "models": {"small": {"n": 10}}}
    with pytest.raises(LlmpilotError, match=r"mmlu-en: models\.small\.accuracy: missing"):
        holistic_rows([broken])
    nan = {"benchmark": "x", "models": {"m": {"accuracy": float("nan"), "n": 3}}}
    with pytest.raises(LlmpilotError, match=r"x: models\.m\.accuracy: nan is not a finite number"):
        holistic_rows([nan])
    with pytest.raises(LlmpilotError, match="benchmark: missing"):
        holistic_rows([{"models": {}}])
    with pytest.raises(LlmpilotError, match=r"mmlu-en: models: missing"):
        holistic_rows([{"benchmark": "mmlu-en"}])
