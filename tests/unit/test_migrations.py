"""Migrations carry their own frozen DDL: fresh stores equal schema.py, and stores made by older
versions (tests/fixtures/legacy_store.py) upgrade in place to the very same schema, rows kept."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, insert, inspect, select

from llmpilot.store import migrations, schema
from llmpilot.store.db import Store
from llmpilot.store.migrations import MIGRATIONS, applied
from llmpilot.store.serving import ServingStore
from llmpilot.store.shared_state import RateLimitStore, SessionStore
from llmpilot.types import Chunk, Document
from tests.fixtures.legacy_store import make_legacy_store

ALL = tuple(name for name, _ in MIGRATIONS)
#: The tables m006_monitoring adds.
MONITORING_TABLES = (
    "trace_meta", "config_versions", "deployments", "experiments", "shadow_answers", "alerts",
    "monitor_runs", "review_items", "jobs", "watched_sources",
)  # fmt: skip
#: The tables m007_shared_serving_state adds.
SHARED_STATE_TABLES = ("sessions", "rate_windows")
#: The tables m008_source_documents adds.
SOURCE_DOCUMENT_TABLES = ("source_documents", "transform_versions")


def _through(name: str) -> tuple[str, ...]:
    return ALL[: ALL.index(name) + 1]


#: Stores made by earlier releases (the migrations they applied), the tables added since and the
#: migrations that opening them applies: the previous release (m006) and an older one (m004).
RELEASES = [
    pytest.param(
        _through("m007_shared_serving_state"),
        set(SOURCE_DOCUMENT_TABLES),
        ("m008_source_documents",),
        id="m007",
    ),
    pytest.param(
        _through("m006_monitoring"),
        {*SHARED_STATE_TABLES, *SOURCE_DOCUMENT_TABLES},
        ("m007_shared_serving_state", "m008_source_documents"),
        id="m006",
    ),
    pytest.param(
        _through("m004_answer_cache"),
        {"adapters", *MONITORING_TABLES, *SHARED_STATE_TABLES, *SOURCE_DOCUMENT_TABLES},
        ("m005_adapters", "m006_monitoring", "m007_shared_serving_state", "m008_source_documents"),
        id="m004",
    ),
]


def _normalized(sql: str) -> str:
    """DDL text with layout differences (spaces, newlines, tabs) removed."""
    sql = re.sub(r"\s+", " ", sql.strip())
    return re.sub(r"\s*([(),])\s*", r"\1", sql)


def schema_of(path: Path) -> dict[str, Any]:
    """Everything about a SQLite store's schema: per table the columns (name, type, nullability,
    default), primary key, indexes, unique constraints and foreign keys, plus the DDL text."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        insp = inspect(engine)
        tables: dict[str, Any] = {}
        for name in insp.get_table_names():
            tables[name] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c["default"]) for c in insp.get_columns(name)
                ],
                "primary_key": insp.get_pk_constraint(name)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(name)
                ),
                "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(name)),
                "foreign_keys": sorted(
                    (
                        tuple(f["constrained_columns"]),
                        f["referred_table"],
                        tuple(f["referred_columns"]),
                        f["options"].get("ondelete"),
                    )
                    for f in insp.get_foreign_keys(name)
                ),
            }
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).all()
        return {"tables": tables, "ddl": {(t, n): _normalized(sql) for t, n, sql in rows}}
    finally:
        engine.dispose()


@pytest.fixture
def fresh_schema(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "fresh.db"
    Store.open(f"sqlite:///{path}").close()
    return schema_of(path)


def _insert_legacy_rows(path: Path) -> None:
    """Rows as the old code wrote them (SQLAlchemy's SQLite DATETIME text, float32 bytes)."""
    at = "2026-01-02 03:04:05.000006"
    vector = np.arange(4, dtype=np.float32).tobytes()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO sources VALUES ('k', 'o', 'f', 't', 'ok', NULL, ?)",
            (at,),
        )
        db.execute(
            "INSERT INTO documents VALUES "
            "('d1', 'k', 'src', '제목', '안녕하세요 세계', 'h1', 'ko', '{}', NULL, ?)",
            (at,),
        )
        db.execute("INSERT INTO chunks VALUES ('set1', 'd1#0', 'd1', 0, 0, 5, '안녕하세요', 'th')")
        db.execute("INSERT INTO chunked_documents VALUES ('set1', 'd1', 'h1')")
        db.execute("INSERT INTO embeddings VALUES ('model', 'th', 4, ?)", (vector,))
        db.execute(
            "INSERT INTO runs (kind, config_hash, config_json, status, started_at, finished_at, stats_json, "
            "seconds) VALUES ('ingest', 'c', '{}', 'done', ?, ?, '{}', 1.5)",
            (at, at),
        )
        db.execute("INSERT INTO ingest_problems (run_id, source, reason) VALUES (1, 'bad.pdf', 'broken')")
    db.close()


def _assert_legacy_rows_survive(store: Store) -> None:
    [stored] = store.documents()
    assert (stored.document.id, stored.document.title, stored.document.text) == (
        "d1",
        "제목",
        "안녕하세요 세계",
    )
    assert stored.source_key == "k" and stored.content_hash == "h1"
    chunks, hashes = store.chunks("set1")
    assert chunks == [Chunk("d1#0", "d1", "안녕하세요", 0, 5, 0)] and hashes == ["th"]
    assert store.chunked_state("set1") == {"d1": "h1"}
    np.testing.assert_array_equal(
        store.cached_embeddings("model", ["th"])["th"], np.arange(4, dtype=np.float32)
    )
    [run] = store.runs()
    assert (run["id"], run["status"], run["seconds"]) == (1, "done", 1.5)
    with store.engine.connect() as conn:
        problems = conn.execute(
            select(schema.ingest_problems.c.source, schema.ingest_problems.c.reason)
        ).all()
    assert [tuple(p) for p in problems] == [("bad.pdf", "broken")]


