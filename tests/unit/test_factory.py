"""llmpilot.factory builds every component kind from config through the registry, checks what a
factory returns, and projects resolve relative model paths once, against the project folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmpilot import factory, registry
from llmpilot.chunking.recursive import RecursiveChunker
from llmpilot.config import (
    ChunkingConfig,
    EmbedderConfig,
    GeneratorConfig,
    KeywordIndexConfig,
    VectorIndexConfig,
)
from llmpilot.embedding.hashing import HashingEmbedder
from llmpilot.errors import ConfigError
from llmpilot.generation.openai_chat import OpenAIChatGenerator
from llmpilot.index.keyword import BM25Index
from llmpilot.index.vector import HnswVectorIndex
from llmpilot.project import Project
from llmpilot.protocols import Chunker
from llmpilot.types import Document


def test_builds_each_kind_from_its_config_section() -> None:
    assert isinstance(factory.chunker(ChunkingConfig()), RecursiveChunker)
    assert isinstance(factory.embedder(EmbedderConfig(name="hashing")), HashingEmbedder)
    index = factory.keyword_index(KeywordIndexConfig(tokenizer="whitespace"))
    assert isinstance(index, BM25Index)
    index.build(["a", "b"], ["solar panels", "김치 담그기"])
    assert [h.id for h in index.search(["김치"], k=2)[0]] == ["b"]
    assert factory.tokenizer("whitespace")(["Hello  World"]) == [["hello", "world"]]
    vec = factory.vector_index(VectorIndexConfig(kind="hnsw"), 8)
    assert isinstance(vec, HnswVectorIndex)
    gen = factory.generator(GeneratorConfig(name="openai", base_url="http://127.0.0.1:9/v1", model="m"))
    assert isinstance(gen, OpenAIChatGenerator)


def test_a_plugin_chunker_is_built_like_a_builtin() -> None:
    class EveryLine:
        def __init__(self, cfg: ChunkingConfig) -> None:
            self.cfg = cfg

        def split(self, doc: Document) -> list:  # type: ignore[type-arg]
            return []

    registry.chunkers.register("test-factory-lines")(EveryLine)
    try:
        chunker = factory.chunker(ChunkingConfig(method="test-factory-lines", size=50, overlap=0))
        assert isinstance(chunker, EveryLine) and isinstance(chunker, Chunker)
        assert chunker.cfg.size == 50
    finally:
        registry.chunkers._factories.pop("test-factory-lines")


def test_a_factory_returning_the_wrong_thing_is_named() -> None:
    registry.chunkers.register("test-factory-broken")(lambda cfg: 42)
    registry.tokenizers.register("test-factory-broken")(lambda: 42)
    try:
        with pytest.raises(
            ConfigError, match=r"chunker 'test-factory-broken' was built as int.*missing split"
        ):
            factory.chunker(ChunkingConfig(method="test-factory-broken"))
        with pytest.raises(ConfigError, match=r"tokenizer 'test-factory-broken' was built as int"):
            factory.tokenizer("test-factory-broken")
    finally:
        registry.chunkers._factories.pop("test-factory-broken")
        registry.tokenizers._factories.pop("test-factory-broken")


def test_unknown_tokenizer_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown tokenizer 'mecab'; known: auto, en, ko"):
        factory.tokenizer("mecab")


def _project_with(tmp_path: Path, config: dict[str, object]) -> Path:
    root = tmp_path / "proj"
    root.mkdir(parents=True)
    (root / "llmpilot.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def test_relative_model_paths_resolve_against_the_project_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project_with(
        tmp_path,
        {
            "embedder": {"name": "sentence-transformers", "model": "models/minilm"},
            "generator": {"model_path": "models/tiny.gguf"},
        },
    )
    (root / "models" / "minilm").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = Project.open(root).config
    assert cfg.embedder.model == str(root / "models" / "minilm")
    assert cfg.generator.model_path == str(root / "models" / "tiny.gguf")
    # Built from the resolved config, the embedder names the project's folder, whatever the cwd.
    emb = factory.embedder(cfg.embedder)
    assert emb.model_id.startswith(f"sentence-transformers:{root / 'models' / 'minilm'} ")


def test_names_that_are_not_paths_stay_as_written(tmp_path: Path) -> None:
    root = _project_with(
        tmp_path,
        {"embedder": {"name": "sentence-transformers", "model": "intfloat/multilingual-e5-small"}},
    )
    assert Project.open(root).config.embedder.model == "intfloat/multilingual-e5-small"
    served = _project_with(
        tmp_path / "served",
        {"embedder": {"name": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "./e5"}},
    )
    assert Project.open(served).config.embedder.model == "./e5"
    explicit = _project_with(
        tmp_path / "explicit", {"embedder": {"name": "sentence-transformers", "model": "./not-yet/e5"}}
    )
    assert Project.open(explicit).config.embedder.model == str(explicit / "not-yet" / "e5")
    gguf = str(tmp_path / "m.gguf")
    absolute = _project_with(tmp_path / "absolute", {"generator": {"model_path": gguf}})
    assert Project.open(absolute).config.generator.model_path == gguf


def test_missing_generator_model_names_the_resolved_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmpilot.errors import ModelNotAvailableError
    from llmpilot.pipeline import Pipeline

    root = _project_with(tmp_path, {"generator": {"model_path": "models/missing.gguf"}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotAvailableError, match=str(root / "models" / "missing.gguf")):
        _ = Pipeline(Project.open(root)).generator


def test_a_broken_plugin_is_a_clean_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="broken", value="llmpilot_no_such_plugin_module", group="llmpilot.components")
    monkeypatch.setattr(registry, "entry_points", lambda group: [broken])
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    with pytest.raises(
        ConfigError, match=r"plugin 'broken' \(llmpilot_no_such_plugin_module.*failed to load"
    ):
        registry.chunkers.names()
