import pytest

from llmpilot.retrieval.fusion import convex, normalize, rrf
from llmpilot.types import ScoredId


def s(*pairs: tuple[str, float]) -> list[ScoredId]:
    return [ScoredId(i, v) for i, v in pairs]


def test_rrf_hand_computed() -> None:
    fused = dict(rrf({"a": s(("x", 9), ("y", 5)), "b": s(("y", 0.9), ("z", 0.1))}, k=60))
    assert fused["y"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["x"] == pytest.approx(1 / 61)
    assert fused["z"] == pytest.approx(1 / 62)
    assert next(iter(dict(rrf({"a": s(("x", 9), ("y", 5)), "b": s(("y", 0.9), ("z", 0.1))})))) == "y"


def test_minmax_convex_hand_computed() -> None:
    keyword = s(("x", 10.0), ("y", 5.0), ("z", 0.0))
    dense = s(("y", 0.9), ("x", 0.5), ("w", 0.1))
    fused = dict(convex({"keyword": keyword, "dense": dense}, {"keyword": 0.7, "dense": 0.3}))
    # keyword normalized: x 1, y .5, z 0 ; dense normalized: y 1, x .5, w 0 ; missing -> the list's floor (0)
    assert fused["x"] == pytest.approx(0.7 * 1 + 0.3 * 0.5)
    assert fused["y"] == pytest.approx(0.7 * 0.5 + 0.3 * 1)
    assert fused["z"] == pytest.approx(0.0)
    assert fused["w"] == pytest.approx(0.0)


def test_zscore_and_degenerate_lists() -> None:
    assert normalize([1.0, 1.0], "minmax") == [1.0, 1.0]
    assert normalize([2.0, 2.0], "zscore") == [0.0, 0.0]
    z = normalize([1.0, 2.0, 3.0], "zscore")
    assert z[1] == pytest.approx(0.0) and z[0] == pytest.approx(-z[2])
    with pytest.raises(ValueError):
        normalize([1.0], "bogus")


def test_weight_extremes_reproduce_single_retrievers() -> None:
    keyword = s(("a", 3.0), ("b", 2.0), ("c", 1.0))
    dense = s(("c", 0.9), ("b", 0.8), ("a", 0.1))
    only_kw = [i for i, _ in convex({"keyword": keyword, "dense": dense}, {"keyword": 1.0, "dense": 0.0})]
    only_dense = [i for i, _ in convex({"keyword": keyword, "dense": dense}, {"keyword": 0.0, "dense": 1.0})]
    assert only_kw == ["a", "b", "c"]
    assert only_dense == ["c", "b", "a"]
