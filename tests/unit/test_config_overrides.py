"""`--set KEY=VALUE` overrides (config.parse_overrides, load_config/parse_config with overrides):
parsing, errors that name the item, validation through the real PipelineConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpilot.config import load_config, parse_config, parse_overrides
from llmpilot.errors import ConfigError
from llmpilot.project import Project


def test_dotted_keys_nest_and_values_are_yaml() -> None:
    got = parse_overrides(
        [
            "retrieval.top_k=8",
            "cache.enabled=false",
            "retrieval.fusion.weight=0.5",
            "x.y=[a, b]",
            "generator.model_path=",
            "generator.n_threads=null",
        ]
    )
    assert got == {
        "retrieval": {"top_k": 8, "fusion": {"weight": 0.5}},
        "cache": {"enabled": False},
        "x": {"y": ["a", "b"]},
        "generator": {"model_path": None, "n_threads": None},
    }


def test_a_single_item_may_be_given_as_a_string() -> None:
    assert parse_overrides("retrieval.top_k=2") == {"retrieval": {"top_k": 2}}
    assert parse_config({}, "f", "retrieval.top_k=2").retrieval.top_k == 2


def test_quoted_values_stay_strings_and_equals_signs_stay_in_the_value() -> None:
    got = parse_overrides(["prompt.template='8'", 'embedder.model="true"', "store=sqlite:///a=b.db"])
    assert got == {"prompt": {"template": "8"}, "embedder": {"model": "true"}, "store": "sqlite:///a=b.db"}


def test_a_repeated_key_takes_the_last_value_and_sections_merge() -> None:
    got = parse_overrides(["retrieval.top_k=3", "retrieval.mode=dense", "retrieval.top_k=9"])
    assert got == {"retrieval": {"top_k": 9, "mode": "dense"}}
    # A mapping value merges into the section (as merge_config does with the file); a scalar replaces.
    assert parse_overrides(["retrieval.top_k=3", "retrieval={mode: keyword}"]) == {
        "retrieval": {"top_k": 3, "mode": "keyword"}
    }
    assert parse_overrides(["retrieval.top_k=3", "retrieval=5"]) == {"retrieval": 5}


@pytest.mark.parametrize("item", ["foo", "=3", "a..b=1", "retrieval.=1", ""])
def test_a_malformed_item_says_key_value(item: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_overrides([item])
    assert str(exc.value) == f"--set {item}: expected KEY=VALUE (e.g. --set retrieval.top_k=8)"


def test_a_value_that_is_not_yaml_names_the_item() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_overrides(["x.y=[a, b"])
    message = str(exc.value)
    assert message.startswith("--set x.y=[a, b: the value is not valid YAML")
    assert "\n" not in message


def test_overrides_are_validated_like_the_yaml_and_errors_name_the_item() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({}, "p/llmpilot.yaml", ["retrieval.top_k=abc"])
    assert str(exc.value).startswith(
        "--set retrieval.top_k=abc: retrieval.top_k: Input should be a valid integer"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config({}, "p/llmpilot.yaml", ["retrieval.topk=3"])
    assert str(exc.value) == "--set retrieval.topk=3: retrieval.topk: Extra inputs are not permitted"
    with pytest.raises(ConfigError) as exc:  # a whole unknown section
        parse_config({}, "p/llmpilot.yaml", ["x.y=[a, b]"])
    assert str(exc.value) == "--set x.y=[a, b]: x: Extra inputs are not permitted"
    with pytest.raises(ConfigError) as exc:  # registered component names are checked too
        parse_config({}, "p/llmpilot.yaml", ["embedder.name=nope"])
    assert str(exc.value).startswith("--set embedder.name=nope: embedder.name: unknown embedder 'nope'")


def test_a_section_check_is_reported_under_the_override_that_broke_it() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"chunking": {"size": 500}}, "p/llmpilot.yaml", ["chunking.overlap=600"])
    assert str(exc.value).startswith("--set chunking.overlap=600: chunking: ")
    assert "chunking.overlap (600) must be smaller than chunking.size (500)" in str(exc.value)


def test_problems_of_the_file_are_still_reported_under_the_file() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"retrieval": {"mode": "zz"}}, "p/llmpilot.yaml", ["retrieval.top_k=abc"])
    message = str(exc.value)
    assert message.startswith("--set retrieval.top_k=abc: retrieval.top_k: ")
    assert "; p/llmpilot.yaml: invalid config: retrieval.mode: Input should be" in message
    # An override that fixes the file's problem wins: the file's value is replaced before validation.
    assert (
        parse_config({"retrieval": {"mode": "zz"}}, "f", ["retrieval.mode=dense"]).retrieval.mode == "dense"
    )


def test_load_config_applies_overrides_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "llmpilot.yaml"
    path.write_text("retrieval:\n  top_k: 3\n  mode: keyword\ncache:\n  threshold: 0.9\n", encoding="utf-8")
    cfg = load_config(
        path, ["retrieval.top_k=8", "cache.enabled=false", "guardrails.input.deny_topics=[a, b]"]
    )
    assert cfg.retrieval.top_k == 8 and cfg.retrieval.mode == "keyword"  # siblings kept
    assert cfg.cache.enabled is False and cfg.cache.threshold == 0.9
    assert cfg.guardrails.input.deny_topics == ["a", "b"]
    assert load_config(path).retrieval.top_k == 3  # without overrides: the file as it is


def test_a_string_field_given_a_number_needs_quotes() -> None:
    # YAML reads 8 as a number: a field that must be text says so, and quoting fixes it.
    with pytest.raises(
        ConfigError, match=r"^--set prompt.template=8: prompt.template: Input should be a valid string"
    ):
        parse_config({}, "f", ["prompt.template=8"])
    assert parse_config({}, "f", ["prompt.template='8'"]).prompt.template == "8"


def test_project_open_keeps_overrides_and_resolves_a_relative_sqlite_store(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "llmpilot.yaml").write_text("embedder: {name: hashing}\n", encoding="utf-8")
    proj = Project.open(root, ["store=sqlite:///other.db", "retrieval.top_k=2"])
    assert proj.overrides == ("store=sqlite:///other.db", "retrieval.top_k=2")
    assert proj.config.retrieval.top_k == 2
    # Relative to the project, exactly as the same value in llmpilot.yaml would be.
    assert proj.store_url == f"sqlite:///{root.resolve() / 'other.db'}"
    plain = Project.open(root)
    assert plain.overrides == () and plain.store_url == f"sqlite:///{root.resolve() / 'llmpilot.db'}"


def test_a_search_space_takes_overrides_that_fix_keys(tmp_path: Path) -> None:
    # `llmpilot eval --config FILE --set …`: the file is read as a search space (optimization.space).
    from llmpilot.optimization.space import SearchSpace

    path = tmp_path / "space.yaml"
    path.write_text(
        "embedder: {name: hashing}\nretrieval:\n  top_k: [3, 5]\n  mode: hybrid\n", encoding="utf-8"
    )
    assert SearchSpace.load(path).varied == {"retrieval.top_k": [3, 5]}
    space = SearchSpace.load(path, ["retrieval.mode=keyword", "transforms.pii=[email]"])
    assert space.varied == {"retrieval.top_k": [3, 5]}  # a list-typed field's list is a value, not a choice
    assert {c.config.retrieval.mode for c in space.candidates()} == {"keyword"}
    assert space.base().transforms.pii == ["email"]
    assert SearchSpace.load(path, ["retrieval.top_k=4"]).varied == {}  # an override fixes a varied key
    with pytest.raises(ConfigError, match=r"^--set retrieval.top_k=abc: retrieval.top_k: "):
        SearchSpace.load(path, ["retrieval.top_k=abc"])
