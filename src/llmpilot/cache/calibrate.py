"""Measure and fit the cache on labelled data: paraphrase pairs (a hit is correct when it serves
the pair's own origin) and look-alike negatives (any hit is false).

`evaluate` runs the real `SemanticCache` lookups (what `llmpilot cache eval` reports). `calibrate`
fits the threshold (optionally one per language), the candidates per lookup and the verifier's
knobs (rules: content overlap, look-alike reach; model: min_probability, the negation veto) on a
seeded split: it embeds and analyses every distinct text once, takes each query's nearest cached
questions once, and then replays the lookup rule for every setting on arrays (`Sweep`), so a
sweep over hundreds of settings takes seconds. The replay is the lookup rule itself (exact, then
the nearest `candidates` at or above the threshold, best first, first verified is served); a test
holds it equal to `evaluate`.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmpilot.cache.normalize import normalize_question
from llmpilot.cache.pairs import Negative, Pair
from llmpilot.cache.semantic import SemanticCache
from llmpilot.cache.table import top_k, unit
from llmpilot.cache.verify import QuestionFeatures, Verifier, content_overlap
from llmpilot.config import CacheConfig, CacheVerifyConfig

#: texts -> L2-normalised query embeddings, one row per text (the project's embedder, kind "query").
Embed = Callable[[Sequence[str]], np.ndarray]

THRESHOLDS = tuple(round(0.70 + 0.005 * i, 3) for i in range(61))  # 0.700 ... 1.000
OVERLAPS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
#: Candidates verified per lookup: 1 serves the nearest or nothing; more lets a verified runner-up
#: answer when the nearest is a look-alike (and risks serving a question further away).
CANDIDATES = (1, 2, 5)
#: `verify.max_substitution` values tried (the look-alike rule's reach, in words per side).
SUBSTITUTIONS = (1, 2, 3)
#: `verify.min_probability` values tried in mode "model" (the pair model's operating point).
PROBABILITIES = tuple(round(0.05 * i, 2) for i in range(2, 20))  # 0.10 ... 0.95


def _rate(n: int, d: int) -> float:
    return n / d if d else 0.0


def _entries(pairs: Sequence[Pair], negatives: Sequence[Negative]) -> list[tuple[str, str]]:
    """(entry id, question) inserted into the cache: every origin and every negative's `a`."""
    return [(f"pair:{p.id}", p.origin) for p in pairs] + [(f"neg:{n.id}", n.a) for n in negatives]


def embed_distinct(texts: Sequence[str], embed: Embed) -> dict[str, np.ndarray]:
    """Each distinct text embedded once, in one batched call."""
    distinct = list(dict.fromkeys(texts))
    vectors = np.asarray(embed(distinct), dtype=np.float32) if distinct else np.zeros((0, 0), np.float32)
    return dict(zip(distinct, vectors, strict=True))


