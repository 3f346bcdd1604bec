"""The one place that builds pipeline components from config, through `llmpilot.registry`.

Every caller (ingest, pipeline, optimizer, eval CLI, serving) builds chunkers, embedders, tokenizers,
keyword and vector indexes and generators here, so a component registered by a plugin works wherever
a built-in does. Builders take config sections whose model paths are already resolved (the project
resolves them once when it loads its config: `llmpilot.project.resolve_model_paths`).

Each result is checked against its protocol, so a plugin factory that returns the wrong thing fails
here with its name, not deep inside a pipeline run.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from llmpilot import registry
from llmpilot.errors import ConfigError
from llmpilot.protocols import Chunker, Embedder, Generator, KeywordIndex, VectorIndex

if TYPE_CHECKING:
    from llmpilot.config import (
        ChunkingConfig,
        EmbedderConfig,
        GeneratorConfig,
        KeywordIndexConfig,
        VectorIndexConfig,
    )
    from llmpilot.index.tokenizers import Tokenizer


#: The members each protocol requires (llmpilot.protocols).
_MEMBERS: dict[str, tuple[str, ...]] = {
    "Chunker": ("split",),
    "Embedder": ("model_id", "dim", "embed"),
    "VectorIndex": ("build", "search", "save", "__len__"),
    "Generator": ("model_id", "generate", "stream"),
}
_ABSENT = object()


def _check(kind: str, name: str, built: object, protocol: str) -> None:
    """Fail, naming the factory, unless `built` has the protocol's members. Looked up statically:
    `isinstance` on a runtime protocol would evaluate properties such as `Embedder.dim`, which loads
    the model, and building must stay lazy."""
    missing = [m for m in _MEMBERS[protocol] if inspect.getattr_static(built, m, _ABSENT) is _ABSENT]
    if missing:
        raise ConfigError(
            f"{kind} {name!r} was built as {type(built).__name__}, which does not implement "
            f"llmpilot.protocols.{protocol} (missing {', '.join(missing)}); fix the factory registered "
            f"as {name!r}"
        )


def chunker(cfg: ChunkingConfig) -> Chunker:
    """The chunker named by `chunking.method`; registry factory(cfg: ChunkingConfig) -> Chunker."""
    built = registry.chunkers.get(cfg.method)(cfg)
    _check("chunker", cfg.method, built, "Chunker")
    return built


def embedder(cfg: EmbedderConfig) -> Embedder:
    """The embedder named by `embedder.name`; registry factory(cfg: EmbedderConfig) -> Embedder."""
    built = registry.embedders.get(cfg.name)(cfg)
    _check("embedder", cfg.name, built, "Embedder")
    return built


def tokenizer(name: str) -> Tokenizer:
    """The BM25 tokenizer registered as `name`; registry factory() -> (texts) -> list[list[str]]."""
    built = registry.tokenizers.get(name)()
    if not callable(built):
        raise ConfigError(
            f"tokenizer {name!r} was built as {type(built).__name__}, which is not callable; "
            "a tokenizer maps a batch of texts to token lists"
        )
    tokenize: Tokenizer = built
    return tokenize


def keyword_index(cfg: KeywordIndexConfig) -> KeywordIndex:
    """An empty keyword index of `index.keyword.kind` (BM25 in memory, or PostgreSQL full-text) whose
    tokenizer is `index.keyword.tokenizer` (built through `tokenizer`)."""
    # Imported here: the index module calls back into this one for its tokenizer.
    from llmpilot.index.keyword import BM25Index

    if cfg.kind == "pg_fts":
        from llmpilot.index.pg_fts import PgFtsIndex

        fts: KeywordIndex = PgFtsIndex(cfg)
        return fts
    built: KeywordIndex = BM25Index(cfg)
    return built


def vector_index(cfg: VectorIndexConfig, dim: int) -> VectorIndex:
    """An empty vector index named by `index.vector.kind`; registry factory(cfg, dim) -> VectorIndex."""
    built = registry.vector_indexes.get(cfg.kind)(cfg, dim)
    _check("vector index", cfg.kind, built, "VectorIndex")
    return built


def generator(cfg: GeneratorConfig) -> Generator:
    """The generator named by `generator.name`; registry factory(cfg: GeneratorConfig) -> Generator."""
    built = registry.generators.get(cfg.name)(cfg)
    _check("generator", cfg.name, built, "Generator")
    return built
