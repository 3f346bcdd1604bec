"""Read-only SQL: a parser guard for drafted queries and a read-only way to run them.

Two layers, because a parser can be fooled and a database can be misconfigured:

1. `check_read_only` parses the SQL with sqlglot and admits exactly one SELECT (UNION/INTERSECT/
   EXCEPT of SELECTs and read-only CTEs included) with no SELECT ... INTO, no FOR UPDATE/SHARE, no
   data-modifying statement anywhere inside and no function with side effects on the dialect.
2. `run_read_only` runs it on a connection that cannot write: SQLite opened with `mode=ro` plus an
   authorizer that allows only what a SELECT needs; other databases inside a READ ONLY transaction
   that is rolled back.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from llmpilot.errors import LlmpilotError, SourceError


class UnsafeSqlError(LlmpilotError):
    """The SQL is not a single read-only SELECT; the message says why in one line."""


#: Functions with side effects (files, extensions, sequences, sessions, sleeps, locks), per dialect.
SIDE_EFFECT_FUNCTIONS: dict[str, frozenset[str]] = {
    "sqlite": frozenset({"load_extension", "writefile", "readfile", "edit", "fts3_tokenizer"}),
    "postgres": frozenset(
        {
            "pg_read_file",
            "pg_read_binary_file",
            "lo_import",
            "lo_export",
            "dblink",
            "pg_sleep",
            "set_config",
            "nextval",
            "setval",
            "pg_terminate_backend",
            "pg_cancel_backend",
            "query_to_xml",
        }
    ),
}
#: Prefixes of function families (pg_advisory_lock, pg_advisory_lock_shared, pg_advisory_xact_lock...).
SIDE_EFFECT_PREFIXES: dict[str, tuple[str, ...]] = {"sqlite": (), "postgres": ("pg_advisory",)}

#: SQLAlchemy backend name -> sqlglot dialect.
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_DIALECTS |= {"mssql": "tsql", "oracle": "oracle", "duckdb": "duckdb"}

_log_sqlglot = logging.getLogger("sqlglot")


def dialect_of(url: str) -> str:
    """The sqlglot dialect for a SQLAlchemy URL ("sqlite", "postgres", ...)."""
    from sqlalchemy.engine import make_url

    backend = make_url(url).get_backend_name()
    return _DIALECTS.get(backend, backend)


def check_read_only(sql: str, *, dialect: str = "sqlite") -> str:
    """The single read-only SELECT in `sql`, normalised by sqlglot; UnsafeSqlError otherwise."""
    statement = _parse_single(sql, dialect)
    _check_root(statement)
    _check_inside(statement, dialect)
    return str(statement.sql(dialect=dialect))


def with_limit(sql: str, n: int, dialect: str = "sqlite") -> str:
    """`sql` (checked) wrapped so that at most `n` rows come back, for a preview."""
    if n < 1:
        raise ValueError(f"preview limit must be at least 1, got {n}")
    checked = check_read_only(sql, dialect=dialect)
    import sqlglot

    # Built by sqlglot so that each dialect gets its own row-limit syntax (LIMIT, TOP, FETCH FIRST).
    wrapped = sqlglot.parse_one(f"SELECT * FROM ({checked}) AS preview LIMIT {int(n)}", read=dialect)
    return str(wrapped.sql(dialect=dialect))


# --- the parser guard ---------------------------------------------------------------------------


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    # sqlglot logs "falling back to parsing as a Command" for statements it does not model; the
    # guard reports those itself, so the warnings would only be noise on the user's terminal.
    level = _log_sqlglot.level
    _log_sqlglot.setLevel(logging.ERROR)
    try:
        yield
    finally:
        _log_sqlglot.setLevel(level)


def _parse_single(sql: str, dialect: str) -> Any:
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        with _quiet_sqlglot():
            statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnsafeSqlError(f"cannot parse: {first}") from None
    if not statements:
        raise UnsafeSqlError("no SQL statement: write one SELECT")
    if len(statements) != 1:
        raise UnsafeSqlError(f"{len(statements)} statements: only one SELECT is allowed")
    return statements[0]


_KEYWORDS = {"TRANSACTION": "BEGIN"}


def _statement_name(statement: Any) -> str:
    from sqlglot import exp

    if isinstance(statement, exp.Command):  # VACUUM, REPLACE, CALL, EXPLAIN...: the keyword is `this`
        return str(statement.this).upper()
    name = str(statement.key).upper()
    return _KEYWORDS.get(name, name)


def _check_root(statement: Any) -> None:
    from sqlglot import exp

    root = statement.unnest() if isinstance(statement, exp.Subquery) else statement
    if isinstance(root, (exp.Select, exp.SetOperation)):
        return
    if isinstance(root, _writing_nodes()):
        raise UnsafeSqlError(f"{_statement_name(root)} writes: only a read-only SELECT is allowed")
    shown = " ".join(str(root.sql()).split())[:40]
    raise UnsafeSqlError(f"not a SELECT statement ({shown}): only a read-only SELECT is allowed")


#: sqlglot node names of statements that change data, schema, files or session state.
_WRITING = [
    "DML",
    "DDL",
    "Command",
    "Drop",
    "Alter",
    "TruncateTable",
    "Merge",
    "Set",
    "Pragma",
    "Attach",
    "Detach",
    "Grant",
    "Revoke",
    "Copy",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "Cache",
    "Uncache",
    "LoadData",
    "Refresh",
    "Comment",
    "Analyze",
    "Kill",
    "Export",
    "Install",
]


def _writing_nodes() -> tuple[type, ...]:
    """Nodes that change data, schema or session state wherever they appear (e.g. inside a CTE)."""
    from sqlglot import exp

    # getattr: a node class that an older or newer sqlglot lacks is simply not checked by class (the
    # root must still be a SELECT, and the database refuses writes at execution).
    return tuple(c for c in (getattr(exp, n, None) for n in _WRITING) if isinstance(c, type))


def _check_inside(statement: Any, dialect: str) -> None:
    from sqlglot import exp

    writing = _writing_nodes()
    for node in statement.walk():
        if isinstance(node, writing):
            raise UnsafeSqlError(f"{_statement_name(node)} writes: only a read-only SELECT is allowed")
        if isinstance(node, exp.Select) and node.args.get("into"):
            raise UnsafeSqlError("SELECT ... INTO creates a table: only a read-only SELECT is allowed")
        if isinstance(node, exp.Select) and node.args.get("locks"):
            raise UnsafeSqlError("FOR UPDATE/SHARE locks rows: only a read-only SELECT is allowed")
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if _has_side_effects(name, dialect):
                raise UnsafeSqlError(
                    f"function {name}() has side effects: only a read-only SELECT is allowed"
                )


def _function_name(node: Any) -> str:
    from sqlglot import exp

    return str(node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _has_side_effects(name: str, dialect: str) -> bool:
    # A dialect without its own list gets every list: refusing a harmless function is the safe mistake.
    dialects = [dialect] if dialect in SIDE_EFFECT_FUNCTIONS else list(SIDE_EFFECT_FUNCTIONS)
    return any(name in SIDE_EFFECT_FUNCTIONS[d] or name.startswith(SIDE_EFFECT_PREFIXES[d]) for d in dialects)


# --- the execution guard ------------------------------------------------------------------------

#: Authorizer actions a SELECT needs (sqlite3 module constants); everything else is denied.
_SQLITE_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION})
_SQLITE_ALLOWED |= {getattr(sqlite3, "SQLITE_RECURSIVE", 33)}  # WITH RECURSIVE


def run_read_only(
    url: str, sql: str, limit: int, *, dialect: str | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and at most `limit` rows of the checked SELECT `sql`, run so that the
    database cannot change even if the parser guard were fooled."""
    from llmpilot.sources.sql import safe_url

    chosen = dialect or dialect_of(url)
    try:
        preview = with_limit(sql, limit, chosen)
    except UnsafeSqlError as exc:
        raise UnsafeSqlError(f"{safe_url(url)}: {exc}") from None
    return _execute_read_only(url, preview, limit)


