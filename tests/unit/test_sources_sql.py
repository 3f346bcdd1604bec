from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmpilot.errors import SourceError
from llmpilot.sources import sql_unit
from llmpilot.sources.sql import safe_url


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    path = tmp_path / "kb.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE articles (article_id INTEGER, headline TEXT, body TEXT, lang TEXT)")
        conn.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?)",
            [
                (1, "Warranty", "The SolBox 10 battery is covered for ten years.", "en"),
                (2, "반품 정책", "반품은 구매 후 14일 이내에 신청할 수 있습니다.", "ko"),
                (3, None, None, "en"),
                (None, "orphan", "a row without an id", "en"),
                (1, "dup", "a second row with id 1", "en"),
            ],
        )
    return f"sqlite:///{path}"


def test_rows_become_documents(db_url: str) -> None:
    unit = sql_unit(
        db_url,
        "SELECT article_id, headline, body FROM articles ORDER BY rowid",
        text_column="body",
        id_column="article_id",
        title_column="headline",
    )
    assert unit.fingerprint is None
    assert unit.key.startswith("sql:")
    result = unit.load()
    assert [d.id for d in result.documents] == ["sql:1", "sql:2", "sql:3"]
    ko = result.documents[1]
    assert (ko.title, ko.text) == ("반품 정책", "반품은 구매 후 14일 이내에 신청할 수 있습니다.")
    assert ko.source == db_url
    assert ko.metadata == {"type": "sql"}
    assert result.documents[2].text == "" and result.documents[2].title == ""
    reasons = [p.reason for p in result.problems]
    assert len(reasons) == 2
    assert "id column 'article_id' is empty" in reasons[0]
    assert "duplicate id '1'" in reasons[1]


def test_key_depends_on_url_and_query(db_url: str) -> None:
    a = sql_unit(db_url, "SELECT * FROM articles", text_column="body", id_column="article_id")
    b = sql_unit(db_url, "SELECT * FROM articles", text_column="body", id_column="article_id")
    c = sql_unit(
        db_url, "SELECT * FROM articles WHERE lang = 'ko'", text_column="body", id_column="article_id"
    )
    assert a.key == b.key != c.key
    assert a.origin != c.origin
    assert [d.id for d in c.load().documents] == ["sql:2"]


def test_missing_column_names_it_and_lists_the_available_ones(db_url: str) -> None:
    unit = sql_unit(
        db_url, "SELECT article_id, body FROM articles", text_column="content", id_column="article_id"
    )
    with pytest.raises(SourceError) as info:
        unit.load()
    assert "'content'" in info.value.reason
    assert "available columns: article_id, body" in info.value.reason
    assert info.value.source == db_url


def test_column_names_match_case_insensitively(db_url: str) -> None:
    unit = sql_unit(
        db_url, "SELECT article_id AS ID, body AS Body FROM articles", text_column="body", id_column="id"
    )
    assert len(unit.load().documents) == 3


def test_bad_query_is_a_source_error(db_url: str) -> None:
    unit = sql_unit(db_url, "SELECT * FROM no_such_table", text_column="body", id_column="article_id")
    with pytest.raises(SourceError, match="no such table"):
        unit.load()


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    unit = sql_unit(f"sqlite:///{missing}", "SELECT 1", text_column="t", id_column="i")
    with pytest.raises(SourceError, match="database file not found"):
        unit.load()
    assert not missing.exists()


def test_passwords_never_show() -> None:
    url = "postgresql://kim:s3cr3t-pw@db.example:5432/kb?sslmode=require&password=also-secret"
    shown = safe_url(url)
    assert "s3cr3t-pw" not in shown and "also-secret" not in shown
    assert shown.startswith("postgresql://kim@db.example:5432/kb")
    unit = sql_unit(url, "SELECT 1", text_column="t", id_column="i")
    assert "s3cr3t-pw" not in unit.origin + unit.key + repr(unit)


def test_unreachable_database_error_hides_the_password(tmp_path: Path) -> None:
    # A sqlite URL whose "database" is a folder: connecting fails; the message must not leak anything.
    unit = sql_unit(f"sqlite:///{tmp_path}/", "SELECT 1", text_column="t", id_column="i")
    with pytest.raises(SourceError) as info:
        unit.load()
    assert info.value.source.startswith("sqlite:///")


def test_invalid_url_and_empty_query() -> None:
    with pytest.raises(SourceError, match="not a valid database URL"):
        sql_unit("not a url at all", "SELECT 1", text_column="t", id_column="i")
    with pytest.raises(SourceError, match="query is empty"):
        sql_unit("sqlite://", "  ", text_column="t", id_column="i")


def test_binary_values_are_skipped_and_reported_not_decoded(tmp_path: Path) -> None:
    path = tmp_path / "files.sqlite"
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE docs (id INTEGER, title BLOB, body BLOB)")
        conn.executemany(
            "INSERT INTO docs VALUES (?, ?, ?)",
            [
                (1, "Manual", "Plain text body."),
                (2, b"\xff\xd8 jpeg", "Text with a binary title."),
                (3, "Scan", png),
                (4, "Bytes", "UTF-8 text stored as a BLOB: 보증".encode()),
            ],
        )
    unit = sql_unit(
        f"sqlite:///{path}",
        "SELECT id, title, body FROM docs ORDER BY id",
        text_column="body",
        id_column="id",
        title_column="title",
    )
    result = unit.load()
    # Row 3's PNG bytes are not text: skipped, not ingested as U+FFFD soup.
    assert [(d.id, d.title, d.text) for d in result.documents] == [
        ("sql:1", "Manual", "Plain text body."),
        ("sql:2", "", "Text with a binary title."),
        ("sql:4", "Bytes", "UTF-8 text stored as a BLOB: 보증"),
    ]
    assert all("\ufffd" not in d.text + d.title for d in result.documents)
    reasons = sorted(p.reason for p in result.problems)
    assert len(reasons) == 2
    assert reasons[0].startswith("column 'body' holds binary data") and "rows 3" in reasons[0]
    assert "skipped" in reasons[0]
    assert reasons[1].startswith("column 'title' holds binary data") and "rows 2" in reasons[1]
    assert "titles were left empty" in reasons[1]
