import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field

from llmpilot import registry
from llmpilot.config import (
    HASHED_IN_FULL,
    UNHASHED_FIELDS,
    AnswerConfig,
    ChunkingConfig,
    PipelineConfig,
    load_config,
    parse_config,
)
from llmpilot.errors import ConfigError
from llmpilot.optimization.space import SearchSpace
from llmpilot.project import CONFIG_TEMPLATE


def test_init_template_parses_to_the_defaults() -> None:
    assert parse_config(yaml.safe_load(CONFIG_TEMPLATE)) == PipelineConfig()


def test_template_documents_every_default_value() -> None:
    # Every top-level and nested key of the model appears in the commented template.
    raw = yaml.safe_load(CONFIG_TEMPLATE)

    def keys(d: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(raw) == keys(PipelineConfig().model_dump(mode="json"))


def test_yaml_round_trip_and_stable_hash() -> None:
    cfg = parse_config({"chunking": {"method": "sentence", "size": 400, "overlap": 50}})
    again = parse_config(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    assert again.hash() == cfg.hash()
    assert cfg.hash() != PipelineConfig().hash()


def test_partial_hashes_separate_stages() -> None:
    base = PipelineConfig()
    other_retrieval = parse_config({"retrieval": {"top_k": 9}})
    other_chunking = parse_config({"chunking": {"size": 300}})
    assert other_retrieval.chunks_hash() == base.chunks_hash()
    assert other_retrieval.index_hash() == base.index_hash()
    assert other_chunking.chunks_hash() != base.chunks_hash()
    assert other_chunking.transforms_hash() == base.transforms_hash()


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"chunking\.sise"):
        parse_config({"chunking": {"sise": 10}})


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ConfigError, match="overlap"):
        parse_config({"chunking": {"size": 100, "overlap": 100}})


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("retrieval: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("retrieval:\n  mode: telepathy\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"retrieval\.mode"):
        load_config(wrong)


def test_example_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "examples"
    files = sorted(p for p in root.glob("*.yaml") if not p.name.startswith("space-"))
    assert files, "examples/*.yaml missing"
    for path in files:
        load_config(path)


# ---------------------------------------------------------------- hashes (pinned) and component names

#: A config that sets a non-default value in every section.
RICH = {
    "transforms": {"unicode": "NFKC", "pii": ["email"], "near_threshold": 0.85},
    "chunking": {
        "method": "sentence",
        "size": 400,
        "overlap": 50,
        "unit": "tokens",
        "separators": ["\n\n", "다. "],
    },
    "embedder": {
        "name": "openai",
        "model": "text-embedding-3-small",
        "base_url": "http://127.0.0.1:8000/v1",
        "query_prefix": "query: ",
    },
    "index": {
        "include_title": False,
        "keyword": {"tokenizer": "ko", "k1": 1.2},
        "vector": {"kind": "hnsw", "connectivity": 32},
    },
    "retrieval": {"mode": "hybrid", "top_k": 7, "fusion": {"method": "rrf", "rrf_k": 30}},
    "generator": {"name": "openai", "model": "gpt", "temperature": 0.0, "seed": 3},
    "prompt": {"template": "extractive", "max_context_chars": 2000},
    "answer": {"abstain_below": 0.5, "followups": 0},
}


def test_hashes_are_pinned() -> None:
    """These literals are the hashes stored in existing projects (chunk sets by chunks_hash, index
    folders by index_hash, runs and trials by hash), computed by the code before issue 11. If this
    fails, every cached chunk set, index and trial would be invalidated: don't change the literals,
    fix the hashing (a new field must hash like its absence while it holds its default)."""
    default = PipelineConfig()
    assert default.hash() == "e2c9d9ff0662541b"
    assert default.transforms_hash() == "4e22f585ab1df285"
    assert default.chunks_hash() == "dd6ebb87a23566a2"
    assert default.index_hash() == "d6d8992f995cdb6f"
    rich = parse_config(RICH)
    assert rich.hash() == "d178dd4e82f6ad4a"
    assert rich.transforms_hash() == "115b77a5149fb0a7"
    assert rich.chunks_hash() == "17fe9cb22f57de34"
    assert rich.index_hash() == "8e6ac5d34b2859ab"


@pytest.mark.parametrize(
    "change",
    [
        {"store": "postgresql://db.example/llmpilot"},
        {"store": "sqlite:////srv/elsewhere.db"},
        {"generator": {"timeout_s": 5.0, "api_key_env": "MY_KEY"}},
        {"embedder": {"batch_size": 4, "api_key_env": "MY_KEY"}},
    ],
)
def test_fields_that_do_not_change_results_are_not_hashed(change: dict[str, Any]) -> None:
    for base in ({}, RICH):
        cfg = parse_config(base)
        other = parse_config(_merged(base, change))
        assert other != cfg
        assert other.hash() == cfg.hash()
        assert other.index_hash() == cfg.index_hash()
        assert other.chunks_hash() == cfg.chunks_hash()


