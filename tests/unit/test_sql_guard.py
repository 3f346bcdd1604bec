from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from llmpilot.errors import LlmpilotError, SourceError
from llmpilot.sources.sql_guard import (
    UnsafeSqlError,
    _execute_read_only,
    check_read_only,
    run_read_only,
    with_limit,
)

REFUSED = {
    "INSERT INTO t VALUES (1)": "INSERT writes",
    "INSERT INTO t SELECT * FROM u": "INSERT writes",
    "UPDATE t SET a = 1": "UPDATE writes",
    "DELETE FROM t": "DELETE writes",
    "DROP TABLE t": "DROP writes",
    "CREATE TABLE x AS SELECT 1": "CREATE writes",
    "ALTER TABLE t ADD COLUMN b TEXT": "ALTER writes",
    "REPLACE INTO t VALUES (1)": "REPLACE writes",
    "ATTACH DATABASE 'other.db' AS other": "ATTACH writes",
    "DETACH other": "DETACH writes",
    "PRAGMA journal_mode = DELETE": "PRAGMA writes",
    "PRAGMA x = y": "PRAGMA writes",
    "PRAGMA table_info(t)": "PRAGMA writes",  # read-only pragmas too: every PRAGMA is refused
    "VACUUM": "VACUUM writes",
    "BEGIN": "BEGIN writes",
    "SELECT 1; DROP TABLE t": "2 statements",
    "SELECT 1 -- \n; DELETE FROM t": "2 statements",
    "SELECT 1; SELECT 2": "2 statements",
    "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone": "DELETE writes",
    "SELECT * INTO copy FROM t": "SELECT ... INTO",
    "SELECT * FROM t FOR UPDATE": "FOR UPDATE/SHARE",
    "SELECT load_extension('evil.so')": "load_extension() has side effects",
    "SELECT writefile('x', 'y')": "writefile() has side effects",
    "SELECT a FROM t WHERE a IN (SELECT readfile('/etc/passwd'))": "readfile() has side effects",
    "": "no SQL statement",
    "SELEC a FROM t": "",
}


@pytest.mark.parametrize("sql", list(REFUSED))
def test_writes_and_tricks_are_refused_with_a_reason(sql: str) -> None:
    with pytest.raises(UnsafeSqlError) as caught:
        check_read_only(sql)
    message = str(caught.value)
    assert REFUSED[sql] in message
    assert "\n" not in message
    assert isinstance(caught.value, LlmpilotError)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_sleep(10)",
        "SELECT nextval('seq')",
        "SELECT set_config('role', 'admin', false)",
        "SELECT pg_advisory_lock(1)",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT * FROM t FOR SHARE",
        "SELECT * INTO copy FROM t",
        "WITH x AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM x",
    ],
)
def test_postgres_side_effects_are_refused(sql: str) -> None:
    with pytest.raises(UnsafeSqlError):
        check_read_only(sql, dialect="postgres")


def test_unparseable_sql_says_so() -> None:
    with pytest.raises(UnsafeSqlError, match=r"^cannot parse: "):
        check_read_only("SELECT (1", dialect="sqlite")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT f.id, f.question || char(10) || f.answer AS text FROM faq AS f JOIN c ON c.id = f.cid",
        "WITH recent AS (SELECT * FROM faq WHERE updated_at > '2024-01-01') SELECT id FROM recent",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3) SELECT x FROM n",
        "SELECT id FROM a UNION SELECT id FROM b",
        "SELECT id FROM a INTERSECT SELECT id FROM b",
        "SELECT id FROM a EXCEPT SELECT id FROM b",
        "SELECT id FROM faq WHERE id IN (SELECT faq_id FROM tags WHERE tag = '배송')",
        "SELECT id, '자주 묻는 질문; DROP TABLE faq' AS text FROM faq WHERE status = '게시'",
        "SELECT 1;",
    ],
)
def test_read_only_selects_are_allowed(sql: str) -> None:
    checked = check_read_only(sql)
    assert checked.upper().startswith(("SELECT", "WITH"))
    assert check_read_only(checked) == checked  # the normalised form is stable


