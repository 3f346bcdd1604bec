from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmpilot.sources.sql_agent import (
    DraftMismatchError,
    SchemaInfo,
    SqlDraftError,
    describe_schema,
    draft_json_schema,
    draft_query,
    first_json_object,
    model_draft,
    request_terms,
    rules_draft,
)
from llmpilot.sources.sql_guard import UnsafeSqlError, run_read_only

EVAL_DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "sql_agent"


@pytest.fixture(scope="module")
def eval_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql_agent") / "support.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript((EVAL_DATA / "schema.sql").read_text(encoding="utf-8"))
        conn.executescript((EVAL_DATA / "seed.sql").read_text(encoding="utf-8"))
    conn.close()
    return path


@pytest.fixture(scope="module")
def schema(eval_db: Path) -> SchemaInfo:
    return describe_schema(f"sqlite:///{eval_db}")


def _ids(url: str, sql: str) -> set[int]:
    columns, rows = run_read_only(url, sql, 1000)
    return {row[columns.index("id")] for row in rows}


# --- describe_schema ----------------------------------------------------------------------------


def test_describe_schema_reads_tables_keys_counts_and_values(eval_db: Path, schema: SchemaInfo) -> None:
    assert [t.name for t in schema.tables] == ["customers", "faq", "orders", "products", "tickets"]
    tickets = schema.table("tickets")
    assert tickets is not None and tickets.row_count == 20 and tickets.primary_key == ("id",)
    assert {(fk.columns, fk.table) for fk in tickets.foreign_keys} == {
        (("customer_id",), "customers"),
        (("product_id",), "products"),
    }
    status = tickets.column("status")
    assert status is not None and status.categories == ("closed", "open", "pending")
    body = tickets.column("body")
    assert body is not None and body.is_text and not body.categories
    assert 1 <= len(body.samples) <= 3 and all(len(s) <= 40 for s in body.samples)
    created = tickets.column("created_at")
    assert created is not None and not created.is_text
    email = schema.table("customers").column("email")  # type: ignore[union-attr]
    assert email is not None and email.samples == ()  # contact details never go into a prompt


def test_schema_prompt_is_compact_and_names_keys_and_values(schema: SchemaInfo) -> None:
    prompt = schema.as_prompt()
    assert "TABLE faq (20 rows; primary key (id))" in prompt
    assert "customer_id INTEGER NOT NULL  -> customers.id" in prompt
    assert "values: 'archived', 'draft', 'published'" in prompt
    assert "@example.com" not in prompt
    assert len(prompt) < 4000


def test_describe_schema_hides_the_password_and_does_not_change_the_file(eval_db: Path) -> None:
    before = hashlib.sha256(eval_db.read_bytes()).hexdigest()
    info = describe_schema(f"sqlite://user:s3cret@/{eval_db}")
    assert "s3cret" not in info.url and "s3cret" not in info.as_prompt()
    assert hashlib.sha256(eval_db.read_bytes()).hexdigest() == before


def test_describe_schema_on_an_untyped_table(tmp_path: Path) -> None:
    path = tmp_path / "loose.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body, tag)")
        conn.executemany(
            "INSERT INTO notes VALUES (?, ?)", [(f"note {i} " + "x" * 60, "a") for i in range(4)]
        )
    conn.close()
    notes = describe_schema(f"sqlite:///{path}").tables[0]
    body, tag = notes.columns
    assert body.is_text and body.samples[0].endswith("…") and len(body.samples[0]) == 40
    assert tag.categories == ("a",)
    assert notes.primary_key == ()


# --- rules drafting -----------------------------------------------------------------------------


def test_request_terms_use_the_bilingual_lexicon_and_prefer_longer_phrases() -> None:
    terms = request_terms("비활성 상품의 가격")
    assert {"inactive", "product", "price"} <= terms
    assert "active" not in terms  # "활성" inside "비활성" does not count
    assert {"faq", "published"} <= request_terms("게시된 FAQ만")


@pytest.mark.parametrize(
    ("request_text", "table", "where"),
    [
        ("자주 묻는 질문과 답변 전체", "faq", None),
        ("게시된 FAQ만 가져와 줘", "faq", "status = 'published'"),
        ("Only the published FAQ entries", "faq", "status = 'published'"),
        ("Electronics products", "products", "category = '가전'"),
        ("도서 상품 목록", "products", "category = '도서'"),
        ("우선순위가 높은 미해결 문의", "tickets", "status = 'open' AND priority = 'high'"),
        ("Open or pending tickets", "tickets", "status IN ('open', 'pending')"),
    ],
)
def test_rules_draft_picks_the_table_and_filters(
    schema: SchemaInfo, request_text: str, table: str, where: str | None
) -> None:
    draft = rules_draft(request_text, schema)
    assert draft.method == "rules"
    assert f"FROM {table}" in draft.sql
    assert (f"WHERE {where}" in draft.sql) if where else ("WHERE" not in draft.sql)
    assert draft.id_column == "id" and draft.text_column == "text"


def test_rules_draft_text_concatenates_text_columns_and_runs(eval_db: Path, schema: SchemaInfo) -> None:
    draft = rules_draft("Export all FAQ questions and answers", schema)
    assert draft.sql == "SELECT id, question || CHAR(10) || answer AS text, question FROM faq"
    assert draft.title_column == "question"
    columns, rows = run_read_only(f"sqlite:///{eval_db}", draft.sql, 1000)
    assert columns == ["id", "text", "question"] and len(rows) == 20
    assert rows[0][1] == "배송은 얼마나 걸리나요?\n결제 후 보통 2~3 영업일 안에 도착합니다."


