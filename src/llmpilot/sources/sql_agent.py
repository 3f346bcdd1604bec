"""SQL drafting for SQL sources: describe a database, then turn a plain-language request (Korean or
English) into a read-only SELECT plus the id/text/title columns that `sql_unit` reads.

Two drafters. The rules drafter needs no model: it picks the table whose name, columns and values
best overlap the request (through a small bilingual lexicon), concatenates its text columns, filters
on categorical values the request names and joins a second table only when the request names it and
a foreign key links them. The model drafter asks a generator for JSON constrained to the schema's
column names; its SQL must pass `check_read_only`, read only existing tables and columns and return
the columns it claims, else the rules draft is used and the notes say why. Nothing shown carries
the URL's password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from llmpilot.errors import LlmpilotError, ModelNotAvailableError, SourceError
from llmpilot.sources.sql import _scrub, safe_url
from llmpilot.sources.sql_guard import check_read_only, dialect_of, sqlite_read_only_target


class SqlDraftError(LlmpilotError):
    """No usable SQL draft (no table with text, or a model reply that cannot be used)."""


class DraftMismatchError(SqlDraftError):
    """A model's SQL passed the read-only guard but reads an unknown table or column, or lacks a
    column it claims."""


#: Sample values shown per column, and their length in characters.
MAX_SAMPLES = 3
MAX_SAMPLE_CHARS = 40
#: A text column with at most this many distinct (short, repeating) values is categorical.
MAX_CATEGORIES = 12
#: Column names that hold contact details or secrets: never sampled, never put into document text.
_PRIVATE_NAMES = ("email", "phone", "password", "passwd", "token", "secret", "ssn", "rrn")
_DATE_SUFFIXES = ("_at", "_on", "date", "time", "timestamp")
#: Preferred title columns, best first.
_TITLE_NAMES = ("title", "subject", "headline", "heading", "name", "question")


# --- schema -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool = True
    #: Holds text (a string type, or untyped with string values), not a date.
    is_text: bool = False
    #: Up to MAX_SAMPLES distinct values, most frequent first, each cut to MAX_SAMPLE_CHARS.
    samples: tuple[str, ...] = ()
    #: Every distinct value when the column is categorical (few short repeating values), else ().
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_count: int | None = None

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def key_columns(self) -> set[str]:
        """Primary- and foreign-key columns: identifiers, never text or filters by meaning."""
        return set(self.primary_key) | {c for fk in self.foreign_keys for c in fk.columns}


@dataclass(frozen=True)
class SchemaInfo:
    url: str  # without the password (safe_url)
    dialect: str  # sqlglot dialect name
    tables: tuple[TableInfo, ...]

    def table(self, name: str) -> TableInfo | None:
        return next((t for t in self.tables if t.name.lower() == name.lower()), None)

    def column_names(self) -> list[str]:
        return sorted({c.name for t in self.tables for c in t.columns})

    def as_prompt(self) -> str:
        """Compact text for a model prompt: tables, typed columns, keys, row counts, values."""
        lines = [f"Database dialect: {self.dialect}"]
        for table in self.tables:
            lines.append("")
            lines.extend(_table_prompt(table))
        return "\n".join(lines)


def _table_prompt(table: TableInfo) -> list[str]:
    rows = f"{table.row_count} rows" if table.row_count is not None else "rows unknown"
    key = f"; primary key ({', '.join(table.primary_key)})" if table.primary_key else ""
    lines = [f"TABLE {table.name} ({rows}{key})"]
    links = {c: fk for fk in table.foreign_keys for c in fk.columns}
    for col in table.columns:
        parts = [f"  {col.name} {col.type}" + ("" if col.nullable else " NOT NULL")]
        if col.name in links:
            fk = links[col.name]
            parts.append(f"-> {fk.table}.{fk.ref_columns[fk.columns.index(col.name)]}")
        if col.categories:
            parts.append("values: " + ", ".join(_quoted(v) for v in col.categories))
        elif col.samples:
            parts.append("e.g. " + ", ".join(_quoted(v) for v in col.samples))
        lines.append("  ".join(parts))
    return lines


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def describe_schema(url: str, *, max_tables: int = 50) -> SchemaInfo:
    """Tables, typed columns, keys, row counts and sample values of the database at `url`
    (SQLite is opened read-only)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    shown = safe_url(url)
    engine = _engine(url, shown)
    try:
        inspector = inspect(engine)
        names = sorted(inspector.get_table_names())[:max_tables]
        with engine.connect() as conn:
            tables = tuple(_describe_table(inspector, conn, name) for name in names)
    except SQLAlchemyError as exc:
        detail = _scrub(str(getattr(exc, "orig", None) or exc).splitlines()[0], url)
        raise SourceError(shown, f"cannot read the schema: {type(exc).__name__}: {detail}") from None
    finally:
        engine.dispose()
    return SchemaInfo(url=shown, dialect=dialect_of(url), tables=tables)