def _execute_read_only(url: str, sql: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` on a read-only connection (no parser check: the database itself refuses writes)."""
    from sqlalchemy.engine import make_url

    from llmpilot.sources.sql import safe_url

    shown = safe_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _run_sqlite(parsed.database, shown, sql, limit)
    return _run_in_read_only_transaction(url, shown, sql, limit)


def sqlite_read_only_target(database: str | None, shown: str) -> str:
    """A `file:` URI that opens the SQLite database read-only (an in-memory one stays in memory)."""
    if not database or database == ":memory:":
        return "file::memory:?mode=ro"
    if database.startswith("file:"):
        return database if "mode=" in database else database + ("&" if "?" in database else "?") + "mode=ro"
    path = Path(database)
    # Opening a missing file read-only fails with a vague "unable to open"; say which file.
    if not path.is_file():
        raise SourceError(shown, f"SQLite database file not found: {database}")
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _deny_writes(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
) -> int:
    if action not in _SQLITE_ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in SIDE_EFFECT_FUNCTIONS["sqlite"]:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _run_sqlite(
    database: str | None, shown: str, sql: str, limit: int
) -> tuple[list[str], list[tuple[Any, ...]]]:
    target = sqlite_read_only_target(database, shown)
    try:
        conn = sqlite3.connect(target, uri=True)
    except sqlite3.Error as exc:
        raise SourceError(shown, f"cannot open the SQLite database read-only: {exc}") from None
    try:
        conn.set_authorizer(_deny_writes)
        cursor = conn.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        return columns, [tuple(r) for r in cursor.fetchmany(limit)]
    except sqlite3.DatabaseError as exc:
        raise SourceError(shown, f"query refused or failed: {exc}") from None
    finally:
        conn.close()


def _run_in_read_only_transaction(
    url: str, shown: str, sql: str, limit: int
) -> tuple[list[str], list[tuple[Any, ...]]]:
    from sqlalchemy import create_engine

    from llmpilot.sources.sql import _scrub

    engine = create_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            # The first statement of the transaction: the server refuses any write after it.
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(sql)  # no parameters: the driver does not interpolate % or :name
            columns = [d[0] for d in cursor.description or ()]
            rows: Sequence[Any] = cursor.fetchmany(limit)
            return columns, [tuple(r) for r in rows]
        finally:
            raw.rollback()
            raw.close()
    except LlmpilotError:
        raise
    except Exception as exc:  # the driver's own errors (psycopg, pymysql...) share no base class
        detail = _scrub(str(getattr(exc, "orig", None) or exc).splitlines()[0], url)
        raise SourceError(shown, f"query refused or failed: {type(exc).__name__}: {detail}") from None
    finally:
        engine.dispose()
