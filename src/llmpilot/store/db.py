"""The store of record: SQLAlchemy Core over SQLite or PostgreSQL (the same migrations; see migrations.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from llmpilot.errors import StoreError
from llmpilot.store import lock as writer_locks
from llmpilot.store import schema
from llmpilot.store.migrations import SUPPORTED_DIALECTS, migrate, pending
from llmpilot.types import Chunk, Document

#: How long a second writer (an ingest) waits for the first one before giving up.
DEFAULT_WRITER_WAIT_S = 600.0

_EXAMPLE_URL = "sqlite:///llmpilot.db"


@dataclass(frozen=True)
class SourceState:
    key: str
    origin: str
    fingerprint: str | None
    transforms_hash: str


@dataclass(frozen=True)
class StoredDocument:
    document: Document
    source_key: str
    content_hash: str
    duplicate_of: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # First, so that the pragmas below also wait for a process that is creating the store.
    cur.execute("PRAGMA busy_timeout=30000")
    # WAL + NORMAL: a kill -9 loses at most the open transaction, never a committed one.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for an in-memory database)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _server_hint(url: URL, problem: str) -> str:
    """What to do about a database server that refused us."""
    if "does not exist" in problem and url.database:
        return f"create the database (CREATE DATABASE {url.database}) or point `store` at an existing one"
    if "Connection refused" in problem or "could not connect" in problem:
        return "check the URL and that the database server is running (a local one: `llmpilot db up`)"
    return "check the URL, the user's rights and that the database server is running"


#: pip names of the PostgreSQL drivers whose module name differs from what to install.
#: What to install for a missing driver: psycopg comes with llmpilot's `postgres` extra.
_PIP_NAMES = {"psycopg": "llmpilot[postgres]", "psycopg2": "psycopg2-binary"}


def _engine(raw_url: str, setting: str) -> Engine:
    """An engine for `raw_url`, or a one-line StoreError naming `setting` and what to do."""
    fix = f"set it to a SQLAlchemy URL such as {_EXAMPLE_URL}"
    try:
        url = make_url(raw_url)
    except ArgumentError:
        raise StoreError(f"{setting}: {raw_url!r} is not a database URL; {fix}") from None
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend not in SUPPORTED_DIALECTS:
        raise StoreError(
            f"{setting}: {shown!r} names a database kind llmpilot cannot use ({backend!r}; supported: "
            f"{', '.join(SUPPORTED_DIALECTS)}); {fix}"
        )
    db_file = _sqlite_file(url)
    if db_file is not None and not db_file.parent.is_dir():
        raise StoreError(
            f"{setting}: the folder of the SQLite store {shown!r} does not exist ({db_file.parent}); "
            f"create it, or {fix}"
        )
    try:
        if backend == "sqlite":
            return create_engine(url, future=True)
        # A server can restart under a long-running `serve`: test pooled connections before use. The
        # pool (5 + 10 overflow per process) waits up to 30 s for a free connection under load.
        return create_engine(url, future=True, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except NoSuchModuleError:
        raise StoreError(
            f"{setting}: {shown!r} names an unknown database driver {url.drivername!r}; {fix}"
        ) from None
    except ImportError as exc:
        module = (getattr(exc, "name", None) or _first_line(exc)).split(".")[0]
        raise StoreError(
            f"{setting}: the database driver for {url.drivername!r} is not installed (no module "
            f"{module!r}); install it (pip install '{_PIP_NAMES.get(module, module)}') or use another URL"
        ) from None
    except ArgumentError as exc:
        raise StoreError(
            f"{setting}: {shown!r} is not a valid store URL ({_first_line(exc)}); {fix}"
        ) from None


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Writer-lock depth per thread: a thread that holds the lock may take it again (nested).
        self._writer_depth: dict[int, int] = {}
        self._memory_lock = writer_locks.ThreadWriterLock()

    @classmethod
    def open(cls, url: str, *, setting: str = "`store`") -> Store:
        """Open (and migrate) the store at `url`; `setting` names where the URL came from, for errors."""
        engine = _engine(url, setting)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        shown = engine.url.render_as_string(hide_password=True)
        try:
            # Most opens find nothing to do; only then take the write transaction migrate() needs.
            with engine.connect() as conn:
                todo = pending(conn)
            if todo:
                with engine.begin() as conn:
                    migrate(conn)
        except DBAPIError as exc:
            engine.dispose()
            hint = (
                "check that it names an llmpilot store (a SQLite database file) in a writable folder"
                if engine.dialect.name == "sqlite"
                else _server_hint(engine.url, str(exc.orig or exc))
            )
            raise StoreError(
                f"{setting}: cannot open the store at {shown!r}: {_first_line(exc.orig or exc)}; {hint}"
            ) from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def writer_lock(self, purpose: str, *, timeout_s: float = DEFAULT_WRITER_WAIT_S) -> Iterator[None]:
        """Hold the store's writer lock for the block: one writing run (e.g. an ingest) at a time,
        across processes. Another holder is waited for up to `timeout_s` seconds (a warning says
        whom it waits for), then a StoreError says who holds it. Re-entrant within one thread."""
        me = threading.get_ident()
        if self._writer_depth.get(me):
            self._writer_depth[me] += 1
            try:
                yield
            finally:
                self._writer_depth[me] -= 1
            return
        lock = self._new_writer_lock()
        what = f"the store {self.engine.url.render_as_string(hide_password=True)}"
        writer_locks.acquire(lock, purpose, what=what, timeout_s=timeout_s)
        self._writer_depth[me] = 1
        try:
            yield
        finally:
            del self._writer_depth[me]
            lock.release()

    def _new_writer_lock(self) -> writer_locks.WriterLock:
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            db_file = _sqlite_file(url)
            if db_file is None:
                return self._memory_lock
            return writer_locks.FileWriterLock(db_file.with_name(db_file.name + ".lock"))
        return writer_locks.AdvisoryWriterLock(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- sources and documents -------------------------------------------------------------

    def source_states(self) -> dict[str, SourceState]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    schema.sources.c.key,
                    schema.sources.c.origin,
                    schema.sources.c.fingerprint,
                    schema.sources.c.transforms_hash,
                )
            )
            return {r.key: SourceState(r.key, r.origin, r.fingerprint, r.transforms_hash) for r in rows}

    def document_owners(self, ids: Iterable[str]) -> dict[str, str]:
        """doc id -> source key, for the ids that exist."""
        ids = list(ids)
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                rows = conn.execute(
                    select(schema.documents.c.id, schema.documents.c.source_key).where(
                        schema.documents.c.id.in_(part)
                    )
                )
                out.update({r.id: r.source_key for r in rows})
        return out

    def replace_source(
        self,
        conn: Connection,
        *,
        key: str,
        origin: str,
        fingerprint: str | None,
        transforms_hash: str,
        documents: Sequence[tuple[Document, str, str | None]],
        originals: Sequence[Document] | None = None,
    ) -> None:
        """Replace a unit's documents (doc, content_hash, duplicate_of) inside the caller's transaction;
        and its originals (the documents as loaded, before transforms) unless None (kept as stored)."""
        now = _now()
        values = {
            "origin": origin,
            "fingerprint": fingerprint,
            "transforms_hash": transforms_hash,
            "status": "ok",
            "error": None,
            "updated_at": now,
        }
        if conn.execute(select(schema.sources.c.key).where(schema.sources.c.key == key)).first():
            conn.execute(update(schema.sources).where(schema.sources.c.key == key).values(**values))
        else:
            conn.execute(insert(schema.sources).values(key=key, **values))
        keep = {doc.id for doc, _, _ in documents}
        old = {
            r[0]
            for r in conn.execute(select(schema.documents.c.id).where(schema.documents.c.source_key == key))
        }
        self._delete_documents(conn, old - keep)
        existing = {
            r.id: r.content_hash
            for r in conn.execute(
                select(schema.documents.c.id, schema.documents.c.content_hash).where(
                    schema.documents.c.source_key == key
                )
            )
        }
        for doc, content_hash, duplicate_of in documents:
            row = {
                "source_key": key,
                "source": doc.source,
                "title": doc.title,
                "text": doc.text,
                "content_hash": content_hash,
                "language": doc.language,
                "metadata_json": json.dumps(doc.metadata, ensure_ascii=False, sort_keys=True),
                "duplicate_of": duplicate_of,
                "updated_at": now,
            }
            if doc.id in existing:
                conn.execute(update(schema.documents).where(schema.documents.c.id == doc.id).values(**row))
            else:
                conn.execute(insert(schema.documents).values(id=doc.id, **row))
        if originals is not None:
            conn.execute(delete(schema.source_documents).where(schema.source_documents.c.source_key == key))
            if originals:
                conn.execute(
                    insert(schema.source_documents),
                    [
                        {
                            "source_key": key,
                            "ordinal": i,
                            "id": doc.id,
                            "source": doc.source,
                            "title": doc.title,
                            "text": doc.text,
                            "language": doc.language,
                            "metadata_json": json.dumps(doc.metadata, ensure_ascii=False, sort_keys=True),
                        }
                        for i, doc in enumerate(originals)
                    ],
                )

    def originals(self, keys: Iterable[str] | None = None) -> dict[str, list[Document]]:
        """Each unit's documents as loaded (before transforms), in load order, by unit key."""
        table = schema.source_documents
        query = select(table).order_by(table.c.source_key, table.c.ordinal)
        out: dict[str, list[Document]] = {}
        with self.engine.connect() as conn:
            if keys is None:
                rows = list(conn.execute(query))
            else:
                wanted = list(keys)
                rows = []
                for i in range(0, len(wanted), 500):
                    rows.extend(conn.execute(query.where(table.c.source_key.in_(wanted[i : i + 500]))))
        for r in rows:
            out.setdefault(r.source_key, []).append(
                Document(
                    id=r.id,
                    text=r.text,
                    title=r.title,
                    source=r.source,
                    language=r.language,
                    metadata=json.loads(r.metadata_json),
                )
            )
        return out

    def delete_source(self, conn: Connection, key: str) -> int:
        ids = [
            r[0]
            for r in conn.execute(select(schema.documents.c.id).where(schema.documents.c.source_key == key))
        ]
        self._delete_documents(conn, ids)
        conn.execute(delete(schema.source_documents).where(schema.source_documents.c.source_key == key))
        conn.execute(delete(schema.sources).where(schema.sources.c.key == key))
        return len(ids)

    def _delete_documents(self, conn: Connection, ids: Iterable[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            conn.execute(delete(schema.chunks).where(schema.chunks.c.doc_id.in_(part)))
            conn.execute(delete(schema.chunked_documents).where(schema.chunked_documents.c.doc_id.in_(part)))
            conn.execute(delete(schema.documents).where(schema.documents.c.id.in_(part)))

    def documents(self, ids: Iterable[str] | None = None) -> list[StoredDocument]:
        query = select(schema.documents).order_by(schema.documents.c.id)
        with self.engine.connect() as conn:
            if ids is None:
                rows = list(conn.execute(query))
            else:
                wanted = list(ids)
                rows = []
                for i in range(0, len(wanted), 500):
                    rows.extend(conn.execute(query.where(schema.documents.c.id.in_(wanted[i : i + 500]))))
        return [
            StoredDocument(
                document=Document(
                    id=r.id,
                    text=r.text,
                    title=r.title,
                    source=r.source,
                    language=r.language,
                    metadata=json.loads(r.metadata_json),
                ),
                source_key=r.source_key,
                content_hash=r.content_hash,
                duplicate_of=r.duplicate_of,
            )
            for r in rows
        ]

    def document_texts(self, ids: Iterable[str]) -> dict[str, str]:
        """Stored text by document id (each id once): what chunk offsets and citations refer to."""
        return {d.document.id: d.document.text for d in self.documents(dict.fromkeys(ids))}

    def set_duplicate_of(self, conn: Connection, doc_id: str, duplicate_of: str | None) -> None:
        conn.execute(
            update(schema.documents).where(schema.documents.c.id == doc_id).values(duplicate_of=duplicate_of)
        )

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                "sources": conn.execute(select(func.count()).select_from(schema.sources)).scalar_one(),
                "documents": conn.execute(select(func.count()).select_from(schema.documents)).scalar_one(),
                "embeddings": conn.execute(select(func.count()).select_from(schema.embeddings)).scalar_one(),
            }

    # --- chunks ------------------------------------------------------------------------------

    def chunked_state(self, chunk_set: str) -> dict[str, str]:
        """doc id -> content hash that the chunk set has chunked."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schema.chunked_documents.c.doc_id, schema.chunked_documents.c.content_hash).where(
                    schema.chunked_documents.c.chunk_set == chunk_set
                )
            )
            return {r.doc_id: r.content_hash for r in rows}

    def replace_chunks(
        self,
        conn: Connection,
        chunk_set: str,
        doc_id: str,
        content_hash: str,
        chunks: Sequence[Chunk],
        text_hashes: Sequence[str],
    ) -> None:
        conn.execute(
            delete(schema.chunks).where(
                schema.chunks.c.chunk_set == chunk_set, schema.chunks.c.doc_id == doc_id
            )
        )
        conn.execute(
            delete(schema.chunked_documents).where(
                schema.chunked_documents.c.chunk_set == chunk_set, schema.chunked_documents.c.doc_id == doc_id
            )
        )
        if chunks:
            conn.execute(
                insert(schema.chunks),
                [
                    {
                        "chunk_set": chunk_set,
                        "id": c.id,
                        "doc_id": c.doc_id,
                        "idx": c.index,
                        "start": c.start,
                        "end": c.end,
                        "text": c.text,
                        "text_hash": h,
                    }
                    for c, h in zip(chunks, text_hashes, strict=True)
                ],
            )
        conn.execute(
            insert(schema.chunked_documents).values(
                chunk_set=chunk_set, doc_id=doc_id, content_hash=content_hash
            )
        )

    def drop_chunks(self, conn: Connection, chunk_set: str, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            conn.execute(
                delete(schema.chunks).where(
                    schema.chunks.c.chunk_set == chunk_set, schema.chunks.c.doc_id.in_(part)
                )
            )
            conn.execute(
                delete(schema.chunked_documents).where(
                    schema.chunked_documents.c.chunk_set == chunk_set,
                    schema.chunked_documents.c.doc_id.in_(part),
                )
            )

    def chunks(self, chunk_set: str) -> tuple[list[Chunk], list[str]]:
        """All chunks of a set in a stable order, with their text hashes."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schema.chunks)
                .where(schema.chunks.c.chunk_set == chunk_set)
                .order_by(schema.chunks.c.doc_id, schema.chunks.c.idx)
            )
            out: list[Chunk] = []
            hashes: list[str] = []
            for r in rows:
                out.append(
                    Chunk(id=r.id, doc_id=r.doc_id, text=r.text, start=r.start, end=r.end, index=r.idx)
                )
                hashes.append(r.text_hash)
            return out, hashes

    # --- embedding cache ----------------------------------------------------------------------

    def cached_embeddings(self, model_id: str, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(text_hashes))
        out: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                rows = conn.execute(
                    select(schema.embeddings.c.text_hash, schema.embeddings.c.vector).where(
                        schema.embeddings.c.model_id == model_id, schema.embeddings.c.text_hash.in_(part)
                    )
                )
                for r in rows:
                    out[r.text_hash] = np.frombuffer(r.vector, dtype=np.float32)
        return out

    def put_embeddings(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        with self.engine.begin() as conn:
            known: set[str] = set()
            keys = list(items)
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                known.update(
                    r[0]
                    for r in conn.execute(
                        select(schema.embeddings.c.text_hash).where(
                            schema.embeddings.c.model_id == model_id, schema.embeddings.c.text_hash.in_(part)
                        )
                    )
                )
            rows = [
                {
                    "model_id": model_id,
                    "text_hash": h,
                    "dim": int(v.shape[0]),
                    "vector": np.asarray(v, dtype=np.float32).tobytes(),
                }
                for h, v in items.items()
                if h not in known
            ]
            if rows:
                conn.execute(insert(schema.embeddings), rows)

    # --- runs -----------------------------------------------------------------------------------

    def start_run(self, kind: str, config_hash: str, config: dict[str, Any]) -> int:
        with self.engine.begin() as conn:
            # A run still "running" when a new one of its kind starts was killed: record that honestly.
            conn.execute(
                update(schema.runs)
                .where(schema.runs.c.kind == kind, schema.runs.c.status == "running")
                .values(status="interrupted")
            )
            result = conn.execute(
                insert(schema.runs).values(
                    kind=kind,
                    config_hash=config_hash,
                    config_json=json.dumps(config, ensure_ascii=False, sort_keys=True),
                    status="running",
                    started_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(self, run_id: int, status: str, stats: dict[str, Any], seconds: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.runs)
                .where(schema.runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=_now(),
                    stats_json=json.dumps(stats, ensure_ascii=False),
                    seconds=seconds,
                )
            )

    def add_problem(self, run_id: int, source: str, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(schema.ingest_problems).values(run_id=run_id, source=source, reason=reason))

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        query = select(schema.runs).order_by(schema.runs.c.id)
        if kind:
            query = query.where(schema.runs.c.kind == kind)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def document_titles(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return {r.id: r.title for r in conn.execute(select(schema.documents.c.id, schema.documents.c.title))}
