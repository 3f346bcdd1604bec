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


# --- monitoring and the improvement loop (migration m006_monitoring) ----------------------------

#: What each served trace ran with: the config version, the variant (live, or candidate in a traffic
#: split), the spans of its stages (llmpilot.monitoring.spans), tokens and the cost estimate.
trace_meta = Table(
    "trace_meta",
    metadata,
    Column("trace_id", String(36), ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True),
    Column("config_version", Integer),
    Column("variant", String(20), nullable=False),
    Column("experiment_id", Integer),
    Column("spans_json", Text, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
)

#: Every config the project has served or considered, kept forever (llmpilot.monitoring.versions).
config_versions = Table(
    "config_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("config_hash", String(32), nullable=False),
    Column("config_yaml", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("status", String(20), nullable=False),  # candidate | live | retired | rejected
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: Promotions and rollbacks, with who did it and the evidence it was decided on.
deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action", String(20), nullable=False),  # promote | rollback
    Column("version", Integer, nullable=False),
    Column("previous_version", Integer),
    Column("actor", String(200), nullable=False),
    Column("evidence_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: Online comparisons of a candidate with the live config: shadow traffic or a traffic split.
experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("candidate_version", Integer, nullable=False),
    Column("live_version", Integer, nullable=False),
    Column("mode", String(20), nullable=False),  # shadow | split
    Column("fraction", Float, nullable=False),
    Column("status", String(20), nullable=False),  # running | stopped
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
    Column("result_json", Text),
)

#: What the candidate answered to a live request in shadow mode (never shown to the user).
shadow_answers = Table(
    "shadow_answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("trace_id", String(36), ForeignKey("traces.id", ondelete="CASCADE"), nullable=False),
    Column("config_version", Integer, nullable=False),
    Column("answer_json", Text, nullable=False),
    Column("scores_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),  # quality_drop | drift | …
    Column("severity", String(20), nullable=False),  # warning | critical
    Column("collection", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence_json", Text, nullable=False),
    #: Where it was delivered (log, webhook status) and any delivery error.
    Column("delivered_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("acknowledged_at", DateTime(timezone=True)),
)

#: Scheduled re-evaluations (eval set, traffic sample) and drift checks, with per-item scores so the
#: next run can be compared with this one by a paired test.
monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # eval | traffic | drift
    Column("collection", String(200), nullable=False),
    Column("config_version", Integer),
    Column("config_hash", String(32), nullable=False),
    Column("status", String(20), nullable=False),  # running | done | failed
    Column("baseline_id", Integer),
    Column("summary_json", Text, nullable=False),
    Column("items_json", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_monitor_runs_kind_started", "kind", "started_at"),
)

#: Candidate eval items from feedback (a correction, thumbs-down, low rating) and abstained questions,
#: waiting for a reviewer; approved ones are written to the project's eval set with provenance.
review_items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trace_id", String(36), ForeignKey("traces.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("tenant", String(200), nullable=False),
    Column("collection", String(200), nullable=False),
    Column("reason", String(20), nullable=False),  # correction | thumbs_down | low_rating | abstained
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("proposed_answer", Text),
    Column("proposed_doc_ids_json", Text, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # pending | approved | rejected
    Column("reviewer", String(200)),
    Column("eval_item_id", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
)

#: Work queued for the monitor (a re-evaluation after `llmpilot sync` changed the documents).
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("status", String(20), nullable=False),  # queued | done
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

#: The folders, files and SQL queries `llmpilot ingest` was given: what `llmpilot sync` re-reads.
watched_sources = Table(
    "watched_sources",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),  # files | sql
    Column("spec_json", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("last_synced_at", DateTime(timezone=True)),
)

#: Browser sign-in sessions, shared by every server worker: the cookie's token is never stored, only
#: its sha256. Expired rows are deleted lazily (when a session is created).
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_id", Integer, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

#: Each API key's current rate-limit window (one row per key), counted by one atomic upsert so that
#: workers in several processes or hosts share one budget.
rate_windows = Table(
    "rate_windows",
    metadata,
    Column("key_id", Integer, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    #: Unix time (seconds) the window began: the key's first request after the previous one ended.
    Column("window_start", Float, nullable=False),
    Column("hits", Integer, nullable=False),
)

#: Each source unit's documents exactly as loaded (before transforms): what `transform apply` and
#: `transform undo` re-derive the documents table from, without re-reading files or databases.
source_documents = Table(
    "source_documents",
    metadata,
    Column("source_key", String(1000), ForeignKey("sources.key", ondelete="CASCADE"), primary_key=True),
    #: Load order within the unit (dedup and split ids depend on it).
    Column("ordinal", Integer, primary_key=True),
    Column("id", String(1000), nullable=False),
    Column("source", String(2000), nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(16)),
    Column("metadata_json", Text, nullable=False),
)

#: Transform plans applied to the project (`transform apply`), newest last; `transform undo` restores
#: `steps_before` of the newest version not yet undone.
transform_versions = Table(
    "transform_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("steps_before_json", Text, nullable=False),
    Column("steps_after_json", Text, nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("request", Text),
    #: What applying it changed (documents, chunks, …), as `transform apply` reported it.
    Column("report_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("undone_at", DateTime(timezone=True)),
)