def test_rules_draft_joins_a_named_parent_table_for_its_filter(eval_db: Path, schema: SchemaInfo) -> None:
    url = f"sqlite:///{eval_db}"
    for request_text in ("VIP 고객의 문의", "Tickets from VIP customers"):
        draft = rules_draft(request_text, schema)
        assert "JOIN customers ON tickets.customer_id = customers.id" in draft.sql
        assert "customers.tier = 'vip'" in draft.sql
        gold = "SELECT t.id FROM tickets t JOIN customers c ON c.id = t.customer_id WHERE c.tier = 'vip'"
        assert _ids(url, draft.sql) == _ids(url, gold)


def test_rules_draft_in_postgres_dialect_uses_its_functions(schema: SchemaInfo) -> None:
    postgres = SchemaInfo(url="postgresql://db/kb", dialect="postgres", tables=schema.tables)
    draft = rules_draft("상품 이름과 설명", postgres)
    assert "CHR(10)" in draft.sql and "COALESCE(description, '')" in draft.sql


def test_rules_draft_without_any_text_table_says_what_to_do() -> None:
    empty = SchemaInfo(url="sqlite:///x.db", dialect="sqlite", tables=())
    with pytest.raises(SqlDraftError, match="write the query yourself"):
        rules_draft("anything", empty)


# --- model drafting -----------------------------------------------------------------------------


class ScriptedGenerator:
    """A generator that replies with fixed text (the real protocol; no model needed)."""

    model_id = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        self.prompts.append(messages[-1]["content"])
        return self.reply

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> object:
        return iter([self.reply])


def _reply(sql: str, id_column: str = "id", text_column: str = "text", title: str | None = None) -> str:
    body = {"sql": sql, "id_column": id_column, "text_column": text_column, "title_column": title}
    return "Here is the query:\n```json\n" + json.dumps(body, ensure_ascii=False) + "\n```"


def test_model_draft_may_use_its_own_aliases_and_ctes(schema: SchemaInfo) -> None:
    sql = (
        "WITH recent(fid, body) AS (SELECT id, answer FROM faq WHERE updated_at >= '2024-05-01') "
        "SELECT fid AS id, body AS text FROM recent ORDER BY text"
    )
    draft = model_draft("recent FAQ", schema, ScriptedGenerator(_reply(sql)))
    assert draft.method == "model:scripted" and draft.text_column == "text"


def test_model_draft_is_checked_and_used(schema: SchemaInfo) -> None:
    generator = ScriptedGenerator(_reply("select id, answer as text from faq where category = 'refund'"))
    draft = draft_query("환불 관련 FAQ", schema, generator=generator)
    assert draft.method == "model:scripted"
    assert draft.sql == "SELECT id, answer AS text FROM faq WHERE category = 'refund'"
    assert "TABLE faq" in generator.prompts[0] and "환불 관련 FAQ" in generator.prompts[0]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (_reply("DELETE FROM faq"), "DELETE writes"),
        (_reply("SELECT id, answer AS text FROM faq; DROP TABLE faq"), "2 statements"),
        (_reply("SELECT id, body AS text FROM secrets"), "table 'secrets'"),
        (_reply("SELECT * FROM products WHERE product_id = 1"), "column 'product_id'"),
        (_reply("SELECT id, answer FROM faq"), "text_column 'text' is not a column"),
        ("I cannot help with that.", "no JSON object"),
    ],
)
def test_unusable_model_drafts_fall_back_to_rules_with_a_note(
    schema: SchemaInfo, reply: str, reason: str
) -> None:
    draft = draft_query("환불 관련 FAQ", schema, generator=ScriptedGenerator(reply))
    assert draft.method == "rules"
    assert "category = 'refund'" in draft.sql
    assert reason in draft.notes[0]


def test_model_draft_errors_separate_guard_from_mismatch(schema: SchemaInfo) -> None:
    with pytest.raises(UnsafeSqlError):
        model_draft("x", schema, ScriptedGenerator(_reply("UPDATE faq SET answer = ''")))
    with pytest.raises(DraftMismatchError):
        model_draft("x", schema, ScriptedGenerator(_reply("SELECT id, answer AS text FROM nowhere")))


def test_json_schema_offers_schema_columns_and_aliases(schema: SchemaInfo) -> None:
    spec = draft_json_schema(schema)
    names = spec["properties"]["text_column"]["enum"]
    assert {"question", "answer", "subject", "text", "title", "id"} <= set(names)
    assert None in spec["properties"]["title_column"]["enum"]
    assert spec["required"] == ["sql", "id_column", "text_column", "title_column"]


def test_first_json_object_skips_prose_and_broken_braces() -> None:
    assert first_json_object('note {not json} then {"sql": "SELECT 1"}') == {"sql": "SELECT 1"}
    with pytest.raises(SqlDraftError):
        first_json_object("[1, 2]")


def test_postgres_schema_and_rules_draft_run_read_only(pg_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE faq (id INTEGER PRIMARY KEY, question TEXT, answer TEXT, status TEXT)")
        )
        conn.execute(
            text(
                "INSERT INTO faq VALUES (1, 'Q1', 'A1', 'published'), (2, '질문', '답', 'published'), "
                "(3, 'Q3', NULL, 'draft')"
            )
        )
    engine.dispose()
    info = describe_schema(pg_url)
    assert info.dialect == "postgres"
    draft = rules_draft("published FAQ", info)
    assert "CHR(10)" in draft.sql and "status = 'published'" in draft.sql
    columns, rows = run_read_only(pg_url, draft.sql, 10)
    assert sorted(r[columns.index("text")] for r in rows) == ["Q1\nA1", "질문\n답"]
