"""Confidence that tracks correctness: a logistic model over the answer policy's signals.

The raw signals (retrieval strength, sentence support, figure support) multiply into a score that
ranks answers but is not a probability. `benchmarks/answers.py score` labels the answers of every
answerer on the demo questions and autorag-ko (Korean and English) as correct or not, fits this
model with cross-validation and prints the coefficients below; the reliability diagram and the
expected calibration error are in benchmarks/results/answers.html. An answer's `confidence` is the
model's probability that it is correct.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmpilot import logistic
from llmpilot.types import Answer

#: The signals, each 0-1: retrieval's confidence, the share of supported sentences, the share of
#: supported figures, the share of the question's content tokens the answer contains, whether a
#: supported citation is shown, whether the text quotes the sources (the extractive fallback), and
#: whether the model needed the strict retry.
FEATURES = ("retrieval", "support", "figures", "coverage", "cited", "quoted", "retried")


def answer_features(answer: Answer) -> dict[str, float]:
    """The calibration model's inputs, from an answer the policy has judged."""
    signals = answer.signals
    return {
        "retrieval": signals.get("retrieval", answer.confidence),
        "support": signals.get("support", answer.support),
        "figures": signals.get("figures", 1.0),
        "coverage": signals.get("coverage", 1.0),
        "cited": 1.0 if answer.citations else 0.0,
        "quoted": 1.0 if answer.fallback else 0.0,
        "retried": 1.0 if answer.retried else 0.0,
    }


@dataclass(frozen=True)
class Calibration:
    intercept: float
    weights: Mapping[str, float] = field(default_factory=dict)

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.intercept + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-z))


#: Fitted by `benchmarks/answers.py score` (benchmarks/results/answers.json, "calibration"): 214
#: labelled answers of 4 answerers; cross-validated ECE 0.035 (0.227 for the raw score). Coverage
#: of the question carries most of it; support and figures barely vary among the answers the policy
#: lets through (it falls back or abstains on the rest), so they get ~0 weight here.
SHIPPED = Calibration(
    intercept=-0.052,
    weights={
        "retrieval": 0.1575,
        "support": -0.1549,
        "figures": 0.0,
        "coverage": 2.0093,
        "cited": 0.0,
        "quoted": 0.9125,
        "retried": -1.233,
    },
)
#: Calibrated confidence from which an answer is shown as confident (the chat's "high"): the lowest
#: threshold where wrong answers shown as confident were <= 5% of all answers in the benchmark.
CONFIDENT_ABOVE = 0.75


def calibrated(answer: Answer, calibration: Calibration = SHIPPED) -> float:
    return calibration.probability(answer_features(answer))


# --- fitting and measuring (benchmarks/answers.py; reusable for a project's own labelled answers) ---


def expected_calibration_error(
    confidence: Sequence[float], labels: Sequence[bool], bins: int = 10
) -> tuple[float, list[dict[str, Any]]]:
    """ECE over equal-width confidence bins (the share-weighted gap between mean confidence and
    accuracy), and the non-empty bins for a reliability diagram."""
    total = len(confidence)
    if total == 0:
        return 0.0, []
    table: list[dict[str, Any]] = []
    error = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidence) if low <= c < high or (b == bins - 1 and c >= 1.0)]
        if not idx:
            continue
        mean_confidence = sum(confidence[i] for i in idx) / len(idx)
        accuracy = sum(1.0 for i in idx if labels[i]) / len(idx)
        error += len(idx) / total * abs(mean_confidence - accuracy)
        table.append(
            {
                "low": low,
                "high": high,
                "n": len(idx),
                "confidence": round(mean_confidence, 4),
                "accuracy": round(accuracy, 4),
            }
        )
    return error, table


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 100) -> np.ndarray:
    """L2-regularized logistic regression (llmpilot.logistic): [intercept, *weights] (the
    intercept is not penalized; the penalty keeps separable small sets finite)."""
    weights, intercept = logistic.fit_logistic(x, y, l2=l2, steps=steps)
    return np.concatenate([[intercept], weights])


def cross_validated(x: np.ndarray, y: np.ndarray, groups: Sequence[str], folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities: each answer scored by a model fitted without its question (all
    answers to one question share a fold), so the ECE reported is not measured on training data."""
    keys = sorted(set(groups))
    random.Random(0).shuffle(keys)
    fold_of = {k: i % folds for i, k in enumerate(keys)}
    out = np.zeros(len(y))
    for f in range(folds):
        test = np.array([fold_of[g] == f for g in groups])
        if not test.any():
            continue
        w = fit_logistic(x[~test], y[~test])
        xb = np.hstack([np.ones((int(test.sum()), 1)), x[test]])
        out[test] = 1.0 / (1.0 + np.exp(-xb @ w))
    return out
