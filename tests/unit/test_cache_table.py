"""VectorTable: exact cosine top-k against brute force, through adds, replaces and removes."""

from __future__ import annotations

import numpy as np
import pytest

from llmpilot.cache.table import VectorTable


def _unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_equals_brute_force_after_adds_and_removes() -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 300)
    table = VectorTable()
    live: dict[str, np.ndarray] = {}
    for i, v in enumerate(vecs):  # grows past the initial capacity several times
        table.add(f"e{i}", v)
        live[f"e{i}"] = v
    for i in range(0, 300, 3):
        assert table.remove(f"e{i}")
        del live[f"e{i}"]
    assert not table.remove("e0")
    assert len(table) == len(live) == 200
    for q in _unit(rng, 20):
        got = table.search(q, 7)
        scores = {k: float(v @ q) for k, v in live.items()}
        want = sorted(scores, key=lambda k: -scores[k])[:7]
        assert [k for k, _ in got] == want
        assert all(abs(s - scores[k]) < 1e-5 for k, s in got)


def test_replace_k_larger_than_table_and_ties() -> None:
    table = VectorTable()
    assert table.search(np.ones(4), 3) == []
    table.add("a", np.array([1, 0, 0, 0]))
    table.add("b", np.array([0, 1, 0, 0]))
    table.add("c", np.array([1, 0, 0, 0]))  # ties with a: the lower row comes first
    assert [k for k, _ in table.search(np.array([1, 0, 0, 0]), 10)] == ["a", "c", "b"]
    assert [k for k, _ in table.search(np.array([1, 0, 0, 0]), 1)] == ["a"]
    table.add("a", np.array([0, 0, 1, 0]))  # replace keeps one row
    assert len(table) == 3
    assert table.search(np.array([0, 0, 1, 0]), 1)[0][0] == "a"
    # Unnormalised input is normalised: the score is a cosine.
    table.add("d", np.array([0, 0, 0, 5.0]))
    assert table.search(np.array([0, 0, 0, 2.0]), 1)[0] == ("d", pytest.approx(1.0))


def test_dimension_mismatch_is_refused() -> None:
    table = VectorTable()
    table.add("a", np.ones(4))
    with pytest.raises(ValueError, match="dimension 3"):
        table.add("b", np.ones(3))
