"""SQL sources: one query is one unit; each result row is one document with id "sql:<id value>".

Any database SQLAlchemy can reach works (SQLite built in; PostgreSQL, MySQL... with their
driver installed). Passwords never appear in keys, origins, document sources or messages.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from llmpilot.errors import SourceError
from llmpilot.sources.base import LoadResult, SourceUnit
from llmpilot.types import Document

#: Query-string parameters that can carry credentials (e.g. "?password=..." for some drivers).
_SECRET_PARAMS = ("password", "passwd", "pwd", "secret", "token", "key")


def safe_url(url: str) -> str:
    """The URL without its password (and without credential-like query parameters)."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SourceError("sql", "not a valid database URL; expected e.g. sqlite:///data/app.db") from None
    query = {k: v for k, v in parsed.query.items() if not any(s in k.lower() for s in _SECRET_PARAMS)}
    # URL.set(password=None) keeps the password in SQLAlchemy 2.1, so rebuild the URL without it.
    bare = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
    ).update_query_dict(query)
    return bare.render_as_string(hide_password=False)


def sql_unit(
    url: str, query: str, *, text_column: str, id_column: str, title_column: str | None = None
) -> SourceUnit:
    """A unit that runs `query` against the database at `url` on every load (no fingerprint:
    a database cannot be cheaply checked for changes)."""
    shown = safe_url(url)
    if not query.strip():
        raise SourceError(shown, "the SQL query is empty")
    for name, value in (("text column", text_column), ("id column", id_column)):
        if not value:
            raise SourceError(shown, f"the {name} is empty; name the result column to read")
    digest = hashlib.sha256(f"{shown}\n{query.strip()}".encode()).hexdigest()[:16]

    def load() -> LoadResult:
        return _load(url, shown, query, text_col=text_column, id_col=id_column, title_col=title_column)

    return SourceUnit(key=f"sql:{digest}", origin=f"{shown} {query.strip()}", fingerprint=None, loader=load)


def _scrub(message: str, url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        password = None
    return message.replace(str(password), "***") if password else message


def _load(
    url: str, shown: str, query: str, *, text_col: str, id_col: str, title_col: str | None
) -> LoadResult:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    parsed = make_url(url)
    database = parsed.database
    on_disk = database and database != ":memory:" and not database.startswith("file:")
    # SQLite would silently create an empty database file for a mistyped path.
    if parsed.get_backend_name() == "sqlite" and on_disk and not Path(str(database)).is_file():
        raise SourceError(shown, f"SQLite database file not found: {database}")
    try:
        engine = create_engine(url)
    except NoSuchModuleError:
        raise SourceError(shown, f"unknown database type {parsed.drivername!r}") from None
    except ModuleNotFoundError as exc:
        raise SourceError(
            shown, f"the database driver is not installed ({exc.name}); install it: pip install {exc.name}"
        ) from None
    try:
        with engine.connect() as conn:
            result = conn.execute(text(query))
            columns = list(result.keys())
            text_col = _column(columns, text_col, "text", shown)
            id_col = _column(columns, id_col, "id", shown)
            title_col = _column(columns, title_col, "title", shown) if title_col else None
            rows = [tuple(r) for r in result]
    except SourceError:
        raise
    except SQLAlchemyError as exc:
        detail = _scrub(str(getattr(exc, "orig", None) or exc).splitlines()[0], url)
        raise SourceError(shown, f"query failed: {type(exc).__name__}: {detail}") from None
    finally:
        engine.dispose()

    index = {name: i for i, name in enumerate(columns)}
    docs: list[Document] = []
    problems: list[SourceError] = []
    first_row: dict[str, int] = {}
    # Column -> rows whose value is binary (a BLOB that is not UTF-8 text), reported once per column.
    binary: dict[str, list[int]] = {}
    for row_no, row in enumerate(rows, start=1):
        values = {col: _as_text(row[index[col]]) for col in (id_col, text_col, title_col) if col}
        for col in (id_col, text_col, title_col):
            if col and values[col] is None:
                binary.setdefault(col, []).append(row_no)
        raw_id, body = values[id_col], values[text_col]
        if raw_id is None or body is None:
            continue  # binary id or text: reported below, with the other rows of its column
        if not raw_id.strip():
            problems.append(SourceError(f"{shown} row {row_no}", f"id column {id_col!r} is empty; skipped"))
            continue
        key = raw_id.strip()
        if key in first_row:
            reason = f"duplicate id {key!r} (first in row {first_row[key]}); skipped"
            problems.append(SourceError(f"{shown} row {row_no}", reason))
            continue
        first_row[key] = row_no
        docs.append(
            Document(
                id=f"sql:{key}",
                text=body,
                title=(values[title_col] or "") if title_col else "",
                source=shown,
                metadata={"type": "sql"},
            )
        )
    for col, row_numbers in binary.items():
        problems.append(_binary_problem(shown, col, row_numbers, skipped=col != title_col))
    return LoadResult(documents=docs, problems=problems)


def _binary_problem(shown: str, column: str, row_numbers: list[int], *, skipped: bool) -> SourceError:
    listed = ", ".join(str(n) for n in row_numbers[:5]) + (", ..." if len(row_numbers) > 5 else "")
    effect = "those rows were skipped" if skipped else "their titles were left empty"
    return SourceError(
        shown,
        f"column {column!r} holds binary data, not text (a BLOB), in {len(row_numbers)} row(s) "
        f"(rows {listed}); {effect}. Select a text column, or CAST/convert the value to text in the query",
    )


def _column(columns: list[str], wanted: str, role: str, shown: str) -> str:
    """The result column named `wanted`, exactly or else case-insensitively (PostgreSQL folds
    unquoted names to lower case)."""
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    available = ", ".join(columns) or "none"
    raise SourceError(
        shown, f"the query result has no {role} column {wanted!r}; available columns: {available}"
    )


def _as_text(value: Any) -> str | None:
    """The value as text; None for binary data. A BLOB holding UTF-8 text (some drivers return
    text columns as bytes) is that text; other bytes would decode into replacement characters."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return None if "\x00" in text else text
    return str(value)