def _engine(url: str, shown: str) -> Any:
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(url)
        except ModuleNotFoundError as exc:
            raise SourceError(
                shown, f"the database driver is not installed; pip install {exc.name}"
            ) from None
    # Read-only, and never creating an empty file for a mistyped path.
    target = sqlite_read_only_target(parsed.database, shown)
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(target, uri=True))


def _describe_table(inspector: Any, conn: Any, name: str) -> TableInfo:
    from sqlalchemy import func, select, table

    primary = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
    foreign = tuple(
        ForeignKey(tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
        for fk in inspector.get_foreign_keys(name)
        if fk.get("referred_table")
    )
    count = conn.execute(select(func.count()).select_from(table(name))).scalar()
    columns = tuple(_describe_column(conn, name, info, primary) for info in inspector.get_columns(name))
    return TableInfo(name, columns, primary, foreign, int(count) if count is not None else None)


def _describe_column(
    conn: Any, table_name: str, info: dict[str, Any], primary: tuple[str, ...]
) -> ColumnInfo:
    from sqlalchemy import Date, DateTime, String, Time
    from sqlalchemy.types import NullType

    name, col_type = str(info["name"]), info["type"]
    shown_type = _type_name(col_type)
    datelike = isinstance(col_type, (Date, DateTime, Time)) or name.lower().endswith(_DATE_SUFFIXES)
    maybe_text = isinstance(col_type, (String, NullType)) and not datelike and name not in primary
    base = ColumnInfo(name=name, type=shown_type, nullable=bool(info.get("nullable", True)))
    if not maybe_text or _private(name):  # no samples of contact details or secrets in prompts
        return ColumnInfo(base.name, base.type, base.nullable, is_text=maybe_text)
    return _with_values(conn, table_name, base, col_type)


def _private(column_name: str) -> bool:
    return any(p in column_name.lower() for p in _PRIVATE_NAMES)


def _with_values(conn: Any, table_name: str, base: ColumnInfo, col_type: Any) -> ColumnInfo:
    from sqlalchemy import String, column, func, select, table

    name = base.name
    col: Any = column(name)
    counted = (
        select(col, func.count())
        .select_from(table(table_name))
        .where(col.is_not(None))
        .group_by(col)
        .order_by(func.count().desc(), col)
        .limit(MAX_CATEGORIES + 1)
    )
    groups = [(value, int(n)) for value, n in conn.execute(counted) if isinstance(value, str)]
    if not groups:
        return ColumnInfo(base.name, base.type, base.nullable, is_text=isinstance(col_type, String))
    samples = tuple(_cut(value) for value, _ in groups[:MAX_SAMPLES])
    categorical = (
        len(groups) <= MAX_CATEGORIES
        and max(n for _, n in groups) > 1
        and all(len(value) <= MAX_SAMPLE_CHARS for value, _ in groups)
    )
    categories = tuple(sorted(value for value, _ in groups)) if categorical else ()
    return ColumnInfo(base.name, base.type, base.nullable, True, samples, categories)


def _type_name(col_type: Any) -> str:
    try:
        return str(col_type)
    except Exception:  # some dialect types cannot render without a dialect
        return type(col_type).__name__


def _cut(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= MAX_SAMPLE_CHARS else flat[: MAX_SAMPLE_CHARS - 1] + "…"


# --- drafts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlDraft:
    sql: str
    id_column: str
    text_column: str
    title_column: str | None
    method: str  # "rules" | "model:<model id>"
    notes: tuple[str, ...] = field(default_factory=tuple)


def draft_query(request: str, schema: SchemaInfo, *, generator: object | None = None) -> SqlDraft:
    """A read-only SELECT for `request`: the generator's when it gives a usable one, else the rules'."""
    if generator is None:
        return rules_draft(request, schema)
    try:
        return model_draft(request, schema, generator)
    except ModelNotAvailableError:
        raise  # a missing model is the user's to fix, not a reason to quietly use rules
    except LlmpilotError as exc:
        fallback = rules_draft(request, schema)
        note = f"model draft not used ({exc}); this is the rule-based draft"
        return replace(fallback, notes=(note, *fallback.notes))


# --- the rules drafter --------------------------------------------------------------------------

#: Bilingual concepts: any phrase found in a request adds every word of its group to the request's
#: terms, so "활성 상품" matches a `products` table and the value 'active'.
_LEXICON: tuple[tuple[str, ...], ...] = (
    ("faq", "faqs", "frequently asked questions", "자주 묻는 질문", "자주묻는질문", "자주 하는 질문"),
    ("product", "item", "goods", "상품", "제품"),
    ("ticket", "inquiry", "inquiries", "support request", "문의", "티켓", "상담"),
    ("customer", "client", "고객", "회원"),
    ("order", "purchase", "주문", "구매"),
    ("active", "활성", "판매 중", "판매중"),
    ("inactive", "비활성"),
    ("published", "게시", "공개"),
    ("unpublished", "draft", "초안", "임시", "미게시", "비공개"),
    ("archived", "보관"),
    ("closed", "resolved", "종료", "닫힌", "해결된", "해결 완료"),
    ("open", "unresolved", "미해결", "열린", "진행 중", "진행중"),
    ("pending", "on hold", "보류", "대기"),
    ("answer", "답변"),
    ("question", "질문"),
    ("title", "제목"),
    ("price", "가격"),
    ("name", "이름", "성함"),
    ("description", "설명"),
    ("category", "분류", "카테고리"),
    ("status", "상태"),
    ("priority", "우선순위"),
    ("high", "urgent", "높은", "긴급"),
    ("low", "낮은"),
    ("billing", "payment", "결제", "청구"),
    ("shipping", "delivery", "배송"),
    ("refund", "환불"),
    ("account", "계정"),
    ("electronics", "appliance", "appliances", "가전", "전자제품"),
    ("book", "도서"),
    ("clothing", "apparel", "의류"),
    ("discontinued", "단종", "판매 중지", "판매중지"),
    ("country", "국가", "나라"),
    ("korea", "kr", "한국"),
    ("usa", "us", "united states", "미국"),
    ("vip",),
)
#: Korean particles and endings stripped from the end of a word ("상품의" -> "상품").
_PARTICLES = (
    "에서",
    "으로",
    "에게",
    "까지",
    "부터",
    "만",
    "을",
    "를",
    "이",
    "가",
    "은",
    "는",
    "의",
    "과",
    "와",
    "도",
    "로",
    "에",
)
_WORD = re.compile(r"[0-9a-z_]+|[가-힣]+")
_TOKEN_BOUNDARY = r"(?<![0-9a-z_]){}(?![0-9a-z_])"


def _stem(word: str) -> str:
    word = word.lower()
    if word.isascii():
        if word.endswith("ies") and len(word) > 4:
            return word[:-3] + "y"
        if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            return word[:-1]
        return word
    for particle in _PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word


def request_terms(request: str) -> set[str]:
    """The request's words (stemmed), plus every word of each lexicon group it mentions."""
    text = request.lower()
    terms: set[str] = set()
    phrases = sorted(((p, g) for g in _LEXICON for p in g), key=lambda pg: -len(pg[0]))
    for phrase, group in phrases:
        pattern = _TOKEN_BOUNDARY.format(re.escape(phrase)) if phrase.isascii() else re.escape(phrase)
        if re.search(pattern, text):
            terms |= {_stem(w) for w in group}
            # Masked so that a shorter phrase inside it ("활성" in "비활성") does not match as well.
            text = re.sub(pattern, " ", text)
    for word in _WORD.findall(text):
        terms |= {word, _stem(word)}
    return terms


def _identifier_terms(name: str) -> set[str]:
    parts = [p for p in re.split(r"[_\W]+", name.lower()) if p]
    return {_stem(name)} | {_stem(p) for p in parts}


def _value_matches(value: str, terms: set[str], request: str) -> bool:
    words = _WORD.findall(value.lower())
    if len(words) == 1:
        return _stem(words[0]) in terms or words[0] in terms
    return bool(words) and " ".join(words) in " ".join(_WORD.findall(request.lower()))


def _text_columns(table: TableInfo) -> list[ColumnInfo]:
    keys = table.key_columns
    return [
        c
        for c in table.columns
        if c.is_text and not c.categories and c.name not in keys and not _private(c.name)
    ]


def _table_score(table: TableInfo, terms: set[str], request: str) -> float:
    score = 3.0 if _identifier_terms(table.name) & terms else 0.0
    keys = table.key_columns
    for col in table.columns:
        if col.name not in keys and _identifier_terms(col.name) & terms:
            score += 1.0
        score += sum(1.0 for v in col.categories if _value_matches(v, terms, request))
        if not col.categories:
            sample_words = {_stem(w) for s in col.samples for w in _WORD.findall(s.lower())}
            score += min(1.0, 0.25 * len(sample_words & terms))
    return score


def rules_draft(request: str, schema: SchemaInfo) -> SqlDraft:
    """The rule-based draft (no model): see the module docstring."""
    terms = request_terms(request)
    candidates = [t for t in schema.tables if _text_columns(t)]
    if not candidates:
        raise SqlDraftError(
            f"{schema.url}: no table has a text column to read documents from; write the query yourself"
        )
    scores = {t.name: _table_score(t, terms, request) for t in candidates}
    primary = max(candidates, key=lambda t: scores[t.name])  # ties: the first table by name
    notes: list[str] = []
    if scores[primary.name] == 0:
        notes.append(f"no table matched the request's words; chose {primary.name}, the first table with text")
    primary, joined = _choose_join(primary, schema, terms)
    return _build_draft(primary, joined, terms, request, schema.dialect, notes)


def _named(table: TableInfo, terms: set[str]) -> bool:
    return bool(_identifier_terms(table.name) & terms)


def _link(child: TableInfo, parent: TableInfo) -> ForeignKey | None:
    return next((fk for fk in child.foreign_keys if fk.table.lower() == parent.name.lower()), None)


def _choose_join(
    primary: TableInfo, schema: SchemaInfo, terms: set[str]
) -> tuple[TableInfo, tuple[TableInfo, ForeignKey] | None]:
    """(the table the rows come from, the parent table to join for filters). When the request names
    two tables linked by a foreign key, rows come from the child (it holds the key), so that each
    id appears once."""
    for other in schema.tables:
        if other.name == primary.name or not _named(other, terms):
            continue
        fk = _link(primary, other)
        if fk is not None:
            return primary, (other, fk)
        back = _link(other, primary)
        if back is not None and _text_columns(other):
            return other, (primary, back)
    return primary, None


def _filters(table: TableInfo, terms: set[str], request: str, qualify: bool) -> list[str]:
    conditions = []
    for col in table.columns:
        values = [v for v in col.categories if _value_matches(v, terms, request)]
        if not values:
            continue
        target = _column_ref(table.name, col.name, qualify)
        if len(values) == 1:
            conditions.append(f"{target} = {_quoted(values[0])}")
        else:
            conditions.append(f"{target} IN ({', '.join(_quoted(v) for v in values)})")
    return conditions


#: Words that must be quoted as identifiers (sqlglot normalises the rest).
_RESERVED = frozenset(
    [
        "order",
        "group",
        "select",
        "from",
        "where",
        "table",
        "index",
        "key",
        "user",
        "limit",
        "offset",
        "join",
        "on",
        "as",
        "by",
        "and",
        "or",
        "not",
        "null",
        "values",
        "default",
        "check",
        "case",
        "when",
        "then",
        "else",
        "end",
        "union",
        "all",
        "distinct",
        "having",
        "in",
        "is",
        "like",
        "between",
        "primary",
        "references",
        "foreign",
        "unique",
        "create",
        "drop",
        "insert",
        "update",
        "delete",
        "into",
        "set",
        "to",
        "with",
        "desc",
        "asc",
        "column",
        "constraint",
        "text",
        "date",
        "time",
        "transaction",
    ]
)


def _ident(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def _column_ref(table: str, column: str, qualify: bool) -> str:
    return f"{_ident(table)}.{_ident(column)}" if qualify else _ident(column)


def _id_column(table: TableInfo, notes: list[str]) -> str:
    if len(table.primary_key) == 1:
        return table.primary_key[0]
    if table.primary_key:
        notes.append(f"{table.name} has a composite primary key; the id is its first column only")
        return table.primary_key[0]
    named_id = next((c.name for c in table.columns if c.name.lower() == "id"), None)
    if named_id:
        return named_id
    notes.append(f"{table.name} has no primary key; using its first column as the id")
    return table.columns[0].name


def _title_column(text_columns: Sequence[ColumnInfo]) -> str | None:
    by_name = {c.name.lower(): c.name for c in text_columns}
    return next((by_name[n] for n in _TITLE_NAMES if n in by_name), None)


def _build_draft(
    primary: TableInfo,
    joined: tuple[TableInfo, ForeignKey] | None,
    terms: set[str],
    request: str,
    dialect: str,
    notes: list[str],
) -> SqlDraft:
    qualify = joined is not None
    text_cols = _text_columns(primary)
    id_col = _id_column(primary, notes)
    title = _title_column(text_cols)

    def ref(column: str) -> str:
        return _column_ref(primary.name, column, qualify)

    # COALESCE for nullable columns: `||` with one NULL would make the whole text NULL.
    pieces = [ref(c.name) if not c.nullable else f"COALESCE({ref(c.name)}, '')" for c in text_cols]
    select = [ref(id_col), " || char(10) || ".join(pieces) + " AS text"]
    if title:
        select.append(ref(title))
    sql = f"SELECT {', '.join(select)} FROM {_ident(primary.name)}"
    conditions = _filters(primary, terms, request, qualify)
    if joined is not None:
        parent, fk = joined
        on = " AND ".join(
            f"{_column_ref(primary.name, c, True)} = {_column_ref(parent.name, r, True)}"
            for c, r in zip(fk.columns, fk.ref_columns, strict=True)
        )
        sql += f" JOIN {_ident(parent.name)} ON {on}"
        conditions += _filters(parent, terms, request, True)
        notes.append(f"joined {parent.name} through {', '.join(fk.columns)} to filter by it")
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    return SqlDraft(
        sql=check_read_only(_in_dialect(sql, dialect), dialect=dialect),
        id_column=id_col,
        text_column="text",
        title_column=title,
        method="rules",
        notes=tuple(notes),
    )


def _in_dialect(sqlite_sql: str, dialect: str) -> str:
    """The SQLite-flavoured draft in the database's dialect (`||` and char(10) differ elsewhere)."""
    if dialect == "sqlite":
        return sqlite_sql
    import sqlglot

    return str(sqlglot.transpile(sqlite_sql, read="sqlite", write=dialect)[0])


# --- the model drafter --------------------------------------------------------------------------

_ALIASES = ("id", "text", "title")
_SYSTEM = (
    "You write one read-only SQL SELECT for a {dialect} database so that each result row becomes one "
    "document for a knowledge base. Use only the tables and columns listed. Return JSON with: sql (the "
    "SELECT), id_column (the result column with a unique id per row), text_column (the result column with "
    "the document text; concatenate several text columns into one aliased text if needed), title_column "
    "(a result column with a short title, or null). Never write INSERT, UPDATE, DELETE or DDL."
)

#: A worked example on a table outside any real schema (small models copy the shape of a reply).
_EXAMPLE_REPLY = {
    "sql": "SELECT article_id, headline || char(10) || body AS text, headline FROM articles "
    "WHERE state = 'published'",
    "id_column": "article_id",
    "text_column": "text",
    "title_column": "headline",
}
_EXAMPLE = (
    "Example, for TABLE articles (article_id, headline, body, state) and the request 'published articles':\n"
    + json.dumps(_EXAMPLE_REPLY)
)


def draft_json_schema(schema: SchemaInfo) -> dict[str, Any]:
    """The JSON schema a model reply must match: the column fields name schema columns or aliases."""
    names = sorted(set(schema.column_names()) | set(_ALIASES))
    return {
        "type": "object",
        "properties": {
            "sql": {"type": "string"},
            "id_column": {"type": "string", "enum": names},
            "text_column": {"type": "string", "enum": names},
            "title_column": {"enum": [*names, None]},
        },
        "required": ["sql", "id_column", "text_column", "title_column"],
        "additionalProperties": False,
    }


def draft_messages(request: str, schema: SchemaInfo) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": _SYSTEM.format(dialect=schema.dialect) + "\n" + _EXAMPLE},
        {"role": "user", "content": f"{schema.as_prompt()}\n\nRequest: {request}\nJSON:"},
    ]


def model_draft(request: str, schema: SchemaInfo, generator: object, *, max_tokens: int = 320) -> SqlDraft:
    """The generator's draft, checked; SqlDraftError / UnsafeSqlError when it cannot be used."""
    reply = _generate(generator, draft_messages(request, schema), draft_json_schema(schema), max_tokens)
    data = first_json_object(reply)
    fields = _reply_fields(data)
    sql = check_read_only(fields["sql"] or "", dialect=schema.dialect)
    _check_names(sql, schema)
    outputs = _output_columns(sql, schema)
    for role in ("id_column", "text_column", "title_column"):
        name = fields[role]
        if name is not None and name.lower() not in outputs:
            raise DraftMismatchError(f"{role} {name!r} is not a column of the SELECT's result")
    model_id = str(getattr(generator, "model_id", type(generator).__name__))
    return SqlDraft(
        sql=sql,
        id_column=str(fields["id_column"]),
        text_column=str(fields["text_column"]),
        title_column=fields["title_column"],
        method=f"model:{model_id}",
    )


def _generate(
    generator: object, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int
) -> str:
    try:
        from llmpilot.generation.structured import generate_json, supports_json
    except ImportError:  # an install without structured output: plain text, JSON picked out below
        supports_json = None  # type: ignore[assignment]
    if supports_json is not None and supports_json(generator):
        return generate_json(generator, messages, schema, max_tokens)
    generate = getattr(generator, "generate", None)
    if generate is None:
        raise SqlDraftError(f"{type(generator).__name__} is not a generator (it has no generate method)")
    return str(generate(messages, max_tokens=max_tokens, temperature=0.0))


def first_json_object(reply: str) -> dict[str, Any]:
    """The first JSON object in a model reply (models often wrap it in prose or code fences)."""
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", reply)):
        try:
            value, _ = decoder.raw_decode(reply, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise SqlDraftError(f"the model reply holds no JSON object: {reply[:80]!r}")


def _reply_fields(data: dict[str, Any]) -> dict[str, str | None]:
    fields: dict[str, str | None] = {}
    for key in ("sql", "id_column", "text_column", "title_column"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise SqlDraftError(f"the model reply's {key} is not a string")
        fields[key] = value or None
    for key in ("sql", "id_column", "text_column"):
        if not fields[key]:
            raise SqlDraftError(f"the model reply has no {key}")
    return fields


def _check_names(sql: str, schema: SchemaInfo) -> None:
    """Every table and column the SQL reads exists (models invent plausible names)."""
    import sqlglot
    from sqlglot import exp

    tree: Any = sqlglot.parse_one(sql, read=schema.dialect)
    ctes = {str(c.alias_or_name).lower() for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = str(table.name)
        if name and name.lower() not in ctes and schema.table(name) is None:
            raise DraftMismatchError(f"the SQL reads table {name!r}, which the database does not have")
    read = [schema.table(str(t.name)) for t in tree.find_all(exp.Table)]
    known = {c.name.lower() for t in read if t is not None for c in t.columns}
    # Names the query defines itself: select aliases and CTE / subquery output columns.
    known |= {str(a.alias).lower() for a in tree.find_all(exp.Alias)}
    known |= {str(i.name).lower() for t in tree.find_all(exp.TableAlias) for i in t.columns}
    known |= {str(n).lower() for q in tree.find_all(exp.Select) for n in q.named_selects}
    for column in tree.find_all(exp.Column):
        if column.name and column.name.lower() not in known:
            raise DraftMismatchError(f"the SQL reads column {column.name!r}, which its tables do not have")


def _output_columns(sql: str, schema: SchemaInfo) -> set[str]:
    import sqlglot

    tree: Any = sqlglot.parse_one(sql, read=schema.dialect)  # a checked SELECT or set operation
    names = {str(n).lower() for n in tree.named_selects}
    if "*" in names:  # SELECT *: any column of the schema may be in the result
        names |= {c.lower() for c in schema.column_names()}
    return names
