"""Logistic regression by Newton's method, numpy only: the one fit behind the calibrated answer
confidence (llmpilot.calibration), the cache's pair verifier (llmpilot.cache.pairmodel) and the
guardrails' injection scorer (benchmarks/guardrails.py --train). Small, dense problems (tens to a
few hundred features): Newton converges in a handful of exact steps, deterministically."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
    return out


def balanced_weights(labels: Sequence[object] | np.ndarray) -> np.ndarray:
    """Per-sample weights giving every label value the same total weight (n / (groups * count))."""
    values = np.asarray(labels)
    names, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    weights: np.ndarray = (len(values) / (len(names) * counts))[inverse].astype(np.float64)
    return weights


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    steps: int = 100,
    sample_weight: np.ndarray | None = None,
    tol: float = 1e-10,
) -> tuple[np.ndarray, float]:
    """L2-regularised (the intercept is not penalised: the penalty only keeps small separable sets
    finite) logistic regression; returns (weights, intercept)."""
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, float(l2))
    penalty[-1] = 0.0
    for _ in range(steps):
        p = sigmoid(design @ beta)
        grad = design.T @ (sw * (p - y)) + penalty * beta
        hess = (design * (sw * p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < tol:
            break
    return beta[:-1].copy(), float(beta[-1])
