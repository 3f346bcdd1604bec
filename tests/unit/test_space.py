from pathlib import Path

import pytest

from llmpilot.config import parse_config
from llmpilot.errors import ConfigError
from llmpilot.optimization.space import SearchSpace, canonical


def test_lists_vary_and_list_typed_fields_need_lists_of_lists() -> None:
    space = SearchSpace.from_dict(
        {
            "transforms": {"pii": ["email"]},  # a plain value of a list-typed field: fixed
            "chunking": {"size": [300, 600], "overlap": 50},
            "retrieval": {"mode": ["keyword", "dense"]},
        }
    )
    assert set(space.varied) == {"chunking.size", "retrieval.mode"}
    assert space.size() == 4
    candidates = space.candidates()
    assert len(candidates) == 4
    assert all(c.config.transforms.pii == ["email"] for c in candidates)
    assert {(c.params["chunking.size"], c.params["retrieval.mode"]) for c in candidates} == {
        (300, "keyword"),
        (300, "dense"),
        (600, "keyword"),
        (600, "dense"),
    }
    varied_pii = SearchSpace.from_dict({"transforms": {"pii": [["email"], []]}})
    assert [c.config.transforms.pii for c in varied_pii.candidates()] == [["email"], []]


def test_settings_a_config_ignores_do_not_multiply_trials() -> None:
    space = SearchSpace.from_dict(
        {
            "embedder": {"name": ["hashing", "minilm"]},
            "retrieval": {"mode": ["keyword", "hybrid"], "fusion": {"weight": [0.2, 0.5]}},
        }
    )
    assert space.size() == 8
    # keyword-only: embedder and weight irrelevant -> 1 config; hybrid: 2 embedders x 2 weights.
    assert len(space.candidates()) == 5


def test_canonical_resets_unused_fusion_settings() -> None:
    a = canonical(parse_config({"retrieval": {"mode": "hybrid", "fusion": {"method": "rrf", "weight": 0.9}}}))
    b = canonical(parse_config({"retrieval": {"mode": "hybrid", "fusion": {"method": "rrf", "weight": 0.1}}}))
    assert a.hash() == b.hash()


def test_invalid_spaces_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"chunking\.size"):
        SearchSpace.from_dict({"chunking": {"size": []}})
    with pytest.raises(ConfigError, match=r"retrieval\.mode"):
        SearchSpace.from_dict({"retrieval": {"mode": ["keyword", "telepathy"]}}).candidates()
    with pytest.raises(ConfigError, match="not found"):
        SearchSpace.load(tmp_path / "missing.yaml")


def test_example_spaces_expand() -> None:
    root = Path(__file__).resolve().parents[2] / "examples"
    for name in ("space-ko.yaml", "space-en.yaml"):
        space = SearchSpace.load(root / name)
        assert len(space.candidates()) >= 24
