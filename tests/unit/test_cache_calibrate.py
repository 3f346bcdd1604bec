"""Calibration math on a synthetic set whose right threshold is known, the sweep's replay against
real lookups, the split, and the HTML curve."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from llmpilot.cache.calibrate import Embed, Sweep, calibrate, evaluate, split_ids
from llmpilot.cache.pairs import Negative, Pair
from llmpilot.cache.report import curve_html
from llmpilot.config import CacheConfig, CacheVerifyConfig

N_PAIRS, N_NEG = 40, 20
PAIR_COS, NEG_COS = 0.932, 0.90


def _synthetic() -> tuple[list[Pair], list[Negative], dict[str, np.ndarray]]:
    """Paraphrases at cosine 0.932 to their origin, look-alikes at 0.90 to their `a`, everything
    else orthogonal: any threshold in (0.90, 0.932] is perfect, and the highest such grid point is
    0.930."""
    dim = 2 * (N_PAIRS + N_NEG)
    vectors: dict[str, np.ndarray] = {}

    def basis(i: int) -> np.ndarray:
        v = np.zeros(dim, np.float32)
        v[i] = 1.0
        return v

    pairs, negatives = [], []
    for i in range(N_PAIRS):
        origin, similar = f"origin question {i}", f"similar question {i}"
        vectors[origin] = basis(i)
        vectors[similar] = PAIR_COS * basis(i) + np.sqrt(1 - PAIR_COS**2) * basis(N_PAIRS + N_NEG + i)
        pairs.append(Pair(f"p{i}", origin, similar))
    for j in range(N_NEG):
        a, b = f"cached look-alike {j}", f"asked look-alike {j}"
        vectors[a] = basis(N_PAIRS + j)
        vectors[b] = NEG_COS * basis(N_PAIRS + j) + np.sqrt(1 - NEG_COS**2) * basis(2 * N_PAIRS + N_NEG + j)
        negatives.append(Negative(f"n{j}", a, b, "number" if j % 2 else "entity"))
    return pairs, negatives, vectors


def _embedder(vectors: dict[str, np.ndarray]) -> tuple[list[int], Embed]:
    calls: list[int] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.stack([vectors[t] for t in texts])

    return calls, embed


def test_threshold_only_fit_finds_the_known_threshold() -> None:
    pairs, negatives, vectors = _synthetic()
    calls, embed = _embedder(vectors)
    cfg = CacheConfig(verify=CacheVerifyConfig(mode="off"))
    cal = calibrate(pairs, negatives, embed, cfg, target_false_hit=0.01, holdout=0.25, seed=3)
    assert calls == [2 * (N_PAIRS + N_NEG)]  # each distinct text embedded once, in one batch
    assert cal.threshold == pytest.approx(0.93) and cal.met_target
    for part in (cal.fit, cal.holdout):
        assert part["paraphrase_hit_rate"] == 1.0 and part["false_hit_rate"] == 0.0
    assert cal.holdout["n_pairs"] == 10 and cal.holdout["n_negatives"] == 5
    assert cal.settings()["threshold"] == cal.threshold and cal.settings()["verify"]["mode"] == "off"
    # Below 0.90 every look-alike hits; above 0.932 no paraphrase does.
    by_t = {row["threshold"]: row for row in cal.curve}
    assert by_t[0.9]["fit_false_hit_rate"] == pytest.approx(N_NEG * 0.75 / (N_PAIRS * 0.75 + N_NEG * 0.75))
    assert by_t[0.935]["fit_hit_rate"] == 0.0
    report = cal.to_json()
    assert report["settings"] == cal.settings() and report["met_target"] and len(report["curve"]) == 61
    hits = [row["fit_hit_rate"] for row in cal.curve]
    assert hits == sorted(hits, reverse=True)  # a higher threshold never hits more


def test_an_unreachable_target_is_reported_not_hidden() -> None:
    pairs, negatives, vectors = _synthetic()
    # One look-alike sits closer than every paraphrase: no threshold meets a 1% target with hits.
    vectors[negatives[0].b] = vectors[negatives[0].a].copy()
    _, embed = _embedder(vectors)
    cal = calibrate(pairs, negatives, embed, CacheConfig(verify=CacheVerifyConfig(mode="off")), holdout=0.0)
    # No setting meets the target: the one with the fewest false hits (then the most hits) is
    # returned and flagged, so `cache calibrate` can say so instead of writing a silent 1.0.
    assert not cal.met_target
    assert cal.fit["false_hit_rate"] == pytest.approx(1 / (N_PAIRS + N_NEG))
    assert cal.fit["paraphrase_hit_rate"] == 1.0


def test_sweep_replay_equals_real_lookups() -> None:
    pairs = [
        Pair("1", "SolBox 배터리 보증 기간은 몇 년인가요?", "SolBox 배터리 보증 기간이 몇 년이에요?"),
        Pair("2", "How do I reset my password?", "Tell me how to reset my password."),
        Pair("3", "How do I upgrade my plan?", "How do I upgrade the plan?"),
        Pair("4", "How do I reset my password?", "how do i reset my password"),  # duplicated origin
    ]
    negatives = [
        Negative("a", "SolBox 배터리 보증은 3년인가요?", "SolBox 배터리 보증은 5년인가요?", "number"),
        Negative("b", "How do I upgrade my plan?", "How do I downgrade my plan?", "antonym"),
    ]
    rng = np.random.default_rng(0)
    texts = {t for p in pairs for t in (p.origin, p.similar)} | {t for n in negatives for t in (n.a, n.b)}
    # Random but clustered vectors: every query is near several entries.
    centre = rng.normal(size=32)
    vectors = {t: (centre + 0.3 * rng.normal(size=32)).astype(np.float32) for t in sorted(texts)}
    vectors = {t: v / np.linalg.norm(v) for t, v in vectors.items()}
    _, embed = _embedder(vectors)
    sweep = Sweep(pairs, negatives, embed, CacheConfig())
    for threshold in (0.0, 0.8, 0.9, 0.95):
        for candidates in (1, 2, 5):
            for verify in (
                CacheVerifyConfig(mode="off"),
                CacheVerifyConfig(min_content_overlap=0.2),
                CacheVerifyConfig(mode="model", min_probability=0.3),
                CacheVerifyConfig(mode="model", min_probability=0.6, negation=False),
            ):
                cfg = CacheConfig(threshold=threshold, candidates=candidates, verify=verify)
                real = evaluate(pairs, negatives, embed, cfg)
                replay = sweep.rates(sweep.served(threshold, verify, candidates))
                for key in ("paraphrase_hit_rate", "negative_hit_rate", "wrong_hit_rate", "miss_rate"):
                    assert replay[key] == pytest.approx(real[key]), (threshold, candidates, verify, key)
    # Pair 4 asks its origin exactly: a hit on either copy of the duplicated origin is correct.
    assert evaluate(pairs, negatives, embed, CacheConfig(threshold=1.0))["paraphrase_hit_rate"] == 0.25


def test_evaluate_counts_each_outcome() -> None:
    pairs, negatives, vectors = _synthetic()
    _, embed = _embedder(vectors)
    got = evaluate(pairs, negatives, embed, CacheConfig(threshold=0.85, verify=CacheVerifyConfig(mode="off")))
    assert got["paraphrase_hit_rate"] == 1.0 and got["negative_hit_rate"] == 1.0
    assert got["negative_hit_rate_by_kind"] == {"entity": 1.0, "number": 1.0}
    assert got["n_pairs"] == N_PAIRS and got["n_negatives"] == N_NEG and got["threshold"] == 0.85
    assert got["lookup_ms_p50"] > 0
    got = evaluate(pairs, negatives, embed, CacheConfig(threshold=0.95, verify=CacheVerifyConfig(mode="off")))
    assert got["paraphrase_hit_rate"] == 0.0 and got["miss_rate"] == 1.0 and got["false_hit_rate"] == 0.0


def test_split_is_seeded_disjoint_and_sized() -> None:
    ids = [str(i) for i in range(100)]
    held = split_ids(ids, 0.3, seed=1)
    assert len(held) == 30 and held == split_ids(list(reversed(ids)), 0.3, seed=1)
    assert held != split_ids(ids, 0.3, seed=2)


def test_curve_page_marks_the_fitted_point() -> None:
    pairs, negatives, vectors = _synthetic()
    _, embed = _embedder(vectors)
    cal = calibrate(pairs, negatives, embed, CacheConfig(verify=CacheVerifyConfig(mode="off")))
    page = curve_html(cal)
    assert page.startswith("<!doctype html>") and page.count("<svg") == 1
    assert (
        "<circle" in page
        and "threshold 0.930" in page
        and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


def test_model_mode_calibration_fits_and_reports_min_probability() -> None:
    pairs, negatives, vectors = _synthetic()
    _, embed = _embedder(vectors)
    cfg = CacheConfig(verify=CacheVerifyConfig(mode="model"))
    cal = calibrate(pairs, negatives, embed, cfg, target_false_hit=0.0, holdout=0.25, seed=1)
    settings = cal.settings()
    assert settings["verify"]["mode"] == "model"
    assert 0.0 < settings["verify"]["min_probability"] < 1.0
    assert set(settings) >= {"threshold", "candidates", "verify"}
    # The fit met its target on the fit part: no false hit there at the chosen setting.
    assert cal.met_target and cal.fit["false_hit_rate"] == 0.0


def test_per_language_thresholds_are_fitted_and_replayed() -> None:
    # English pairs at cosine 0.932 and look-alikes at 0.90 (as in _synthetic); Korean ones higher,
    # pairs at 0.975 and look-alikes at 0.95: no single threshold serves both languages' pairs
    # without a look-alike hit, two thresholds do.
    pairs, negatives, vectors = _synthetic()
    dim = next(iter(vectors.values())).shape[0]
    rng = np.random.default_rng(3)
    for i in range(10):
        base = rng.normal(size=dim + 40).astype(np.float32)
        base /= np.linalg.norm(base)
        other = rng.normal(size=dim + 40).astype(np.float32)
        other -= (other @ base) * base
        other /= np.linalg.norm(other)
        for kind, cos in (("pair", 0.975), ("neg", 0.95)):
            a, b = f"캐시 질문 {kind} {i} 가", f"캐시 질문 {kind} {i} 나"
            vectors[a], vectors[b] = base, cos * base + np.sqrt(1 - cos**2) * other
            base = np.roll(base, 7)  # another direction for the look-alike
            other = np.roll(other, 7)
            if kind == "pair":
                pairs.append(Pair(f"ko-p{i}", a, b))
            else:
                negatives.append(Negative(f"ko-n{i}", a, b, "particle"))
    vectors = {
        t: np.pad(v, (0, dim + 40 - v.shape[0])) if v.shape[0] < dim + 40 else v for t, v in vectors.items()
    }
    _, embed = _embedder(vectors)
    cfg = CacheConfig(verify=CacheVerifyConfig(mode="off"))
    one = calibrate(pairs, negatives, embed, cfg, target_false_hit=0.0, holdout=0.25, seed=2)
    two = calibrate(
        pairs, negatives, embed, cfg, target_false_hit=0.0, holdout=0.25, seed=2, per_language=True
    )
    assert two.threshold_ko is not None and two.threshold_en is not None
    assert two.threshold_ko > 0.95 >= two.threshold_en > 0.90
    assert two.fit["false_hit_rate"] == 0.0
    assert two.fit["paraphrase_hit_rate"] > one.fit["paraphrase_hit_rate"]
    assert two.settings()["threshold_ko"] == two.threshold_ko and one.settings()["threshold_ko"] is None
    # The real SemanticCache with the two thresholds serves exactly what the replay says.
    fitted = CacheConfig(
        threshold=two.threshold, threshold_ko=two.threshold_ko, threshold_en=two.threshold_en,
        candidates=two.candidates, verify=two.verify,
    )  # fmt: skip
    real = evaluate(pairs, negatives, embed, fitted)
    sweep = Sweep(pairs, negatives, embed, fitted)
    replay = sweep.rates(
        sweep.served(two.threshold, two.verify, two.candidates, threshold_ko=two.threshold_ko)
    )
    for key in ("paraphrase_hit_rate", "negative_hit_rate", "wrong_hit_rate"):
        assert replay[key] == pytest.approx(real[key]), key


def test_threshold_for_falls_back_to_the_common_threshold() -> None:
    cfg = CacheConfig(threshold=0.9, threshold_ko=0.95)
    assert (cfg.threshold_for("ko"), cfg.threshold_for("en")) == (0.95, 0.9)
    assert CacheConfig(threshold=0.8).threshold_for("ko") == 0.8
