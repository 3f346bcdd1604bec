"""Named, append-only migrations (after simonw/llm's llm/migrations.py).

Each migration carries its own DDL, frozen: it never reads the live tables of schema.py, so editing
schema.py cannot change what an old migration does. Never edit a migration that has shipped; add a
new one (with its own DDL) and update schema.py to match. tests/unit/test_migrations.py checks that
a fresh store equals schema.py and that stores made by older versions upgrade to the same schema.

The statements are portable SQL for SQLite and PostgreSQL. The only dialect switch is `_TYPES`:
the timestamp, binary and auto-increment id types, which the two spell differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, DateTime, String, column, insert, inspect, select, table

from llmpilot.errors import StoreError

Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []

#: Per-dialect spelling of the types plain SQL does not share. Frozen like the DDL itself: a
#: migration's meaning must not change, so a new spelling means a new key, not an edit.
_TYPES: dict[str, dict[str, str]] = {
    "sqlite": {"TIMESTAMPTZ": "DATETIME", "BINARY": "BLOB", "AUTO_ID": "INTEGER"},
    "postgresql": {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "BINARY": "BYTEA", "AUTO_ID": "SERIAL"},
}

SUPPORTED_DIALECTS = tuple(_TYPES)

#: The advisory lock key PostgreSQL stores are migrated under ('lpmigrat' in hex).
_MIGRATION_LOCK_KEY = 0x6C706D6967726174

_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS migrations (
    name VARCHAR(200) NOT NULL,
    applied_at {TIMESTAMPTZ} NOT NULL,
    PRIMARY KEY (name)
)
"""

# A lightweight handle on the bookkeeping table, local to this module (not schema.migrations).
_migrations = table("migrations", column("name", String), column("applied_at", DateTime(timezone=True)))


def migration(name: str) -> Callable[[Migration], Migration]:
    def decorator(fn: Migration) -> Migration:
        if any(existing == name for existing, _ in MIGRATIONS):
            raise RuntimeError(f"duplicate migration name {name!r}")
        MIGRATIONS.append((name, fn))
        return fn

    return decorator


def types_for(dialect: str) -> dict[str, str]:
    try:
        return _TYPES[dialect]
    except KeyError:
        raise StoreError(
            f"the store's database kind {dialect!r} is not supported (supported: "
            f"{', '.join(SUPPORTED_DIALECTS)}); set `store` to a sqlite:/// or postgresql:// URL"
        ) from None


def run_ddl(conn: Connection, statements: Sequence[str]) -> None:
    """Execute frozen DDL, filling in the dialect's type names."""
    types = types_for(conn.dialect.name)
    for statement in statements:
        conn.exec_driver_sql(statement.format(**types))


# --- the migrations, in order ------------------------------------------------------------------


