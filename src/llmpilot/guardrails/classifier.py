"""The optional `nanoguard` classifier (metatronnanoguard on PyPI, MIT, English-trained, torch).

Imported lazily: the core install has no torch. Measured on the test split of
benchmarks/data/guardrails (benchmarks/results/guardrails.json, "nanoguard"): on Korean it flags
every benign question (false-positive rate 1.0), so the policy never asks it about Korean; on
English it found 0.66 of the attacks at 5.6% false positives and ~100 ms a question on 2 cores,
below the shipped rules + embedding scorers (0.97 at 1.9%). It stays an opt-in.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from llmpilot.extras import requires_extra

_lock = threading.Lock()
_model: Any = None


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            with requires_extra("guard", "guardrails.input.classifier: nanoguard"):
                from nanoguard import NanoGuard
            _model = NanoGuard(device="cpu")
        return _model


def nanoguard_scores(texts: Sequence[str]) -> list[float]:
    """Injection probability per text."""
    if not texts:
        return []
    return [float(r.injection_score) for r in _load().scan_batch(list(texts))]


def warm() -> None:
    _load()
