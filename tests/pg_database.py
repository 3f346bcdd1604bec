"""Throwaway PostgreSQL databases (dropped afterwards) for the pgvector and pg_fts tests, on the test
session's own server (tests/conftest.py `pg_server`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def _server_part(url: str) -> str:
    """`url` without its database name: `postgresql+psycopg://user@host:port`."""
    return url.rsplit("/", 1)[0] if url.count("/") > 2 else url


@contextmanager
def fresh_database(server: str, prefix: str) -> Iterator[str]:
    """A new empty database (no extensions) on `server`; dropped afterwards, connections and all."""
    import psycopg
    from sqlalchemy.engine import make_url

    from llmpilot.index.pgdb import close_engines

    admin = make_url(f"{_server_part(server)}/postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    kwargs = {"host": admin.host, "port": admin.port, "user": admin.username, "password": admin.password}
    with psycopg.connect(dbname="postgres", autocommit=True, **kwargs) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{_server_part(server)}/{name}"
    finally:
        close_engines()
        with psycopg.connect(dbname="postgres", autocommit=True, **kwargs) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