M001_CORE: tuple[str, ...] = (
    """
    CREATE TABLE sources (
        "key" VARCHAR(1000) NOT NULL,
        origin VARCHAR(2000) NOT NULL,
        fingerprint VARCHAR(64),
        transforms_hash VARCHAR(32) NOT NULL,
        status VARCHAR(20) NOT NULL,
        error TEXT,
        updated_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY ("key")
    )
    """,
    "CREATE INDEX ix_sources_origin ON sources (origin)",
    """
    CREATE TABLE documents (
        id VARCHAR(1000) NOT NULL,
        source_key VARCHAR(1000) NOT NULL,
        source VARCHAR(2000) NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        content_hash VARCHAR(64) NOT NULL,
        language VARCHAR(16),
        metadata_json TEXT NOT NULL,
        duplicate_of VARCHAR(1000),
        updated_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY (source_key) REFERENCES sources ("key") ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_documents_source_key ON documents (source_key)",
    "CREATE INDEX ix_documents_content_hash ON documents (content_hash)",
    """
    CREATE TABLE chunks (
        chunk_set VARCHAR(32) NOT NULL,
        id VARCHAR(1100) NOT NULL,
        doc_id VARCHAR(1000) NOT NULL,
        idx INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        text TEXT NOT NULL,
        text_hash VARCHAR(64) NOT NULL,
        PRIMARY KEY (chunk_set, id),
        FOREIGN KEY (doc_id) REFERENCES documents (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_chunks_set_doc ON chunks (chunk_set, doc_id)",
    """
    CREATE TABLE chunked_documents (
        chunk_set VARCHAR(32) NOT NULL,
        doc_id VARCHAR(1000) NOT NULL,
        content_hash VARCHAR(64) NOT NULL,
        PRIMARY KEY (chunk_set, doc_id),
        FOREIGN KEY (doc_id) REFERENCES documents (id) ON DELETE CASCADE
    )
    """,
    """
    CREATE TABLE embeddings (
        model_id VARCHAR(300) NOT NULL,
        text_hash VARCHAR(64) NOT NULL,
        dim INTEGER NOT NULL,
        vector {BINARY} NOT NULL,
        PRIMARY KEY (model_id, text_hash)
    )
    """,
    """
    CREATE TABLE runs (
        id {AUTO_ID} NOT NULL,
        kind VARCHAR(40) NOT NULL,
        config_hash VARCHAR(32) NOT NULL,
        config_json TEXT NOT NULL,
        status VARCHAR(20) NOT NULL,
        started_at {TIMESTAMPTZ} NOT NULL,
        finished_at {TIMESTAMPTZ},
        stats_json TEXT,
        seconds FLOAT,
        PRIMARY KEY (id)
    )
    """,
    """
    CREATE TABLE ingest_problems (
        id {AUTO_ID} NOT NULL,
        run_id INTEGER NOT NULL,
        source VARCHAR(2000) NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_ingest_problems_run_id ON ingest_problems (run_id)",
)


@migration("m001_core")
def m001_core(conn: Connection) -> None:
    run_ddl(conn, M001_CORE)


M002_TRIALS: tuple[str, ...] = (
    """
    CREATE TABLE trials (
        study_id VARCHAR(64) NOT NULL,
        trial_id VARCHAR(32) NOT NULL,
        n_queries INTEGER NOT NULL,
        rung INTEGER NOT NULL,
        result_json TEXT NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (study_id, trial_id, n_queries)
    )
    """,
)


@migration("m002_trials")
def m002_trials(conn: Connection) -> None:
    run_ddl(conn, M002_TRIALS)


M003_SERVING: tuple[str, ...] = (
    """
    CREATE TABLE api_keys (
        id {AUTO_ID} NOT NULL,
        tenant VARCHAR(200) NOT NULL,
        role VARCHAR(20) NOT NULL,
        name VARCHAR(200) NOT NULL,
        key_hash VARCHAR(64) NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        revoked_at {TIMESTAMPTZ},
        PRIMARY KEY (id),
        UNIQUE (key_hash)
    )
    """,
    "CREATE INDEX ix_api_keys_tenant ON api_keys (tenant)",
    """
    CREATE TABLE traces (
        id VARCHAR(36) NOT NULL,
        tenant VARCHAR(200) NOT NULL,
        collection VARCHAR(200) NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        abstained INTEGER NOT NULL,
        reason TEXT NOT NULL,
        confidence FLOAT NOT NULL,
        citations_json TEXT NOT NULL,
        sources_json TEXT NOT NULL,
        latency_json TEXT NOT NULL,
        details_json TEXT NOT NULL,
        config_hash VARCHAR(32) NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_traces_tenant_created ON traces (tenant, created_at)",
    """
    CREATE TABLE feedback (
        id {AUTO_ID} NOT NULL,
        trace_id VARCHAR(36) NOT NULL,
        tenant VARCHAR(200) NOT NULL,
        signal VARCHAR(20) NOT NULL,
        rating INTEGER,
        comment TEXT,
        correction TEXT,
        created_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY (trace_id) REFERENCES traces (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_feedback_trace_id ON feedback (trace_id)",
    "CREATE INDEX ix_feedback_tenant ON feedback (tenant)",
)


@migration("m003_serving")
def m003_serving(conn: Connection) -> None:
    run_ddl(conn, M003_SERVING)


M004_ANSWER_CACHE: tuple[str, ...] = (
    """
    CREATE TABLE answer_cache (
        id VARCHAR(36) NOT NULL,
        tenant VARCHAR(200) NOT NULL,
        collection VARCHAR(200) NOT NULL,
        scope VARCHAR(64) NOT NULL,
        question TEXT NOT NULL,
        normalized TEXT NOT NULL,
        vector {BINARY},
        features_json TEXT NOT NULL,
        answer_json TEXT NOT NULL,
        doc_hashes_json TEXT NOT NULL,
        hits INTEGER NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        last_hit_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_answer_cache_scope ON answer_cache (tenant, collection, scope)",
    "CREATE INDEX ix_answer_cache_last_hit ON answer_cache (tenant, collection, last_hit_at)",
)


@migration("m004_answer_cache")
def m004_answer_cache(conn: Connection) -> None:
    run_ddl(conn, M004_ANSWER_CACHE)


M005_ADAPTERS: tuple[str, ...] = (
    """
    CREATE TABLE adapters (
        id VARCHAR(64) NOT NULL,
        name VARCHAR(200) NOT NULL,
        method VARCHAR(20) NOT NULL,
        base VARCHAR(500) NOT NULL,
        data_hash VARCHAR(64) NOT NULL,
        adapter_dir TEXT NOT NULL,
        config_json TEXT NOT NULL,
        metrics_json TEXT NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_adapters_name ON adapters (name)",
)


@migration("m005_adapters")
def m005_adapters(conn: Connection) -> None:
    run_ddl(conn, M005_ADAPTERS)


M006_MONITORING: tuple[str, ...] = (
    """
    CREATE TABLE trace_meta (
        trace_id VARCHAR(36) NOT NULL,
        config_version INTEGER,
        variant VARCHAR(20) NOT NULL,
        experiment_id INTEGER,
        spans_json TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        cost_usd FLOAT NOT NULL,
        PRIMARY KEY (trace_id),
        FOREIGN KEY (trace_id) REFERENCES traces (id) ON DELETE CASCADE
    )
    """,
    """
    CREATE TABLE config_versions (
        id {AUTO_ID} NOT NULL,
        config_hash VARCHAR(32) NOT NULL,
        config_yaml TEXT NOT NULL,
        source TEXT NOT NULL,
        note TEXT NOT NULL,
        status VARCHAR(20) NOT NULL,
        created_by VARCHAR(200) NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id)
    )
    """,
    """
    CREATE TABLE deployments (
        id {AUTO_ID} NOT NULL,
        action VARCHAR(20) NOT NULL,
        version INTEGER NOT NULL,
        previous_version INTEGER,
        actor VARCHAR(200) NOT NULL,
        evidence_json TEXT NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id)
    )
    """,
    """
    CREATE TABLE experiments (
        id {AUTO_ID} NOT NULL,
        candidate_version INTEGER NOT NULL,
        live_version INTEGER NOT NULL,
        mode VARCHAR(20) NOT NULL,
        fraction FLOAT NOT NULL,
        status VARCHAR(20) NOT NULL,
        started_at {TIMESTAMPTZ} NOT NULL,
        stopped_at {TIMESTAMPTZ},
        result_json TEXT,
        PRIMARY KEY (id)
    )
    """,
    """
    CREATE TABLE shadow_answers (
        id {AUTO_ID} NOT NULL,
        experiment_id INTEGER NOT NULL,
        trace_id VARCHAR(36) NOT NULL,
        config_version INTEGER NOT NULL,
        answer_json TEXT NOT NULL,
        scores_json TEXT NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY (experiment_id) REFERENCES experiments (id) ON DELETE CASCADE,
        FOREIGN KEY (trace_id) REFERENCES traces (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_shadow_answers_experiment_id ON shadow_answers (experiment_id)",
    """
    CREATE TABLE alerts (
        id {AUTO_ID} NOT NULL,
        kind VARCHAR(40) NOT NULL,
        severity VARCHAR(20) NOT NULL,
        collection VARCHAR(200) NOT NULL,
        title TEXT NOT NULL,
        message TEXT NOT NULL,
        evidence_json TEXT NOT NULL,
        delivered_json TEXT NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        acknowledged_at {TIMESTAMPTZ},
        PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_alerts_created_at ON alerts (created_at)",
    """
    CREATE TABLE monitor_runs (
        id {AUTO_ID} NOT NULL,
        kind VARCHAR(20) NOT NULL,
        collection VARCHAR(200) NOT NULL,
        config_version INTEGER,
        config_hash VARCHAR(32) NOT NULL,
        status VARCHAR(20) NOT NULL,
        baseline_id INTEGER,
        summary_json TEXT NOT NULL,
        items_json TEXT NOT NULL,
        started_at {TIMESTAMPTZ} NOT NULL,
        finished_at {TIMESTAMPTZ},
        PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_monitor_runs_kind_started ON monitor_runs (kind, started_at)",
    """
    CREATE TABLE review_items (
        id {AUTO_ID} NOT NULL,
        trace_id VARCHAR(36) NOT NULL,
        tenant VARCHAR(200) NOT NULL,
        collection VARCHAR(200) NOT NULL,
        reason VARCHAR(20) NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        proposed_answer TEXT,
        proposed_doc_ids_json TEXT NOT NULL,
        status VARCHAR(20) NOT NULL,
        reviewer VARCHAR(200),
        eval_item_id VARCHAR(200),
        created_at {TIMESTAMPTZ} NOT NULL,
        decided_at {TIMESTAMPTZ},
        PRIMARY KEY (id),
        UNIQUE (trace_id),
        FOREIGN KEY (trace_id) REFERENCES traces (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_review_items_status ON review_items (status)",
    """
    CREATE TABLE jobs (
        id {AUTO_ID} NOT NULL,
        kind VARCHAR(40) NOT NULL,
        reason TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        status VARCHAR(20) NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        finished_at {TIMESTAMPTZ},
        PRIMARY KEY (id)
    )
    """,
    """
    CREATE TABLE watched_sources (
        "key" VARCHAR(64) NOT NULL,
        kind VARCHAR(20) NOT NULL,
        spec_json TEXT NOT NULL,
        added_at {TIMESTAMPTZ} NOT NULL,
        last_synced_at {TIMESTAMPTZ},
        PRIMARY KEY ("key")
    )
    """,
)


@migration("m006_monitoring")
def m006_monitoring(conn: Connection) -> None:
    run_ddl(conn, M006_MONITORING)


#: What several `llmpilot serve` workers (processes, hosts) share besides keys and traces: sign-in
#: sessions (only the token's sha256 is stored) and each key's rate-limit window.
M007_SHARED_SERVING_STATE: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        token_hash VARCHAR(64) NOT NULL,
        key_id INTEGER NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        expires_at {TIMESTAMPTZ} NOT NULL,
        PRIMARY KEY (token_hash),
        FOREIGN KEY (key_id) REFERENCES api_keys (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_sessions_expires_at ON sessions (expires_at)",
    """
    CREATE TABLE rate_windows (
        key_id INTEGER NOT NULL,
        window_start FLOAT NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (key_id),
        FOREIGN KEY (key_id) REFERENCES api_keys (id) ON DELETE CASCADE
    )
    """,
)


@migration("m007_shared_serving_state")
def m007_shared_serving_state(conn: Connection) -> None:
    run_ddl(conn, M007_SHARED_SERVING_STATE)


#: The documents of each source unit exactly as they were loaded, before any transform, so that a new
#: transform plan re-derives the store's documents without re-reading files or databases (and `undo`
#: restores them); and the history of transform plans applied to the project.
M008_SOURCE_DOCUMENTS: tuple[str, ...] = (
    """
    CREATE TABLE source_documents (
        source_key VARCHAR(1000) NOT NULL,
        ordinal INTEGER NOT NULL,
        id VARCHAR(1000) NOT NULL,
        source VARCHAR(2000) NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        language VARCHAR(16),
        metadata_json TEXT NOT NULL,
        PRIMARY KEY (source_key, ordinal),
        FOREIGN KEY (source_key) REFERENCES sources ("key") ON DELETE CASCADE
    )
    """,
    """
    CREATE TABLE transform_versions (
        version INTEGER NOT NULL,
        steps_before_json TEXT NOT NULL,
        steps_after_json TEXT NOT NULL,
        plan_json TEXT NOT NULL,
        request TEXT,
        report_json TEXT NOT NULL,
        created_at {TIMESTAMPTZ} NOT NULL,
        undone_at {TIMESTAMPTZ},
        PRIMARY KEY (version)
    )
    """,
)


@migration("m008_source_documents")
def m008_source_documents(conn: Connection) -> None:
    run_ddl(conn, M008_SOURCE_DOCUMENTS)


# --- applying them ------------------------------------------------------------------------------


def applied(conn: Connection) -> list[str]:
    if not inspect(conn).has_table("migrations"):
        return []
    return [row[0] for row in conn.execute(select(_migrations.c.name))]


def pending(conn: Connection) -> list[str]:
    """Names of the migrations this store still needs; refuses a store migrated by a newer llmpilot."""
    done = set(applied(conn))
    unknown = done - {name for name, _ in MIGRATIONS}
    if unknown:
        raise StoreError(
            f"the store was migrated by a newer llmpilot (unknown migrations: {', '.join(sorted(unknown))}); "
            "upgrade llmpilot"
        )
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(conn: Connection) -> list[str]:
    """Apply pending migrations in order, in one transaction; returns the names applied now.

    Call it on a connection that has not executed anything yet in its transaction (engine.begin()).
    """
    if conn.dialect.name == "sqlite":
        # pysqlite does not wrap DDL in a transaction by itself: without this, a crash halfway left
        # half a migration behind. IMMEDIATE also takes the write lock before reading what is
        # applied, so two processes opening a new store at once migrate it once, one after the other.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        # PostgreSQL runs DDL in the transaction; a transaction-level advisory lock makes processes that
        # open a new store at once (serve workers) migrate it once, one after the other.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
    run_ddl(conn, (_MIGRATIONS_DDL,))
    todo = set(pending(conn))
    now_applied = []
    for name, fn in MIGRATIONS:
        if name not in todo:
            continue
        fn(conn)
        conn.execute(insert(_migrations).values(name=name, applied_at=datetime.now(UTC)))
        now_applied.append(name)
    return now_applied