def evaluate(
    pairs: Sequence[Pair],
    negatives: Sequence[Negative],
    embed: Embed,
    cfg: CacheConfig,
    vectors: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Insert every origin and every `a` into one SemanticCache, query every `similar` and `b`.

    paraphrase hit: served an entry whose question is the pair's origin text (duplicated origins
    count); wrong hit: a `similar` served anything else; negative hit: a `b` served anything."""
    texts = (
        [p.origin for p in pairs]
        + [p.similar for p in pairs]
        + [n.a for n in negatives]
        + [n.b for n in negatives]
    )
    vecs = vectors if vectors is not None else embed_distinct(texts, embed)
    cache = SemanticCache(cfg, Verifier(cfg.verify))
    features: dict[str, QuestionFeatures] = {}
    for entry_id, question in _entries(pairs, negatives):
        if question not in features:
            features[question] = cache.verifier.features(question)
        cache.add(entry_id, question, vecs[question], features[question])
    question_of = dict(_entries(pairs, negatives))
    latencies: list[float] = []
    correct = wrong = neg_hits = 0
    by_kind: dict[str, list[int]] = {}
    for p in pairs:
        lk = cache.lookup(p.similar, vecs[p.similar])
        latencies.append(lk.latency_ms)
        if lk.entry_id is not None:
            if question_of[lk.entry_id] == p.origin:
                correct += 1
            else:
                wrong += 1
    for n in negatives:
        lk = cache.lookup(n.b, vecs[n.b])
        latencies.append(lk.latency_ms)
        hit = int(lk.entry_id is not None)
        neg_hits += hit
        counts = by_kind.setdefault(n.kind or "unlabelled", [0, 0])
        counts[0] += hit
        counts[1] += 1
    n_p, n_n = len(pairs), len(negatives)
    return {
        "paraphrase_hit_rate": _rate(correct, n_p),
        "negative_hit_rate": _rate(neg_hits, n_n),
        "wrong_hit_rate": _rate(wrong, n_p),
        "false_hit_rate": _rate(wrong + neg_hits, n_p + n_n),
        "miss_rate": _rate(n_p - correct - wrong, n_p),
        "threshold": cfg.threshold,
        "lookup_ms_p50": statistics.median(latencies) if latencies else 0.0,
        "n_pairs": n_p,
        "n_negatives": n_n,
        "negative_hit_rate_by_kind": {k: _rate(h, t) for k, (h, t) in sorted(by_kind.items())},
    }


# ---- the sweep ----------------------------------------------------------------------------------


class Sweep:
    """Every query's nearest cached questions (cosine, content overlap, hard-check verdicts),
    computed once; `served()` replays the lookup rule for any threshold and overlap."""

    def __init__(
        self,
        pairs: Sequence[Pair],
        negatives: Sequence[Negative],
        embed: Embed,
        cfg: CacheConfig,
        vectors: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.pairs, self.negatives, self.cfg = list(pairs), list(negatives), cfg
        entries = _entries(pairs, negatives)
        self.entry_ids = [e for e, _ in entries]
        self.entry_texts = [q for _, q in entries]
        queries = [p.similar for p in pairs] + [n.b for n in negatives]
        self.n_pairs = len(self.pairs)
        vecs = vectors if vectors is not None else embed_distinct(self.entry_texts + queries, embed)
        self.vectors = vecs
        analyser = Verifier(cfg.verify)
        self.features = {t: analyser.features(t) for t in dict.fromkeys(self.entry_texts + queries)}
        self.queries = queries
        k = min(max(cfg.candidates, *CANDIDATES), len(entries))
        # The same arithmetic as VectorTable.search (unit vectors, one matrix-vector product per
        # query, the same top-k), so the replay agrees with real lookups to the last bit.
        entry_matrix = np.ascontiguousarray(np.stack([unit(vecs[t]) for t in self.entry_texts]))
        sims = [entry_matrix @ unit(vecs[q]) for q in queries]
        self.top = np.stack([top_k(s, k) for s in sims]) if queries else np.zeros((0, k), int)
        self.cos = (
            np.stack([s[t] for s, t in zip(sims, self.top, strict=True)]) if queries else np.zeros((0, k))
        )
        self.overlap = np.array(
            [[content_overlap(self.features[q], self.features[self.entry_texts[e]]) for e in row]
             for q, row in zip(queries, self.top, strict=True)]
        ).reshape(self.top.shape)  # fmt: skip
        # Exact stage: the newest entry with the same normalised text.
        newest: dict[str, int] = {}
        for i, text in enumerate(self.entry_texts):
            newest[normalize_question(text)] = i
        self.exact = np.array([newest.get(normalize_question(q), -1) for q in queries])
        # A pair query is served correctly by any entry holding its origin text.
        origin_of = {t: i for i, t in enumerate(dict.fromkeys(self.entry_texts))}
        self.entry_text_id = np.array([origin_of[t] for t in self.entry_texts])
        self.expected = np.array([origin_of[p.origin] for p in self.pairs] + [-2] * len(self.negatives))
        self._hard: dict[str, np.ndarray] = {}
        self._probability: np.ndarray | None = None
        #: Korean queries (question_language), for per-language thresholds.
        self.is_ko = np.array([self.features[q].lang == "ko" for q in queries], dtype=bool)

    def counts(self, served: np.ndarray, pair_mask: np.ndarray, neg_mask: np.ndarray) -> tuple[int, int, int]:
        """(correct, wrong, negative) hits over the selected queries: `rates` without the division."""
        p_served = served[: self.n_pairs][pair_mask]
        hit = p_served >= 0
        expected = self.expected[: self.n_pairs][pair_mask]
        correct = hit & (self.entry_text_id[np.maximum(p_served, 0)] == expected)
        neg = int((served[self.n_pairs :][neg_mask] >= 0).sum())
        return int(correct.sum()), int((hit & ~correct).sum()), neg

    def probability(self) -> np.ndarray:
        """[query, candidate] -> the pair model's probability (computed once, as a lookup does)."""
        if self._probability is None:
            from llmpilot.cache.pairmodel import load_model, pair_features

            model = load_model()
            feats, texts = self.features, self.entry_texts

            # One row at a time, as Verifier.check scores it, so the replay agrees with lookups.
            def p(q: str, e: int, c: float) -> float:
                x = pair_features(feats[q], feats[texts[e]], float(c)).values[None, :]
                return float(model.probabilities(x)[0])

            self._probability = np.array(
                [[p(q, e, c) for e, c in zip(row, cos_row, strict=True)]
                 for q, row, cos_row in zip(self.queries, self.top, self.cos, strict=True)],
                dtype=np.float64,
            ).reshape(self.top.shape)  # fmt: skip
        return self._probability

    def verified(self, verify: CacheVerifyConfig) -> np.ndarray:
        """[query, candidate] -> the verifier (any mode) would serve the candidate."""
        if verify.mode == "off":
            return np.ones(self.top.shape, dtype=bool)
        if verify.mode == "model":
            return self.hard_ok(verify) & (self.probability() >= verify.min_probability)
        return self.hard_ok(verify) & (self.overlap >= verify.min_content_overlap)

    def hard_ok(self, verify: CacheVerifyConfig) -> np.ndarray:
        """[query, candidate] -> the switched-on checks (content overlap aside) all pass; in mode
        "model", the vetoes pass."""
        key = verify.model_dump_json(exclude={"min_content_overlap", "min_probability"})
        if key not in self._hard:
            verifier = Verifier(verify)
            if verify.mode == "off":
                ok = np.ones(self.top.shape, dtype=bool)
            else:
                feats, texts = self.features, self.entry_texts
                # Mode "model": only the vetoes are hard; the model's probability is applied apart.
                hard = verifier.vetoes if verify.mode == "model" else verifier.hard_reasons
                ok = np.array(
                    [[not hard(feats[q], feats[texts[e]]) for e in row]
                     for q, row in zip(self.queries, self.top, strict=True)],
                    dtype=bool,
                ).reshape(self.top.shape)  # fmt: skip
            self._hard[key] = ok
        return self._hard[key]

    def served(
        self,
        threshold: float,
        verify: CacheVerifyConfig,
        candidates: int | None = None,
        exact: bool = True,
        threshold_ko: float | None = None,
    ) -> np.ndarray:
        """Entry index served per query (-1: miss); `candidates` defaults to the config's.
        `threshold_ko`: Korean queries' own threshold (`threshold` then serves the others)."""
        k = candidates or self.cfg.candidates
        if threshold_ko is None:
            allowed = self.cos >= threshold
        else:
            allowed = self.cos >= np.where(self.is_ko, threshold_ko, threshold)[:, None]
        allowed[:, k:] = False
        allowed &= self.verified(verify)
        has = allowed.any(axis=1)
        first = allowed.argmax(axis=1)
        out = np.where(has, self.top[np.arange(len(self.top)), first] if len(self.top) else -1, -1)
        if exact and self.cfg.exact:
            out = np.where(self.exact >= 0, self.exact, out)
        return out

    def rates(
        self, served: np.ndarray, pair_mask: np.ndarray | None = None, neg_mask: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Hit rates over the selected pair and negative queries."""
        pm = np.ones(self.n_pairs, bool) if pair_mask is None else pair_mask
        nm = np.ones(len(self.negatives), bool) if neg_mask is None else neg_mask
        p_served = served[: self.n_pairs][pm]
        n_served = served[self.n_pairs :][nm]
        hit = p_served >= 0
        correct = hit & (self.entry_text_id[np.maximum(p_served, 0)] == self.expected[: self.n_pairs][pm])
        n_p, n_n = int(pm.sum()), int(nm.sum())
        n_correct, n_wrong, n_neg = (
            int(correct.sum()),
            int((hit & ~correct).sum()),
            int((n_served >= 0).sum()),
        )
        by_kind: dict[str, list[int]] = {}
        for neg, s in zip((n for n, m in zip(self.negatives, nm, strict=True) if m), n_served, strict=True):
            counts = by_kind.setdefault(neg.kind or "unlabelled", [0, 0])
            counts[0] += int(s >= 0)
            counts[1] += 1
        return {
            "paraphrase_hit_rate": _rate(n_correct, n_p),
            "negative_hit_rate": _rate(n_neg, n_n),
            "wrong_hit_rate": _rate(n_wrong, n_p),
            "false_hit_rate": _rate(n_wrong + n_neg, n_p + n_n),
            "miss_rate": _rate(n_p - n_correct - n_wrong, n_p),
            "n_pairs": n_p,
            "n_negatives": n_n,
            "negative_hit_rate_by_kind": {k: _rate(h, t) for k, (h, t) in sorted(by_kind.items())},
        }


# ---- calibration --------------------------------------------------------------------------------


def split_ids(ids: Sequence[str], holdout: float, seed: int) -> set[str]:
    """The held-out ids of a seeded split (the same ids for the same input, any order)."""
    ordered = sorted(set(ids))
    random.Random(seed).shuffle(ordered)
    return set(ordered[: round(len(ordered) * holdout)])


@dataclass
class Calibration:
    """The fitted setting, its figures on the fit and held-out parts, and the curves."""

    threshold: float
    #: Per-language thresholds (calibrate(per_language=True)); None: `threshold` for every question.
    threshold_ko: float | None
    threshold_en: float | None
    verify: CacheVerifyConfig
    candidates: int
    target_false_hit: float
    #: Whether some setting met the target on the fit part (else: the setting with the fewest false hits).
    met_target: bool
    fit: dict[str, Any]
    holdout: dict[str, Any]
    #: threshold -> rates on both parts, at the fitted verifier setting and with verification off.
    curve: list[dict[str, float]] = field(default_factory=list)
    curve_threshold_only: list[dict[str, float]] = field(default_factory=list)
    #: The threshold-only rule fitted to the same target (what a threshold alone can do).
    threshold_only: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Everything `llmpilot cache calibrate --json` reports (a JSON-ready dict)."""
        return {
            "settings": self.settings(),
            "target_false_hit": self.target_false_hit,
            "met_target": self.met_target,
            "fit": self.fit,
            "holdout": self.holdout,
            "threshold_only": self.threshold_only,
            "curve": self.curve,
            "curve_threshold_only": self.curve_threshold_only,
        }

    def settings(self) -> dict[str, Any]:
        """The `cache:` keys to write into a pipeline config."""
        return {
            "threshold": self.threshold,
            # Always written: a calibration with one threshold clears per-language ones left by an older one.
            "threshold_ko": self.threshold_ko,
            "threshold_en": self.threshold_en,
            "candidates": self.candidates,
            "verify": self.verify.model_dump(mode="json"),
        }


def _choose(scored: list[tuple[float, float, float, float, Any]], target: float) -> tuple[Any, bool]:
    """(hit, false, neg, threshold, setting) rows -> the most hits with false and negative hit rates
    <= target (ties: fewer false hits, then the higher threshold); none feasible -> fewest false hits."""
    feasible = [r for r in scored if r[1] <= target and r[2] <= target]
    if feasible:
        return max(feasible, key=lambda r: (r[0], -r[1], r[3]))[4], True
    return min(scored, key=lambda r: (r[1], -r[0], -r[3]))[4], False


def calibrate(
    pairs: Sequence[Pair],
    negatives: Sequence[Negative],
    embed: Embed,
    cfg: CacheConfig,
    target_false_hit: float = 0.01,
    holdout: float = 0.3,
    seed: int = 0,
    holdout_ids: tuple[set[str], set[str]] | None = None,
    sweep: Sweep | None = None,
    fit_ids: tuple[set[str], set[str]] | None = None,
    per_language: bool = False,
) -> Calibration:
    """Fit `threshold`, `candidates` and the verifier knobs of `cfg.verify.mode` (rules:
    `min_content_overlap`, `max_substitution`; model: `min_probability`, the `negation` veto) on
    the fit part of a seeded split (pairs and negatives split by id; `holdout_ids` = (pair ids,
    negative ids) overrides it) and report both parts. `fit_ids` = (pair ids, negative ids) narrows
    the fit part to those (the rest of a shared cache still answers as distractors).

    `per_language`: fit a Korean and an English threshold (`threshold_ko`, `threshold_en`; the
    false-hit target holds over both together) instead of one.

    One cache holds every origin and every `a`; queries of the held-out part are never used to fit.
    The checks switched on in `cfg.verify` stay on (benchmarks/cache.py measures each one)."""
    sw = sweep or Sweep(pairs, negatives, embed, cfg)
    if holdout_ids is None:
        hold_p, hold_n = (
            split_ids([p.id for p in pairs], holdout, seed),
            split_ids([n.id for n in negatives], holdout, seed),
        )
    else:
        hold_p, hold_n = holdout_ids
    hp = np.array([p.id in hold_p for p in sw.pairs], dtype=bool)
    hn = np.array([n.id in hold_n for n in sw.negatives], dtype=bool)
    fp, fn = ~hp, ~hn
    if fit_ids is not None:
        fp &= np.array([p.id in fit_ids[0] for p in sw.pairs], dtype=bool)
        fn &= np.array([n.id in fit_ids[1] for n in sw.negatives], dtype=bool)

    def settings(overlaps: Sequence[float], mode: str) -> list[dict[str, Any]]:
        """The verifier knobs swept per mode (the checks switched off in cfg.verify stay off)."""
        if mode == "model":
            vetoes = (True, False) if cfg.verify.negation else (False,)
            return [
                {"mode": mode, "min_probability": p, "negation": n} for p in PROBABILITIES for n in vetoes
            ]
        subs = (
            SUBSTITUTIONS if mode != "off" and cfg.verify.max_substitution else (cfg.verify.max_substitution,)
        )
        return [
            {"min_content_overlap": m, "mode": mode, "max_substitution": sub}
            for m in overlaps
            for sub in subs
        ]

    n_p, n_n = int(fp.sum()), int(fn.sum())

    def by_language(verify: CacheVerifyConfig, c: int) -> tuple[float, float, float, float, float, float]:
        """The best (hit, false, neg, t_en, t_ko) over every pair of per-language thresholds: a
        query's outcome depends on its own language's threshold only, so the counts of the two
        languages add up (61 x 61 pairs from 2 x 61 replays). Ties: fewer false hits, then the
        higher thresholds; nothing feasible: the fewest false hits."""
        parts = {}
        for lang_ko in (True, False):
            pm, nm = fp & (sw.is_ko[: sw.n_pairs] == lang_ko), fn & (sw.is_ko[sw.n_pairs :] == lang_ko)
            parts[lang_ko] = np.array([sw.counts(sw.served(t, verify, c), pm, nm) for t in THRESHOLDS], float)
        ko, en = parts[True], parts[False]
        correct = ko[:, None, 0] + en[None, :, 0]
        wrong = ko[:, None, 1] + en[None, :, 1]
        neg = ko[:, None, 2] + en[None, :, 2]
        hit = correct / max(n_p, 1)
        false = (wrong + neg) / max(n_p + n_n, 1)
        negr = neg / max(n_n, 1)
        tsum = np.add.outer(np.array(THRESHOLDS), np.array(THRESHOLDS))
        feasible = (false <= target_false_hit) & (negr <= target_false_hit)
        # Lexicographic best: feasible by hits, else by fewest false hits; then the higher thresholds.
        key = (np.where(feasible, hit, -1.0), -false, tsum) if feasible.any() else (-false, hit, tsum)
        order = np.lexsort(tuple(k.ravel() for k in reversed(key)))
        i, j = np.unravel_index(order[-1], hit.shape)
        return hit[i, j], false[i, j], negr[i, j], THRESHOLDS[j], THRESHOLDS[i], tsum[i, j]

    def fitted(
        overlaps: Sequence[float], mode: str, per_lang: bool = False
    ) -> tuple[float, CacheVerifyConfig, int, bool, float | None]:
        scored: list[
            tuple[float, float, float, float, tuple[float, CacheVerifyConfig, int, float | None]]
        ] = []
        for update in settings(overlaps, mode):
            verify = cfg.verify.model_copy(update=update)
            for c in CANDIDATES if mode != "off" else (1,):
                if per_lang:
                    hit, false, neg, t_en, t_ko, tsum = by_language(verify, c)
                    scored.append((hit, false, neg, tsum, (t_en, verify, c, t_ko)))
                    continue
                for t in THRESHOLDS:
                    r = sw.rates(sw.served(t, verify, c), fp, fn)
                    hit, false, neg = r["paraphrase_hit_rate"], r["false_hit_rate"], r["negative_hit_rate"]
                    scored.append((hit, false, neg, t, (t, verify, c, None)))
        (t, verify, c, t_ko), met = _choose(scored, target_false_hit)
        return t, verify, c, met, t_ko

    def curve(verify: CacheVerifyConfig, c: int) -> list[dict[str, float]]:
        rows = []
        for t in THRESHOLDS:
            served = sw.served(t, verify, c)
            f, h = sw.rates(served, fp, fn), sw.rates(served, hp, hn)
            rows.append({
                "threshold": t,
                "fit_hit_rate": f["paraphrase_hit_rate"], "fit_false_hit_rate": f["false_hit_rate"],
                "holdout_hit_rate": h["paraphrase_hit_rate"], "holdout_false_hit_rate": h["false_hit_rate"],
            })  # fmt: skip
        return rows

    mode = cfg.verify.mode
    threshold, verify, c, met, t_ko = fitted(
        OVERLAPS if mode == "rules" else (cfg.verify.min_content_overlap,), mode, per_language
    )
    served = sw.served(threshold, verify, c, threshold_ko=t_ko)
    # The threshold-only rule (GPTCache's): the nearest cached question, no verification.
    off = cfg.verify.model_copy(update={"mode": "off"})
    t_only, _, _, met_only, _ = fitted((0.0,), "off")
    served_only = sw.served(t_only, off, 1)
    return Calibration(
        threshold=threshold,
        threshold_ko=t_ko,
        threshold_en=threshold if t_ko is not None else None,
        verify=verify,
        candidates=c,
        target_false_hit=target_false_hit,
        met_target=met,
        fit={"threshold": threshold, **sw.rates(served, fp, fn)},
        holdout={"threshold": threshold, **sw.rates(served, hp, hn)},
        curve=curve(verify, c),
        curve_threshold_only=curve(off, 1),
        threshold_only={
            "threshold": t_only,
            "met_target": met_only,
            "fit": sw.rates(served_only, fp, fn),
            "holdout": sw.rates(served_only, hp, hn),
        },
    )
