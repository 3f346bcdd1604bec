"""A learned pair verifier: the probability that a cached question asks what the asked one asks.

The rule verifier (verify.py) rejects a candidate on any one difference, and its look-alike rule
("the same key words but for a one- or two-word swap") cannot tell a synonym swap from an antonym
swap, so it refuses many real paraphrases. Here every rule's verdict becomes a feature next to
graded similarities (cosine, content/key/character overlap, length ratio, the size of the key-word
edit), and a logistic regression weighs them. It is trained by `benchmarks/cache_pair_model.py` on
the fit parts of the cache data only: positives = paraphrase pairs, negatives = look-alike pairs plus
hard negatives mined from the fit pairs (each paraphrase against its nearest cached questions that
are not its origin: exactly the wrong hits a cache makes).

Scoring is numpy arithmetic on about twenty numbers per candidate (no scikit-learn, no second
encoder at serve time); the weights ship as `data/pair-model.json`.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot.cache.verify import (
    RELATION_WORDS,
    QuestionFeatures,
    _missing,
    _number_reasons,
    _particle_reasons,
    _substitution,
    content_overlap,
    key_diff,
    number_conflict,
)
from llmpilot.errors import LlmpilotError
from llmpilot.logistic import balanced_weights, sigmoid
from llmpilot.logistic import fit_logistic as fit_weights

#: The weights shipped with llmpilot (trained by benchmarks/cache_pair_model.py).
DEFAULT_MODEL = Path(__file__).parent / "data" / "pair-model.json"

#: Feature names, in the order of `pair_features`' vector.
FEATURES = (
    "cosine",
    "cosine_ko",
    "is_ko",
    "content_jaccard",
    "key_jaccard",
    "char3_jaccard",
    "length_ratio",
    "number_conflict",
    "number_one_sided",
    "entity_swap",
    "entity_one_sided",
    "negation_presence_differs",
    "negation_count_differs",
    "particle_mismatch",
    "lookalike_swap",
    "word_order_differs",
    "relation_word_swap",
    "same_words_reordered",
    "key_bigram_jaccard",
    "changed_share",
    "same_share",
    "key_edit_ops",
)


#: The sign each weight may take: +1 a similarity (more of it never lowers the probability), -1 a
#: difference (a rule firing never raises it), 0 free (the language terms, the edit count). Without
#: the constraint the fit learns "near-identical wording = look-alike" (look-alikes share more
#: characters than paraphrases do) and refuses the plainest paraphrase, a phrase moved.
SIGNS = dict(
    cosine=1, cosine_ko=0, is_ko=0, content_jaccard=1, key_jaccard=1, char3_jaccard=1, length_ratio=1,
    number_conflict=-1, number_one_sided=-1, entity_swap=-1, entity_one_sided=-1,
    negation_presence_differs=-1, negation_count_differs=-1, particle_mismatch=-1, lookalike_swap=-1,
    word_order_differs=-1, relation_word_swap=-1, same_words_reordered=-1, key_bigram_jaccard=1,
    changed_share=-1, same_share=1, key_edit_ops=0,
)  # fmt: skip


def _bigrams(keys: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(keys))


def _jaccard(a: set[str], b: set[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def _trigrams(text: str) -> set[str]:
    padded = f"^{text}$"
    return {padded[i : i + 3] for i in range(max(1, len(padded) - 2))}


@dataclass(frozen=True)
class PairFeatures:
    """The model's input for one (asked, cached) pair and the rule reasons behind the flags."""

    values: np.ndarray
    #: Rule verdicts that fired ("number 3 != 5", "particle 에서 != 로", ...), for the reason a user reads.
    reasons: list[str]


def pair_features(asked: QuestionFeatures, cached: QuestionFeatures, cosine: float) -> PairFeatures:
    """`FEATURES` for one pair; `cosine` is the two questions' query-embedding cosine."""
    reasons: list[str] = []
    numbers = _number_reasons(asked.numbers, cached.numbers)
    conflict = bool(number_conflict(asked.numbers, cached.numbers))
    reasons += numbers
    gone, new = _missing(cached.entities, asked), _missing(asked.entities, cached)
    entity_swap = bool(gone and new)
    if entity_swap:
        reasons.append(f"entity {new[0]} != {gone[0]}")
    negation = asked.negations != cached.negations
    negation_presence = (asked.negations > 0) != (cached.negations > 0)
    if negation:
        reasons.append("negation differs")
    particles = _particle_reasons(asked.particles, cached.particles)
    reasons += particles
    diff = key_diff(asked, cached)
    swap = _substitution(asked, cached, 2, diff)
    if swap is not None:
        reasons.append(swap)
    longest = max(len(diff.asked_forms), len(diff.cached_forms), 1)
    swapped = {
        w for _, i1, i2, j1, j2 in diff.ops for w in (*diff.asked_forms[i1:i2], *diff.cached_forms[j1:j2])
    }
    # Only inside a small swap (the look-alike rule's): a rewrite changes prepositions freely.
    relation_swap = swap is not None and bool(swapped & RELATION_WORDS)
    reordered = sorted(asked.keys) == sorted(cached.keys) and asked.keys != cached.keys
    is_ko = float(asked.lang == "ko")
    a_len, c_len = len(asked.compact), len(cached.compact)
    values = np.array(
        [
            cosine,
            cosine * is_ko,
            is_ko,
            content_overlap(asked, cached),
            _jaccard(set(asked.keys), set(cached.keys)),
            _jaccard(_trigrams(asked.compact), _trigrams(cached.compact)),
            min(a_len, c_len) / max(a_len, c_len, 1),
            float(conflict),
            float(bool(numbers) and not conflict),
            float(entity_swap),
            float(bool(gone or new) and not entity_swap),
            float(negation_presence),
            float(negation),
            float(bool(particles)),
            float(swap is not None and not swap.startswith("word order")),
            float(swap is not None and swap.startswith("word order")),
            float(relation_swap),
            float(reordered),
            _jaccard(_bigrams(asked.keys), _bigrams(cached.keys)),  # type: ignore[arg-type]
            max(diff.changed_asked, diff.changed_cached) / longest,
            diff.same / longest,
            float(len(diff.ops)),
        ],
        dtype=np.float64,
    )
    return PairFeatures(values, reasons)


