"""What the PostgreSQL-backed indexes share (pgvector, pg_fts): which database, pooled psycopg
connections with one-line errors, and the namespace (tenant, collection, index config) whose
rows an index holds. An index folder then only points at rows in the database."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from llmpilot.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from llmpilot.project import Project

#: The database of an index when neither its config nor the project's store names one.
URL_ENV = "LLMPILOT_PGVECTOR_URL"


class StaleIndexError(StoreError):
    """A saved index whose rows are no longer in the database (rebuilt elsewhere, or reset)."""


@dataclass(frozen=True)
class Scope:
    """Whose rows an index holds; `namespace` names its registry row."""

    tenant: str
    collection: str
    chunk_set: str
    index_hash: str
    #: Where the chunks come from (the store URL without password), so that two projects with the
    #: same folder name and config but different stores never share a namespace.
    source: str = ""

    @property
    def namespace(self) -> str:
        key = "\x00".join([self.tenant, self.collection, self.index_hash, self.source])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def shown_url(url: str) -> str:
    """`url` as it may be printed or saved: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True).replace(":***@", "@")
    except ArgumentError:
        return "<not a URL>"


def is_postgres_url(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:
        return False


def needs_database(what: str, setting: str) -> str:
    return (
        f"{what} needs a PostgreSQL database: set `store` to a postgresql+psycopg:// URL or "
        f"{setting} (or env {URL_ENV})"
    )


def resolve_url(configured: str | None, what: str, setting: str) -> str:
    """An index's database when no project says: its `setting` (`configured`), else env URL_ENV."""
    url = configured or os.environ.get(URL_ENV)
    if not url:
        raise ConfigError(needs_database(what, setting))
    return url


def project_url(project: Project, configured: str | None, what: str, setting: str) -> str:
    """A project's index database: `setting` when set, else the store when it is PostgreSQL, else env."""
    if configured:
        return configured
    if is_postgres_url(project.store_url):
        return project.store_url
    return resolve_url(None, what, setting)


def project_scope(project: Project) -> Scope:
    """Tenant "default" (a project is one tenant's collection), collection = the project folder name."""
    config = project.config
    return Scope(
        tenant="default",
        collection=project.root.name,
        chunk_set=config.chunks_hash(),
        index_hash=config.index_hash(),
        source=shown_url(project.store_url),
    )


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str, what: str, setting: str) -> Engine:
    """A pooled psycopg engine for `url`, shared by every index on that database."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{setting}: {url!r} is not a database URL; {needs_database(what, setting)}"
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"{setting}: {shown_url(url)!r} is not PostgreSQL; {needs_database(what, setting)}")
    parsed = parsed.set(drivername="postgresql+psycopg")  # the driver of the `postgres` extra
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        if key not in _engines:
            try:
                # Autocommit: a search is then one round trip (no BEGIN/COMMIT); builds open an
                # explicit transaction. No pre-ping (another round trip per checkout): a dead
                # connection is invalidated when it fails instead.
                _engines[key] = create_engine(parsed, isolation_level="AUTOCOMMIT", pool_recycle=3600)
            except (ImportError, NoSuchModuleError):
                raise ConfigError(f"{what} needs psycopg: pip install 'llmpilot[postgres]'") from None
        return _engines[key]


def close_engines() -> None:
    """Close the pooled connections of every index database used so far (tests, shutdown)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


class PgIndexBase:
    """Where a PostgreSQL-backed index keeps its rows: a database and a namespace. Unattached, the
    database comes from the config's url or the environment and the namespace is random."""

    #: How config and errors name the index ("index.vector.kind pgvector") and its url setting.
    what: str
    setting: str

    def __init__(self, url: str | None) -> None:
        self._configured_url = url
        self._url: str | None = None
        self._engine: Engine | None = None
        self._scope = Scope("default", "", "", "")
        self._namespace = secrets.token_hex(8)

    def attach(self, url_or_engine: str | Engine, scope: Scope) -> None:
        """Keep this index's rows in the given database under `scope` (a stable namespace), instead
        of the configured url / env and a random namespace. Called by indexing.open_indexes."""
        # An engine (the store's) is used by its URL: this module's pools are autocommit ones.
        url = url_or_engine
        if isinstance(url, Engine):
            url = url.url.render_as_string(hide_password=False)
        self._engine, self._url = None, url
        self._scope, self._namespace = scope, scope.namespace

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def url(self) -> str:
        """The database URL (with its password: never print or save it, see `shown_url`)."""
        if self._url is None:
            self._url = resolve_url(self._configured_url, self.what, self.setting)
        return self._url

    def _db(self) -> Engine:
        if self._engine is None:
            self._engine = engine_for(self.url, self.what, self.setting)
        return self._engine

    @contextmanager
    def _connect(self, *, transaction: bool = True) -> Iterator[Any]:
        """A pooled psycopg connection (autocommit), in a transaction when asked (committed on
        success); connection errors as one line."""
        import psycopg

        engine = self._db()
        shown = shown_url(self.url)
        try:
            raw = engine.raw_connection()
        except (DBAPIError, psycopg.Error) as exc:
            orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
            raise StoreError(
                f"cannot connect to the database of {self.what} at {shown!r}: {first_line(orig)}; "
                f"check the URL ({self.setting} or `store`) and that the server is running"
            ) from None
        conn: Any = raw.driver_connection
        try:
            if transaction:
                with conn.transaction():
                    yield conn
            else:
                yield conn
        except psycopg.OperationalError as exc:
            raw.invalidate()  # a dead connection is not given back to the pool
            raise StoreError(
                f"lost the connection to the database of {self.what} at {shown!r}: {first_line(exc)}; "
                "check that the server is running"
            ) from None
        finally:
            raw.close()
