"""Named, append-only migrations (after simonw/llm): never edit one that has shipped; add a new one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, inspect, select

from llmpilot.store import schema

Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(name: str) -> Callable[[Migration], Migration]:
    def decorator(fn: Migration) -> Migration:
        if any(existing == name for existing, _ in MIGRATIONS):
            raise RuntimeError(f"duplicate migration name {name!r}")
        MIGRATIONS.append((name, fn))
        return fn

    return decorator


def _create(conn: Connection, *tables: object) -> None:
    for table in tables:
        table.create(conn, checkfirst=True)  # type: ignore[attr-defined]


@migration("m001_core")
def m001_core(conn: Connection) -> None:
    _create(
        conn,
        schema.sources,
        schema.documents,
        schema.chunks,
        schema.chunked_documents,
        schema.embeddings,
        schema.runs,
        schema.ingest_problems,
    )


def applied(conn: Connection) -> list[str]:
    if not inspect(conn).has_table("migrations"):
        return []
    return [row[0] for row in conn.execute(select(schema.migrations.c.name))]


def migrate(conn: Connection) -> list[str]:
    """Apply pending migrations in order; returns the names applied now."""
    schema.migrations.create(conn, checkfirst=True)
    done = set(applied(conn))
    known = {name for name, _ in MIGRATIONS}
    unknown = done - known
    if unknown:
        from llmpilot.errors import StoreError

        raise StoreError(
            f"the store was migrated by a newer llmpilot (unknown migrations: {', '.join(sorted(unknown))}); "
            "upgrade llmpilot"
        )
    now_applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        fn(conn)
        conn.execute(insert(schema.migrations).values(name=name, applied_at=datetime.now(UTC)))
        now_applied.append(name)
    return now_applied


@migration("m002_trials")
def m002_trials(conn: Connection) -> None:
    _create(conn, schema.trials)


@migration("m003_serving")
def m003_serving(conn: Connection) -> None:
    _create(conn, schema.api_keys, schema.traces, schema.feedback)