@dataclass(frozen=True)
class PairModel:
    """Logistic regression over standardised `FEATURES`: p = sigmoid(w · (x - mean) / scale + bias)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    #: Provenance and the training script's figures (stored with the weights).
    meta: dict[str, Any]

    def probability(self, asked: QuestionFeatures, cached: QuestionFeatures, cosine: float | None) -> float:
        """P(same question); without a cosine, the training mean stands in for it."""
        cos = float(self.mean[0]) if cosine is None else cosine
        return float(self.probabilities(pair_features(asked, cached, cos).values[None, :])[0])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(same question) per row of a (n, len(FEATURES)) matrix."""
        return sigmoid(((x - self.mean) / self.scale) @ self.weights + self.bias)

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": [round(float(v), 10) for v in self.mean],
            "scale": [round(float(v), 10) for v in self.scale],
            "weights": [round(float(v), 10) for v in self.weights],
            "bias": round(self.bias, 10),
            **self.meta,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any], source: str = "pair model") -> PairModel:
        try:
            names = tuple(str(f) for f in raw["features"])
            arrays = [np.asarray(raw[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
            bias = float(raw["bias"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LlmpilotError(
                f"{source}: not a pair model ({exc!r}); retrain it with benchmarks/cache_pair_model.py"
            ) from None
        if names != FEATURES or any(a.shape != (len(FEATURES),) for a in arrays):
            raise LlmpilotError(
                f"{source}: field 'features' does not match this llmpilot's pair features "
                f"({', '.join(FEATURES)}); retrain it with benchmarks/cache_pair_model.py"
            )
        meta = {k: v for k, v in raw.items() if k not in ("features", "mean", "scale", "weights", "bias")}
        return cls(names, arrays[0], arrays[1], arrays[2], bias, meta)


@cache
def load_model(path: str | None = None) -> PairModel:
    """The pair model at `path` (default: the one shipped with llmpilot), read once per process."""
    file = Path(path) if path else DEFAULT_MODEL
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LlmpilotError(
            f"{file}: cannot read the cache pair model ({exc}); reinstall llmpilot or set "
            "cache.verify.mode to 'rules'"
        ) from None
    return PairModel.from_json(raw, str(file))


# ---- training (numpy only; used by benchmarks/cache_pair_model.py and the tests) ----------------


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 1.0,
    iterations: int = 50,
    meta: dict[str, Any] | None = None,
    groups: Sequence[str] | None = None,
) -> PairModel:
    """Balanced L2 logistic regression by Newton's method on standardised features, each weight
    with the sign `SIGNS` allows.

    Balanced: each `groups` value (default: the two classes) carries the same total weight. The
    mined hard negatives outnumber the look-alikes twenty to one, and the prior of the training
    mix says nothing about a user's traffic; the operating point is `min_probability`, fitted by
    calibration. Deterministic (no random start)."""
    # Sign constraints by active set: a weight that fits with the wrong sign is held at zero and
    # the rest refitted, until every weight has its allowed sign.
    signs = np.array([SIGNS[f] for f in FEATURES])
    active = np.ones(x.shape[1], dtype=bool)
    while True:
        model = _fit(x, y, l2, iterations, meta, groups, active)
        wrong = active & (np.sign(model.weights) * signs < 0)
        if not wrong.any():
            return model
        active &= ~wrong


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    l2: float,
    iterations: int,
    meta: dict[str, Any] | None,
    groups: Sequence[str] | None,
    active: np.ndarray,
) -> PairModel:
    """One Newton fit over the `active` features (the others get weight 0)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale < 1e-9, 1.0, scale)
    z = ((x - mean) / scale) * active
    labels = np.asarray(groups) if groups is not None else np.where(y > 0.5, "positive", "negative")
    weights, bias = fit_weights(z, y, l2=l2, steps=iterations, sample_weight=balanced_weights(labels))
    return PairModel(FEATURES, mean, scale, weights, bias, dict(meta or {}))


def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve (ties count half): P(a positive scores above a negative)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return math.nan
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([pos, neg])[order]
    # Average ranks over ties.
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))
