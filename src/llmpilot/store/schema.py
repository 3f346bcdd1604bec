"""Tables of the store of record, as the code queries them.

They are never created from here: the named migrations (store/migrations.py) carry their own frozen
DDL. A schema change is a new migration plus the matching edit here; tests/unit/test_migrations.py
fails when a fresh store and these declarations differ.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

migrations = Table(
    "migrations",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

#: One row per source unit (a file, a SQL query): its fingerprint says whether it changed.
sources = Table(
    "sources",
    metadata,
    Column("key", String(1000), primary_key=True),
    Column("origin", String(2000), nullable=False, index=True),
    Column("fingerprint", String(64)),
    #: The transforms hash the unit's documents were produced with.
    Column("transforms_hash", String(32), nullable=False),
    Column("status", String(20), nullable=False),  # ok | error
    Column("error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("id", String(1000), primary_key=True),
    Column(
        "source_key", String(1000), ForeignKey("sources.key", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("source", String(2000), nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("language", String(16)),
    Column("metadata_json", Text, nullable=False),
    #: Set when this document duplicates another one: it is kept for the record but not chunked.
    Column("duplicate_of", String(1000)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Chunks of one chunk set (identified by PipelineConfig.chunks_hash) coexist with other sets.
chunks = Table(
    "chunks",
    metadata,
    Column("chunk_set", String(32), primary_key=True),
    Column("id", String(1100), primary_key=True),
    Column("doc_id", String(1000), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start", Integer, nullable=False),
    Column("end", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("text_hash", String(64), nullable=False),
    Index("ix_chunks_set_doc", "chunk_set", "doc_id"),
)

#: Which documents a chunk set has processed, with the content hash it chunked.
chunked_documents = Table(
    "chunked_documents",
    metadata,
    Column("chunk_set", String(32), primary_key=True),
    Column("doc_id", String(1000), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("content_hash", String(64), nullable=False),
)

#: Embedding cache: the same text under the same model is embedded once, whatever the chunking.
embeddings = Table(
    "embeddings",
    metadata,
    Column("model_id", String(300), primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),  # ingest | index | bench | ask
    Column("config_hash", String(32), nullable=False),
    Column("config_json", Text, nullable=False),
    Column("status", String(20), nullable=False),  # running | done | failed | interrupted
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("stats_json", Text),
    Column("seconds", Float),
)

ingest_problems = Table(
    "ingest_problems",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("source", String(2000), nullable=False),
    Column("reason", Text, nullable=False),
)

#: Optimizer trials, so a killed optimization resumes where it stopped. A study is one
#: (dataset, space, strategy, seed); a trial result is per (config, number of queries).
trials = Table(
    "trials",
    metadata,
    Column("study_id", String(64), primary_key=True),
    Column("trial_id", String(32), primary_key=True),
    Column("n_queries", Integer, primary_key=True),
    Column("rung", Integer, nullable=False),
    Column("result_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# --- serving (migration m003_serving) ------------------------------------------------------

#: API keys: only the sha256 of a key is stored; the key itself is shown once when created.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(200), nullable=False, index=True),
    Column("role", String(20), nullable=False),  # user | admin
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

#: One row per served answer: what was asked, retrieved, answered and how long each stage took.
traces = Table(
    "traces",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("collection", String(200), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("abstained", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("citations_json", Text, nullable=False),
    Column("sources_json", Text, nullable=False),
    Column("latency_json", Text, nullable=False),
    #: Answer-policy details: invalid markers dropped, attribution, language, endpoint.
    Column("details_json", Text, nullable=False),
    Column("config_hash", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_traces_tenant_created", "tenant", "created_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trace_id", String(36), ForeignKey("traces.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("tenant", String(200), nullable=False, index=True),
    Column("signal", String(20), nullable=False),
    Column("rating", Integer),
    Column("comment", Text),
    Column("correction", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: Served answers kept for repeated and paraphrased questions (llmpilot.cache): `scope` is the
#: identity of everything the answer depends on (collection version, config, prompt, model);
#: `doc_hashes_json` the content hash of each cited document when it was answered, so an answer
#: whose documents changed is never served again.
answer_cache = Table(
    "answer_cache",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("collection", String(200), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("question", Text, nullable=False),
    Column("normalized", Text, nullable=False),
    Column("vector", LargeBinary),
    Column("features_json", Text, nullable=False),
    Column("answer_json", Text, nullable=False),
    Column("doc_hashes_json", Text, nullable=False),
    Column("hits", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_hit_at", DateTime(timezone=True), nullable=False),
    Index("ix_answer_cache_scope", "tenant", "collection", "scope"),
    Index("ix_answer_cache_last_hit", "tenant", "collection", "last_hit_at"),
)


#: Fine-tuned adapters (llmpilot.finetune.registry): what was trained (method, base, the training data's
#: hash, the settings in `config_json`), how well (`metrics_json`) and where the adapter folder is.
adapters = Table(
    "adapters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("method", String(20), nullable=False),
    Column("base", String(500), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("adapter_dir", Text, nullable=False),
    Column("config_json", Text, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_adapters_name", "name"),
)
