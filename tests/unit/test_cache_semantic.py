"""SemanticCache: exact before semantic, threshold, candidates best first, the first that verifies
is served, and a reason for every miss. Real multilingual-e5-small embeddings."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from llmpilot import factory
from llmpilot.cache.semantic import SemanticCache
from llmpilot.cache.verify import Verifier
from llmpilot.config import CacheConfig, CacheVerifyConfig, EmbedderConfig

Embed = Callable[[list[str]], np.ndarray]


@pytest.fixture(scope="module")
def embed() -> Embed:
    embedder = factory.embedder(EmbedderConfig())
    return lambda texts: embedder.embed(texts, "query")


def _cache(cfg: CacheConfig, embed: Embed, questions: dict[str, str]) -> SemanticCache:
    cache = SemanticCache(cfg, Verifier(cfg.verify))
    vecs = embed(list(questions.values()))
    for (entry_id, q), v in zip(questions.items(), vecs, strict=True):
        cache.add(entry_id, q, v)
    return cache


def test_empty_cache_misses_with_a_reason() -> None:
    lk = SemanticCache(CacheConfig(), Verifier()).lookup("anything?", np.ones(4, np.float32))
    assert (lk.kind, lk.reason, lk.checked, lk.hit) == ("miss", "no entries", 0, False)


def test_exact_hit_comes_first_and_needs_no_vector(embed: Embed) -> None:
    cache = _cache(CacheConfig(), embed, {"e1": "SolBox 보증 기간은?", "e2": "What is the SolBox warranty?"})
    lk = cache.lookup("  solbox 보증 기간은 ", None)
    assert (lk.kind, lk.entry_id, lk.checked, lk.verdict) == ("exact", "e1", 0, None)
    lk = cache.lookup("what is the solbox warranty?", None)
    assert (lk.kind, lk.entry_id) == ("exact", "e2")
    miss = cache.lookup("SolBox 보증은 몇 년?", None)
    assert (miss.kind, miss.reason) == ("miss", "no exact match (no query vector)")
    no_exact = _cache(CacheConfig(exact=False), embed, {"e1": "SolBox 보증 기간은?"})
    assert no_exact.lookup("SolBox 보증 기간은?", embed(["SolBox 보증 기간은?"])[0]).kind == "semantic"


def test_paraphrase_is_served_and_lookalike_is_refused_with_the_reason(embed: Embed) -> None:
    cfg = CacheConfig(threshold=0.85, verify=CacheVerifyConfig(min_content_overlap=0.0))
    cache = _cache(cfg, embed, {"w3": "SolBox 배터리 보증은 3년인가요?"})
    asked = "SolBox 배터리 보증이 3년이에요?"
    hit = cache.lookup(asked, embed([asked])[0])
    assert (hit.kind, hit.entry_id, hit.checked) == ("semantic", "w3", 1)
    assert hit.score is not None and hit.score >= 0.85 and hit.verdict is not None and hit.verdict.ok
    asked = "SolBox 배터리 보증은 5년인가요?"
    miss = cache.lookup(asked, embed([asked])[0])
    # e5-small puts the look-alike above the threshold: verification is what refuses it.
    assert miss.score is not None and miss.score >= 0.85
    assert (miss.kind, miss.entry_id, miss.checked) == ("miss", None, 1)
    assert miss.reason == "verification: date 5년 != 3년"
    assert miss.verdict is not None and not miss.verdict.ok


def test_model_mode_scores_each_candidate_with_its_cosine(embed: Embed) -> None:
    cfg = CacheConfig(threshold=0.85, verify=CacheVerifyConfig(mode="model"))
    cached = "How many years does the SolBox 10 battery warranty last?"
    cache = _cache(cfg, embed, {"w": cached})
    asked = "How many years does the battery warranty of the SolBox 10 last?"
    hit = cache.lookup(asked, embed([asked])[0])
    assert hit.kind == "semantic" and hit.verdict is not None
    # The verdict's score is the model's probability at the lookup's cosine, not at a stand-in.
    assert hit.score is not None
    expected = cache.verifier.check(
        cache.verifier.features(asked), cache.features("w"), cosine=hit.score
    ).score
    assert hit.verdict.score == pytest.approx(expected)
    asked = "How many years does the SolBox 12 battery warranty last?"
    miss = cache.lookup(asked, embed([asked])[0])
    assert miss.kind == "miss" and miss.reason == "verification: number 12 != 10"


def test_below_threshold_reports_the_best_score(embed: Embed) -> None:
    cache = _cache(CacheConfig(threshold=0.99), embed, {"a": "How do I reset my password?"})
    asked = "What is the capital of France?"
    lk = cache.lookup(asked, embed([asked])[0])
    assert lk.kind == "miss" and lk.score is not None
    assert lk.reason == f"below threshold 0.99 (best {lk.score:.2f})"


def test_candidates_are_tried_best_first_until_one_verifies() -> None:
    # Hand-made vectors fix the order: the look-alike is nearest, the true match second.
    verify = CacheVerifyConfig(min_content_overlap=0.0)
    cfg = CacheConfig(threshold=0.5, candidates=2, verify=verify)
    cache = SemanticCache(cfg, Verifier(verify))
    cache.add("five", "Is the SolBox warranty 5 years?", np.array([1.0, 0.0, 0.0]))
    cache.add("three", "Is the SolBox warranty 3 years?", np.array([0.8, 0.6, 0.0]))
    lk = cache.lookup("SolBox warranty: is it 3 years?", np.array([1.0, 0.05, 0.0]))
    assert (lk.kind, lk.entry_id, lk.checked) == ("semantic", "three", 2)
    assert lk.score == pytest.approx(float(np.array([1.0, 0.05, 0]) @ [1, 0, 0] / np.hypot(1.0, 0.05)))
    one = SemanticCache(cfg.model_copy(update={"candidates": 1}), Verifier(verify))
    one.add("five", "Is the SolBox warranty 5 years?", np.array([1.0, 0.0, 0.0]))
    one.add("three", "Is the SolBox warranty 3 years?", np.array([0.8, 0.6, 0.0]))
    lk = one.lookup("SolBox warranty: is it 3 years?", np.array([1.0, 0.05, 0.0]))
    assert (lk.kind, lk.checked, lk.reason) == ("miss", 1, "verification: date 3 year != 5 year")
    off = SemanticCache(cfg.model_copy(update={"semantic": False}), Verifier(verify))
    off.add("five", "Is the SolBox warranty 5 years?", np.array([1.0, 0.0, 0.0]))
    assert off.lookup("x", np.array([1.0, 0, 0])).reason == "no exact match (semantic cache off)"


def test_remove_and_replace_keep_exact_and_vector_indexes_in_step() -> None:
    cache = SemanticCache(CacheConfig(threshold=0.5), Verifier(CacheVerifyConfig(mode="off")))
    cache.add("a", "Same question?", np.array([1.0, 0.0]))
    cache.add("b", "same question", np.array([0.0, 1.0]))
    assert len(cache) == 2 and cache.entry_ids() == ["a", "b"]
    assert cache.lookup("SAME QUESTION", None).entry_id == "b"  # the newest of equal keys
    assert cache.remove("b") and not cache.remove("b")
    assert cache.lookup("SAME QUESTION", None).entry_id == "a"
    cache.add("a", "Another one", np.array([0.0, 1.0]))  # replace: old key and vector gone
    assert cache.lookup("same question", None).kind == "miss"
    assert cache.lookup("zzz", np.array([0.0, 1.0])).entry_id == "a"
    assert len(cache) == 1