def test_korean_literals_survive_normalisation() -> None:
    assert "'배송'" in check_read_only("select id from faq where category = '배송'")


def test_with_limit_wraps_the_checked_query() -> None:
    assert with_limit("SELECT a FROM t UNION SELECT b FROM u", 5) == (
        "SELECT * FROM (SELECT a FROM t UNION SELECT b FROM u) AS preview LIMIT 5"
    )
    with pytest.raises(UnsafeSqlError):
        with_limit("DELETE FROM t", 5)


# --- execution guard ----------------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "kb.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE faq (id INTEGER PRIMARY KEY, question TEXT, answer TEXT)")
        conn.executemany(
            "INSERT INTO faq VALUES (?, ?, ?)",
            [(i, f"질문 {i}", f"answer {i}") for i in range(1, 8)],
        )
    conn.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_read_only_returns_columns_and_limited_rows(db_path: Path) -> None:
    before = _digest(db_path)
    columns, rows = run_read_only(
        f"sqlite:///{db_path}",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3) "
        "SELECT f.id, f.question || char(10) || f.answer AS text FROM faq AS f JOIN n ON n.x = f.id",
        2,
    )
    assert columns == ["id", "text"]
    assert rows == [(1, "질문 1\nanswer 1"), (2, "질문 2\nanswer 2")]
    assert _digest(db_path) == before


def test_run_read_only_refuses_writes_before_running_them(db_path: Path) -> None:
    before = _digest(db_path)
    with pytest.raises(UnsafeSqlError, match="DELETE writes"):
        run_read_only(f"sqlite:///{db_path}", "DELETE FROM faq", 10)
    assert _digest(db_path) == before


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM faq",
        "UPDATE faq SET answer = 'x'",
        "INSERT INTO faq VALUES (99, 'q', 'a')",
        "CREATE TABLE evil (x)",
        "DROP TABLE faq",
        "PRAGMA user_version = 7",
        "ATTACH DATABASE ':memory:' AS other",
        "WITH gone AS (SELECT 1) DELETE FROM faq",
    ],
)
def test_sqlite_itself_refuses_a_write_that_slips_past_the_parser(db_path: Path, sql: str) -> None:
    before = _digest(db_path)
    with pytest.raises(SourceError, match="query refused or failed"):
        _execute_read_only(f"sqlite:///{db_path}", sql, 10)  # the parser guard bypassed
    assert _digest(db_path) == before
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM faq").fetchone() == (7,)
    conn.close()


def test_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(SourceError, match="not found"):
        run_read_only(f"sqlite:///{missing}", "SELECT 1", 1)
    assert not missing.exists()


def test_errors_do_not_show_the_password() -> None:
    with pytest.raises(UnsafeSqlError) as caught:
        run_read_only("postgresql://reader:s3cret@db.example/kb", "DROP TABLE faq", 1)
    assert "s3cret" not in str(caught.value)
    assert "db.example" in str(caught.value)


def test_postgres_runs_inside_a_read_only_transaction(pg_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE faq (id INTEGER PRIMARY KEY, answer TEXT)"))
        conn.execute(text("INSERT INTO faq VALUES (1, '배송은 2일'), (2, '100% refund')"))
    columns, rows = run_read_only(
        pg_url, "SELECT id, answer FROM faq WHERE answer LIKE '%refund' ORDER BY id", 5
    )
    assert columns == ["id", "answer"] and rows == [(2, "100% refund")]
    with pytest.raises(SourceError, match="read-only transaction"):
        _execute_read_only(pg_url, "DELETE FROM faq", 5)  # the parser guard bypassed
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM faq")).scalar() == 2
    engine.dispose()
