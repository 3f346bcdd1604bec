"""A vector index kept in PostgreSQL with pgvector: HNSW or IVFFlat (`index.vector.kind: pgvector`).

Design: one table per index *namespace* (`lp_vectors_<16 hex>`: ord, chunk id, embedding) and a
registry table `lp_vector_indexes` (namespace -> table, tenant, collection, chunk set, index hash, dim,
method, metric, count) that this module creates and owns (not a store migration: SQLite has no
pgvector). A namespace is one tenant's collection under one index config (`attach`); an index that is
never attached (the contract suite, ad-hoc use) gets a fresh random namespace.

Why a table per namespace rather than one shared table filtered by tenant/collection/chunk set: an
HNSW or IVFFlat scan filters *after* the graph walk, so a filter that keeps a small share of a shared
table loses recall (pgvector 0.8's iterative scans win it back, at the cost of extra scanning and
`hnsw.max_scan_tuples` cut-offs), and `lists` of IVFFlat would be sized for the whole table rather
than each collection. A table of its own gives each namespace its own graph: exact-filter semantics
(two indexes never see each other's rows because they never share a table), recall as measured on
the collection alone, and a rebuild that is a `DROP TABLE` instead of a mass `DELETE` + vacuum. The
tenant/collection/chunk set therefore live once in the registry row rather than on every vector row.

A build loads a new table with binary COPY, builds the ANN index after loading (the fast order), then
swaps the registry row and drops the old table in the same transaction: a reader sees the old index
or the new one, never a half-built one. Scores are those of the built-in indexes: cosine similarity
(1 - `<=>` distance) or inner product (-`<#>`), equal on unit vectors.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import struct
import weakref
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import Engine

from llmpilot.config import VectorIndexConfig
from llmpilot.errors import ConfigError, StoreError
from llmpilot.index import (
    FORMAT_VERSION,
    IDS_FILE,
    MANIFEST,
    begin_save,
    check_unique_ids,
    read_ids,
    read_manifest,
    write_json,
)
from llmpilot.index.pgdb import (
    PgIndexBase,
    Scope,
    StaleIndexError,
    first_line,
    project_scope,
    project_url,
    shown_url,
)
from llmpilot.index.vector import _as_matrix
from llmpilot.registry import vector_indexes
from llmpilot.types import ScoredId

if TYPE_CHECKING:
    from llmpilot.project import Project

log = logging.getLogger(__name__)

KIND = "pgvector"
REGISTRY_TABLE = "lp_vector_indexes"
#: pgvector indexes vectors of up to 2,000 dimensions (type `vector`).
MAX_DIM = 2000
#: hnsw.ef_search's upper bound in pgvector.
_MAX_EF_SEARCH = 1000
#: Rows per COPY write: bounds the client-side buffer at large builds.
_COPY_ROWS = 20_000
#: Index build memory and workers: a graph that fits in maintenance_work_mem builds several times
#: faster; the server caps the workers by its own max_parallel_workers.
_BUILD_MEMORY = "1GB"
_BUILD_WORKERS = 4
_TABLE_RE = re.compile(r"^lp_vectors_[0-9a-f]{16}$")
_OPS = {"cosine": ("<=>", "vector_cosine_ops"), "ip": ("<#>", "vector_ip_ops")}


#: The search settings each pooled connection holds (see PgVectorIndex._apply_settings).
_session_settings: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def _ivfflat_lists(rows: int) -> int:
    return max(1, rows // 1000) if rows <= 1_000_000 else int(math.sqrt(rows))


def _copy_rows(start: int, ids: Sequence[str], vectors: np.ndarray) -> bytes:
    """Rows (ord, id, embedding) in COPY BINARY format; pgvector's binary vector is int16 dim, int16
    unused, then big-endian float32s."""
    dim = vectors.shape[1]
    vec_head = struct.pack("!ihh", 4 + 4 * dim, dim, 0)
    big = vectors.astype(">f4", copy=False)
    parts: list[bytes] = []
    for i, (chunk_id, row) in enumerate(zip(ids, big, strict=True)):
        raw = chunk_id.encode("utf-8")
        parts.append(struct.pack("!hiii", 3, 4, start + i, len(raw)))
        parts.append(raw)
        parts.append(vec_head)
        parts.append(row.tobytes())
    return b"".join(parts)


def _literal(vector: np.ndarray) -> str:
    # repr of the float32 values (as Python floats) round-trips exactly through pgvector's strtof.
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


class PgVectorIndex(PgIndexBase):
    """`protocols.VectorIndex` on a pgvector table; see the module docstring for the design."""

    kind = KIND
    what = "index.vector.kind pgvector"
    setting = "index.vector.url"

    def __init__(self, cfg: VectorIndexConfig, dim: int, *, url: str | None = None) -> None:
        if dim < 1:
            raise ValueError(f"vector index dimension must be positive, got {dim}")
        if dim > MAX_DIM:
            raise ConfigError(
                f"index.vector.kind pgvector indexes at most {MAX_DIM} dimensions, the embedder gives "
                f"{dim}; use index.vector.kind hnsw or exact"
            )
        super().__init__(url if url is not None else cfg.url)
        self.cfg = cfg
        self.dim = dim
        self._table: str | None = None
        self._ids: list[str] = []
        #: Set once a search followed a rebuild by another process: the ids this process can use.
        self._known: set[str] | None = None
        self._ext_version: tuple[int, ...] = ()

    # --- where the vectors live -------------------------------------------------------------

    @property
    def table(self) -> str | None:
        """The table holding the vectors (None before the first build)."""
        return self._table

    def _ensure_schema(self, conn: Any) -> None:
        """The vector extension and the registry table (both IF NOT EXISTS; serialized by a lock)."""
        import psycopg

        shown = shown_url(self.url)
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if row is None:
            try:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('llmpilot.pgvector'))")
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise StoreError(
                    f"the database at {shown!r} has no pgvector extension ({first_line(exc)}); use "
                    "`llmpilot db up` or install pgvector (CREATE EXTENSION vector)"
                ) from None
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        self._ext_version = tuple(int(p) for p in re.findall(r"\d+", str(row[0]))[:3])
        exists = conn.execute("SELECT to_regclass(%s)", (REGISTRY_TABLE,)).fetchone()[0]
        if exists is None:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('llmpilot.pgvector'))")
            conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (
                    namespace TEXT PRIMARY KEY, tenant TEXT NOT NULL, collection TEXT NOT NULL,
                    chunk_set TEXT NOT NULL, index_hash TEXT NOT NULL, table_name TEXT NOT NULL,
                    dim INTEGER NOT NULL, method TEXT NOT NULL, metric TEXT NOT NULL,
                    count INTEGER NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
            )

    # --- VectorIndex ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Load `vectors` into a new table, index it, and swap it in for the namespace's old one."""
        from psycopg import sql

        arr = _as_matrix(vectors, self.dim, "vectors")
        if arr.shape[0] != len(ids):
            raise ValueError(f"build got {len(ids)} ids but {arr.shape[0]} vectors; they must pair up")
        check_unique_ids(ids)
        table = f"lp_vectors_{secrets.token_hex(8)}"
        ident = sql.Identifier(table)
        opclass = _OPS[self.cfg.metric][1]
        with self._connect() as conn:
            self._ensure_schema(conn)
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (ord INTEGER NOT NULL, id TEXT PRIMARY KEY, "
                    "embedding vector({}) NOT NULL)"
                ).format(ident, sql.Literal(self.dim))
            )
            with (
                conn.cursor() as cur,
                cur.copy(
                    sql.SQL("COPY {} (ord, id, embedding) FROM STDIN (FORMAT BINARY)").format(ident)
                ) as copy,
            ):
                copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
                for lo in range(0, len(ids), _COPY_ROWS):
                    copy.write(_copy_rows(lo, ids[lo : lo + _COPY_ROWS], arr[lo : lo + _COPY_ROWS]))
                copy.write(struct.pack("!h", -1))
            conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(_BUILD_MEMORY)))
            conn.execute(
                sql.SQL("SET LOCAL max_parallel_maintenance_workers = {}").format(sql.Literal(_BUILD_WORKERS))
            )
            if self.cfg.method == "hnsw":
                params = sql.SQL("m = {}, ef_construction = {}").format(
                    sql.Literal(self.cfg.connectivity),
                    sql.Literal(max(self.cfg.ef_construction, 2 * self.cfg.connectivity)),
                )
            else:
                params = sql.SQL("lists = {}").format(sql.Literal(self.cfg.lists or _ivfflat_lists(len(ids))))
            conn.execute(
                sql.SQL("CREATE INDEX ON {} USING {} (embedding {}) WITH ({})").format(
                    ident, sql.SQL(self.cfg.method), sql.SQL(opclass), params
                )
            )
            conn.execute(sql.SQL("ANALYZE {}").format(ident))
            # One build of a namespace at a time, so that a concurrent one's table is never orphaned.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{REGISTRY_TABLE}/{self._namespace}",)
            )
            old = conn.execute(
                f"SELECT table_name FROM {REGISTRY_TABLE} WHERE namespace = %s", (self._namespace,)
            ).fetchone()
            s = self._scope
            conn.execute(
                f"""INSERT INTO {REGISTRY_TABLE} (namespace, tenant, collection, chunk_set, index_hash,
                    table_name, dim, method, metric, count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (namespace) DO UPDATE SET table_name = EXCLUDED.table_name,
                    chunk_set = EXCLUDED.chunk_set, dim = EXCLUDED.dim, method = EXCLUDED.method,
                    metric = EXCLUDED.metric, count = EXCLUDED.count, created_at = now()""",
                (
                    self._namespace, s.tenant, s.collection, s.chunk_set, s.index_hash,
                    table, self.dim, self.cfg.method, self.cfg.metric, len(ids),
                ),
            )  # fmt: skip
            if old is not None and _TABLE_RE.match(old[0]):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(old[0])))
        self._table, self._ids, self._known = table, list(ids), None

    def search(self, queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        """The k best rows per query (a statement each, one transaction), best first; ties by build order."""
        from psycopg import errors

        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        q = _as_matrix(queries, self.dim, "queries")
        n = len(self._ids)
        if n == 0 or q.shape[0] == 0 or self._table is None:
            return [[] for _ in range(q.shape[0])]
        try:
            return self._search(q, k, n)
        except errors.UndefinedTable:
            # Another process (an ingest, `sync`) rebuilt this namespace while we served: follow the
            # registry to the new table rather than fail every question until a restart.
            if not self._follow_rebuild():
                raise StaleIndexError(
                    f"the pgvector table {self._table} is gone (another process rebuilt the index, or "
                    "the database was reset); reload the indexes (restart a server) or rebuild the index"
                ) from None
            return self._search(q, k, n)

    def _search(self, q: np.ndarray, k: int, n: int) -> list[list[ScoredId]]:
        from psycopg import sql

        assert self._table is not None
        op = _OPS[self.cfg.metric][0]
        stmt = sql.SQL(
            "SELECT ord, id, embedding {op} %(q)s::vector FROM {t} "
            "ORDER BY embedding {op} %(q)s::vector LIMIT %(k)s"
        ).format(op=sql.SQL(op), t=sql.Identifier(self._table))
        known = self._known
        out: list[list[ScoredId]] = []
        with self._connect(transaction=False) as conn:
            self._apply_settings(conn, self._search_settings(k, n))
            for row in q:
                rows = conn.execute(stmt, {"q": _literal(row), "k": k}).fetchall()
                # After following a rebuild: only ids this process knows (its chunks are from load time).
                scored = [
                    (1.0 - d if op == "<=>" else -d, o, i) for o, i, d in rows if known is None or i in known
                ]
                scored.sort(key=lambda r: (-r[0], r[1]))
                out.append([ScoredId(i, float(s)) for s, _, i in scored])
        return out

    def _follow_rebuild(self) -> bool:
        """Point at the namespace's current table (registry); False when there is none."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT table_name FROM {REGISTRY_TABLE} WHERE namespace = %s", (self._namespace,)
            ).fetchone()
        if row is None or not _TABLE_RE.match(row[0]) or row[0] == self._table:
            return False
        log.warning(
            "the pgvector index %s was rebuilt by another process; searching its new table %s "
            "(chunks added since this process loaded its indexes show after a restart)",
            self._namespace,
            row[0],
        )
        self._table, self._known = row[0], set(self._ids)
        return True

    def _search_settings(self, k: int, n: int) -> dict[str, str]:
        """Every setting a search depends on, so that none is left over from another index's search
        on the same pooled connection (they are session settings: see `_apply_settings`)."""
        hnsw = self.cfg.method == "hnsw"
        settings = {
            # k reaches a large share of the rows: an exact scan is complete, and cheaper than an
            # ANN walk widened to k.
            "enable_indexscan": "off" if 2 * k >= n else "on",
            "hnsw.ef_search": str(min(_MAX_EF_SEARCH, max(self.cfg.expansion_search, k))) if hnsw else "40",
            "ivfflat.probes": "1" if hnsw else str(self.cfg.probes),
        }
        if self._ext_version >= (0, 8):
            # k above ef_search: keep walking in order instead of returning fewer than k; IVFFlat
            # offers relaxed order only (results are re-sorted in `search`).
            settings["hnsw.iterative_scan"] = "strict_order" if hnsw else "off"
            settings["ivfflat.iterative_scan"] = "off" if hnsw else "relaxed_order"
        return settings

    @staticmethod
    def _apply_settings(conn: Any, settings: dict[str, str]) -> None:
        """Session settings, sent only when this pooled connection holds others: a search then costs
        one round trip per query (SET LOCAL would need BEGIN/COMMIT round trips every time)."""
        if _session_settings.get(conn) == settings:
            return
        pairs = list(settings.items())
        calls = ", ".join("set_config(%s, %s, false)" for _ in pairs)
        conn.execute(f"SELECT {calls}", [v for pair in pairs for v in pair])
        _session_settings[conn] = dict(settings)

    # --- persistence -------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """The manifest (where the rows are: URL without password, namespace, table) and ids.json."""
        begin_save(path)
        cfg = self.cfg.model_dump(mode="json")
        if cfg.get("url"):
            cfg["url"] = shown_url(cfg["url"])
        write_json(path / IDS_FILE, self._ids)
        write_json(
            path / MANIFEST,
            {
                "kind": KIND,
                "format": FORMAT_VERSION,
                "count": len(self._ids),
                "dim": self.dim,
                "config": cfg,
                "namespace": self._namespace,
                "table": self._table,
                "url": shown_url(self.url) if self._table is not None else None,
                "scope": asdict(self._scope),
            },
        )

    @classmethod
    def load(cls, path: Path, *, url: str | Engine | None = None) -> PgVectorIndex:
        """Reconnect to the rows a saved index names (through `url` when given, e.g. the project's
        store engine with its password; else the saved URL), checking they are still there."""
        manifest = read_manifest(path, [KIND])
        where = path / MANIFEST
        try:
            cfg = VectorIndexConfig.model_validate(manifest.get("config"))
        except ValidationError as exc:
            raise StoreError(f"{where}: invalid vector index config ({exc}); rebuild the index") from None
        dim, table, namespace = manifest.get("dim"), manifest.get("table"), manifest.get("namespace")
        if not isinstance(dim, int) or dim < 1 or not isinstance(namespace, str):
            raise StoreError(f"{where}: invalid dim or namespace; rebuild the index")
        if table is not None and not (isinstance(table, str) and _TABLE_RE.match(table)):
            raise StoreError(f"{where}: invalid table {table!r}; rebuild the index")
        ids = read_ids(path, manifest["count"])
        index = cls(cfg, dim)
        try:
            scope = Scope(**manifest.get("scope", {}))
        except TypeError:
            raise StoreError(f"{where}: invalid scope; rebuild the index") from None
        target = url if url is not None else str(manifest.get("url") or "") or cls(cfg, dim).url
        index.attach(target, scope)
        index._namespace, index._ids = namespace, ids
        if table is None:  # never built: an empty index
            return index
        with index._connect() as conn:
            index._ensure_schema(conn)
            row = conn.execute(
                f"SELECT table_name, count FROM {REGISTRY_TABLE} WHERE namespace = %s", (namespace,)
            ).fetchone()
            present = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if present else None
        shown = shown_url(index.url)
        if row is None or row[0] != table or present is None:
            raise StaleIndexError(
                f"{where}: the pgvector table {table} is no longer in {shown!r} (rebuilt or reset); "
                "rebuild the index"
            )
        if rows != len(ids) or row[1] != len(ids):
            raise StaleIndexError(
                f"{where}: the pgvector table {table} holds {rows} rows, the index {len(ids)}; "
                "rebuild the index"
            )
        index._table = table
        return index


# --- a project's pgvector index (indexing.open_indexes) ------------------------------------------


def project_database(project: Project) -> str:
    """The database of a project's pgvector index: index.vector.url, else the store when it is
    PostgreSQL, else env LLMPILOT_PGVECTOR_URL; a ConfigError names the settings otherwise."""
    return project_url(project, project.config.index.vector.url, PgVectorIndex.what, PgVectorIndex.setting)


def attach_to_project(index: object, project: Project) -> None:
    """Point a pgvector index at the project's database and namespace (other kinds: nothing to do)."""
    if isinstance(index, PgVectorIndex):
        index.attach(project_database(project), project_scope(project))


def reload_for_project(project: Project, path: Path) -> PgVectorIndex | None:
    """The saved index at `path` on the project's database, or None when its rows are gone (the
    caller rebuilds: the folder only points at rows, so a reset database costs a rebuild, not an error)."""
    try:
        return PgVectorIndex.load(path, url=project_database(project))
    except StaleIndexError:
        return None


@vector_indexes.register(KIND)
def _pgvector(cfg: VectorIndexConfig, dim: int) -> PgVectorIndex:
    return PgVectorIndex(cfg, dim)