def test_every_result_field_changes_the_hash() -> None:
    base = PipelineConfig()
    for change in (
        {"answer": {"followups": 2}},
        {"generator": {"n_threads": 2}},
        {"prompt": {"template": "x"}},
    ):
        assert parse_config(change).hash() != base.hash()
    assert parse_config({"embedder": {"query_prefix": "q: "}}).index_hash() != base.index_hash()
    assert parse_config({"chunking": {"size": 500}}).chunks_hash() != base.chunks_hash()


class _ChunkingWithNewField(ChunkingConfig):
    future_option: int = 7


class _SectionWithNewSection(PipelineConfig):
    chunking: _ChunkingWithNewField = Field(default_factory=_ChunkingWithNewField)
    future_section: AnswerConfig = Field(default_factory=AnswerConfig)


def test_adding_a_field_with_its_default_keeps_every_hash() -> None:
    """A field added later is hashed only when it differs from its default (not in HASHED_IN_FULL)."""
    for raw in ({}, RICH):
        old, new = parse_config(raw), _SectionWithNewSection.model_validate(raw)
        assert "future_option" in new.model_dump()["chunking"] and "future_section" in new.model_dump()
        assert (new.hash(), new.chunks_hash(), new.index_hash()) == (
            old.hash(),
            old.chunks_hash(),
            old.index_hash(),
        )
        changed = _SectionWithNewSection.model_validate(_merged(raw, {"chunking": {"future_option": 8}}))
        assert changed.chunks_hash() != old.chunks_hash() and changed.hash() != old.hash()
        moved = _SectionWithNewSection.model_validate(_merged(raw, {"future_section": {"followups": 1}}))
        assert moved.hash() != old.hash() and moved.chunks_hash() == old.chunks_hash()


def test_fields_hashed_in_full_exist() -> None:
    def paths(d: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= paths(v, prefix + k + ".")
        return out

    fields = paths(PipelineConfig().model_dump(mode="json"))
    assert fields >= HASHED_IN_FULL
    assert fields >= UNHASHED_FIELDS


@pytest.mark.parametrize(
    ("raw", "field", "kind", "known"),
    [
        ({"chunking": {"method": "paragraph"}}, "chunking.method", "chunker", "fixed, recursive, sentence"),
        ({"embedder": {"name": "bge-m3"}}, "embedder.name", "embedder", "e5-small, hashing, minilm, openai"),
        (
            {"index": {"keyword": {"tokenizer": "mecab"}}},
            "index.keyword.tokenizer",
            "tokenizer",
            "auto, en, ko",
        ),
        ({"index": {"vector": {"kind": "faiss"}}}, "index.vector.kind", "vector index", "exact, hnsw"),
        ({"generator": {"name": "vllm"}}, "generator.name", "generator", "extractive, llama-cpp, openai"),
    ],
)
def test_unknown_component_names_the_field_and_the_registered_names(
    raw: dict[str, Any], field: str, kind: str, known: str
) -> None:
    name = next(iter(_leaves(raw)))
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="proj/llmpilot.yaml")
    message = str(info.value)
    assert message.startswith(f"proj/llmpilot.yaml: invalid config: {field}: unknown {kind} '{name}'")
    assert f"registered: {known}" in message
    assert "llmpilot.components" in message


@pytest.mark.parametrize(
    ("registry_name", "section"),
    [
        ("chunkers", {"chunking": {"method": "test-config-component"}}),
        ("embedders", {"embedder": {"name": "test-config-component"}}),
        ("tokenizers", {"index": {"keyword": {"tokenizer": "test-config-component"}}}),
        ("vector_indexes", {"index": {"vector": {"kind": "test-config-component"}}}),
        ("generators", {"generator": {"name": "test-config-component"}}),
    ],
)
def test_any_registered_name_is_accepted(registry_name: str, section: dict[str, Any]) -> None:
    """What used to fail with "Input should be 'fixed', 'recursive' or 'sentence'": a third-party name."""
    reg = getattr(registry, registry_name)
    with pytest.raises(ConfigError, match="test-config-component"):
        parse_config(section)
    reg.register("test-config-component")(lambda *args: None)
    try:
        cfg = parse_config(section)
        assert "test-config-component" in json.dumps(cfg.model_dump())
        # Search spaces validate candidates the same way: a registered plugin name is a valid choice.
        space = SearchSpace.from_dict(_merged(section, {"retrieval": {"top_k": [3, 5]}}))
        assert len(space.candidates()) == 2
    finally:
        reg._factories.pop("test-config-component")


def test_search_space_rejects_an_unknown_component_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"space: invalid config: chunking\.method: unknown chunker 'nope'"):
        SearchSpace.from_dict({"chunking": {"method": ["fixed", "nope"]}}).candidates()


def _leaves(d: dict[str, Any]) -> list[Any]:
    return [x for v in d.values() for x in (_leaves(v) if isinstance(v, dict) else [v])]


def _merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(a))
    for key, value in b.items():
        out[key] = _merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out