def _assert_store_writable(store: Store) -> None:
    """The upgraded store works for every table: the old ones and the ones migrations added."""
    with store.transaction() as conn:
        store.replace_source(
            conn,
            key="k2",
            origin="o",
            fingerprint="f",
            transforms_hash="t",
            documents=[(Document(id="d2", text="hello"), "h2", None)],
        )
    assert store.start_run("ingest", "c", {}) == 2  # the autoincrement id continues after the old row
    record, key = ServingStore(store).create_key("acme", "admin")
    assert ServingStore(store).key_for_secret(key) == record
    sessions = SessionStore(store, ttl_s=60.0)
    assert sessions.key_id(sessions.create(record.id)) == record.id
    assert RateLimitStore(store, per_minute=1).check(record.id) is None
    assert RateLimitStore(store, per_minute=1).check(record.id) is not None
    with store.transaction() as conn:
        conn.execute(
            insert(schema.trials).values(
                study_id="s",
                trial_id="t",
                n_queries=1,
                rung=0,
                result_json="{}",
                created_at=record.created_at,
            )
        )


def test_fresh_store_schema_is_what_schema_py_declares(tmp_path: Path, fresh_schema: dict[str, Any]) -> None:
    declared = tmp_path / "declared.db"
    engine = create_engine(f"sqlite:///{declared}")
    schema.metadata.create_all(engine)
    engine.dispose()
    assert set(fresh_schema["tables"]) == set(schema.metadata.tables)
    assert fresh_schema == schema_of(declared)


def test_m001_only_store_migrates_to_head_with_its_rows(tmp_path: Path, fresh_schema: dict[str, Any]) -> None:
    path = tmp_path / "old.db"
    make_legacy_store(path, ("m001_core",))
    _insert_legacy_rows(path)
    store = Store.open(f"sqlite:///{path}")
    with store.engine.connect() as conn:
        assert applied(conn) == list(ALL)
    _assert_legacy_rows_survive(store)
    _assert_store_writable(store)
    store.close()
    assert schema_of(path) == fresh_schema


@pytest.mark.parametrize(("made_by", "added_since", "to_apply"), RELEASES)
def test_store_made_by_an_earlier_version_opens_in_place(
    tmp_path: Path,
    fresh_schema: dict[str, Any],
    made_by: tuple[str, ...],
    added_since: set[str],
    to_apply: tuple[str, ...],
) -> None:
    path = tmp_path / "old.db"
    make_legacy_store(path, made_by)
    _insert_legacy_rows(path)
    before = schema_of(path)
    with sqlite3.connect(path) as db:
        recorded = db.execute("SELECT name, applied_at FROM migrations ORDER BY name").fetchall()
    db.close()
    # The frozen DDL creates exactly what the old code created (the tables added since aside).
    assert before["tables"] == {t: v for t, v in fresh_schema["tables"].items() if t not in added_since}

    store = Store.open(f"sqlite:///{path}")
    _assert_legacy_rows_survive(store)
    _assert_store_writable(store)
    store.close()
    with sqlite3.connect(path) as db:
        now = db.execute("SELECT name, applied_at FROM migrations ORDER BY name").fetchall()
    db.close()
    assert now[: len(recorded)] == recorded  # what was applied stays as it was recorded
    assert [name for name, _ in now[len(recorded) :]] == list(to_apply)
    assert schema_of(path) == fresh_schema


def test_a_failing_migration_leaves_nothing_half_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All pending migrations run in one transaction: on SQLite too (pysqlite autocommits DDL)."""
    path = tmp_path / "old.db"
    make_legacy_store(path, ("m001_core",))

    def m004_broken(conn: Any) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (id INTEGER NOT NULL, PRIMARY KEY (id))")
        raise RuntimeError("m004 failed halfway")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, ("m004_broken", m004_broken)])
    with pytest.raises(RuntimeError, match="halfway"):
        Store.open(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        names = [r[0] for r in db.execute("SELECT name FROM migrations")]
    db.close()
    # Neither m004's table nor the tables of m002/m003 (applied in the same run) were kept.
    assert "half_done" not in tables and "trials" not in tables and "api_keys" not in tables
    assert names == ["m001_core"]
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    Store.open(f"sqlite:///{path}").close()  # the fixed version then migrates normally


def test_migrations_do_not_import_schema_py() -> None:
    """The DDL is frozen in migrations.py: importing it must not pull in the live table definitions."""
    code = "import sys, llmpilot.store.migrations; print('llmpilot.store.schema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Opens the store at argv[1] once the file argv[2] exists (a start line shared by all processes).
OPENER = """
import sys, time
from pathlib import Path
from llmpilot.store.db import Store
from llmpilot.store.migrations import applied
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
store = Store.open(sys.argv[1])
with store.engine.connect() as conn:
    print(",".join(applied(conn)))
"""


@pytest.mark.parametrize("attempt", [1, 2])
def test_processes_opening_a_new_store_at_once_migrate_it_once(tmp_path: Path, attempt: int) -> None:
    """Before, they raced: "table migrations already exists" or a duplicate migrations row."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == ",".join(ALL)
    with sqlite3.connect(tmp_path / "new.db") as db:
        assert db.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(ALL)
    db.close()
