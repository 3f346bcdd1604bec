"""Calibrated confidence: the fitting and measuring code, and the shipped model against its evidence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from llmpilot.calibration import (
    CONFIDENT_ABOVE,
    FEATURES,
    SHIPPED,
    Calibration,
    answer_features,
    cross_validated,
    expected_calibration_error,
    fit_logistic,
)
from llmpilot.types import Answer, Citation

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "answers.json"


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident() -> None:
    confidence = [0.25] * 4 + [0.75] * 4
    labels = [True, False, False, False, True, True, True, False]
    error, bins = expected_calibration_error(confidence, labels)
    assert error == pytest.approx(0.0)
    assert [(b["n"], b["accuracy"]) for b in bins] == [(4, 0.25), (4, 0.75)]
    overconfident, _ = expected_calibration_error([0.95] * 10, [True] * 5 + [False] * 5)
    assert overconfident == pytest.approx(0.45)
    assert expected_calibration_error([1.0], [True])[1][0]["high"] == 1.0  # 1.0 lands in the last bin


def test_fit_logistic_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4000, 2))
    true = np.array([-2.0, 3.0, 1.5])
    p = 1 / (1 + np.exp(-(true[0] + x @ true[1:])))
    y = (rng.uniform(size=4000) < p).astype(float)
    w = fit_logistic(x, y, l2=0.0)
    assert w == pytest.approx(true, abs=0.35)


def test_cross_validation_scores_every_answer_with_a_model_that_never_saw_its_question() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(60, 1))
    y = (x[:, 0] > 0.5).astype(float)
    groups = [f"q{i // 3}" for i in range(60)]  # three answers per question
    oof = cross_validated(x, y, groups)
    assert oof.shape == (60,) and ((oof > 0) & (oof < 1)).all()
    assert np.corrcoef(oof, x[:, 0])[0, 1] > 0.9  # still ranks by the signal


def answer(**kw: object) -> Answer:
    cite = Citation(n=1, doc_id="d", chunk_id="c", title="t", snippet="s", score=1.0, start=0, end=1)
    base = Answer(
        question="q", lang="en", text="t", citations=[cite], sources=[cite], confidence=0.9,
        abstained=False, reason="", followups=[], generated=True,
        signals={"retrieval": 0.9, "support": 1.0, "figures": 1.0},
    )  # fmt: skip
    return base.__class__(**{**base.__dict__, **kw})


def test_answer_features_read_the_policy_signals_and_flags() -> None:
    got = answer_features(answer(fallback="extractive", retried=True, citations=[]))
    assert got == {
        "retrieval": 0.9,
        "support": 1.0,
        "figures": 1.0,
        "coverage": 1.0,
        "cited": 0.0,
        "quoted": 1.0,
        "retried": 1.0,
    }
    assert tuple(got) == FEATURES


def test_the_shipped_model_is_the_one_the_benchmark_fitted() -> None:
    published = json.loads(RESULTS.read_text(encoding="utf-8"))["calibration"]
    assert published["features"] == list(FEATURES)
    assert SHIPPED.intercept == pytest.approx(published["intercept"], abs=1e-3)
    assert dict(SHIPPED.weights) == pytest.approx(published["weights"], abs=1e-3)
    assert published["ece_cross_validated"] <= 0.10  # the target, measured out of fold
    assert published_threshold() == CONFIDENT_ABOVE


def published_threshold() -> float:
    return float(json.loads(RESULTS.read_text(encoding="utf-8"))["confident_threshold"])


def test_the_chat_labels_confidence_high_from_the_published_threshold() -> None:
    chat = Path(__file__).resolve().parents[2] / "src" / "llmpilot" / "serving" / "ui" / "static" / "chat.js"
    match = re.search(r"const CONF_HIGH = ([0-9.]+);", chat.read_text(encoding="utf-8"))
    assert match and float(match.group(1)) == CONFIDENT_ABOVE


def test_the_shipped_model_trusts_answers_that_cover_the_question_and_needed_no_retry() -> None:
    covering = SHIPPED.probability(answer_features(answer()))
    beside_the_point = SHIPPED.probability(
        answer_features(answer(signals={"retrieval": 0.9, "support": 1.0, "figures": 1.0, "coverage": 0.2}))
    )
    assert covering > beside_the_point
    assert SHIPPED.probability(answer_features(answer(retried=True))) < covering
    assert Calibration(0.0).probability({}) == 0.5
