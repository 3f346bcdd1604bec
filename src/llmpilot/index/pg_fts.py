"""A keyword index in PostgreSQL full-text search (`index.keyword.kind: pg_fts`).

Texts are tokenized by llmpilot's own tokenizer (`index.keyword.tokenizer`: the Korean-aware `ko`
and the rest), and the tokens are stored as they are in a `tsvector` (token -> positions) with a GIN
index. The tokens are cast to tsvector/tsquery directly rather than passed through a text search
configuration: even 'simple' would re-split and lowercase them with PostgreSQL's own parser, which
knows nothing of Korean morphemes or bigrams; a cast keeps exactly the tokens BM25 would see.

Ranking (`index.keyword.ranking`):
- `bm25`: the same Okapi BM25 as the bm25s index (Lucene's idf and term-frequency saturation with k1
  and b; scores equal to 1e-5), in SQL over an inverted index built next to the tsvectors: a postings
  table (token, text, saturated term weight) with a covering B-tree, and a token -> idf table. A
  first version computed BM25 from the tsvectors themselves (unnest of every matching text's
  tsvector); with Korean morphemes + bigrams nearly every text matches some query token, and it took
  1.5 s a query on autorag-ko's 720 texts. The postings read only the query tokens' rows.
- `ts_rank_cd`: PostgreSQL's cover-density rank over the texts whose tsvector matches any query token
  (`@@` through the GIN index). Measured far below BM25 on autorag-ko (benchmarks/pg_fts_vs_bm25.py).

Rows live like pgvector's (see index/pgvector.py): one set of tables per namespace (`lp_fts_<16 hex>`
and its `_terms` and `_postings`) and a registry `lp_keyword_indexes` owned by this module; a rebuild
swaps the registry row in one transaction and drops the old tables.

Limits of tsvector (ts_rank_cd): a token of 2,046 bytes or more is dropped (in texts and queries
alike), positions stop at 16,383 and a token keeps at most 256 of them; chunks are far shorter.
"""

from __future__ import annotations

import math
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Engine

from llmpilot import factory
from llmpilot.config import KeywordIndexConfig
from llmpilot.errors import StoreError
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
    project_scope,
    project_url,
    shown_url,
)
from llmpilot.types import ScoredId

if TYPE_CHECKING:
    from llmpilot.project import Project

KIND = "pg_fts"
REGISTRY_TABLE = "lp_keyword_indexes"
_TABLE_RE = re.compile(r"^lp_fts_[0-9a-f]{16}$")
#: tsvector limits: lexeme length in bytes, last position, positions kept per lexeme.
_MAX_LEXEME_BYTES = 2046
_MAX_POS = 16383
_MAX_POSITIONS = 256

# Okapi BM25, Lucene variant (as bm25s method="lucene"), from the postings table: each (token, text)
# pair holds w = tf / (tf + k1 (1 - b + b dl / avgdl)), each token idf = ln(1 + (N - df + .5) / (df + .5)),
# both computed at build. Query tokens count as often as they occur (as in bm25s).
_BM25_SQL = """
SELECT p.ord, sum(s.idf * p.w) AS score
FROM unnest(%(terms)s::text[]) AS t(lexeme)
JOIN {terms} s ON s.lexeme = t.lexeme
JOIN {postings} p ON p.lexeme = t.lexeme
GROUP BY p.ord
ORDER BY score DESC, p.ord
LIMIT %(k)s
"""
_RANK_CD_SQL = """
SELECT d.ord, ts_rank_cd(d.tsv, q.q) AS score
FROM {docs} d, (SELECT %(tsq)s::tsquery AS q) q
WHERE d.tsv @@ q.q
ORDER BY score DESC, d.ord
LIMIT %(k)s
"""


def _quote(token: str) -> str:
    """A lexeme as tsvector/tsquery input: single-quoted, with ' and \\ escaped."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _usable(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t and len(t.encode("utf-8")) <= _MAX_LEXEME_BYTES]


def tsvector_literal(tokens: Sequence[str]) -> str:
    """`tokens` (in order) as tsvector input: each distinct token with its 1-based positions."""
    positions: dict[str, list[int]] = defaultdict(list)
    for i, token in enumerate(tokens):
        pos = positions[token]
        p = min(i + 1, _MAX_POS)
        if len(pos) < _MAX_POSITIONS and (not pos or pos[-1] != p):
            pos.append(p)
    return " ".join(f"{_quote(t)}:{','.join(map(str, ps))}" for t, ps in positions.items())


class PgFtsIndex(PgIndexBase):
    """`protocols.KeywordIndex` on a PostgreSQL tsvector table; see the module docstring."""

    kind = KIND
    what = "index.keyword.kind pg_fts"
    setting = "index.keyword.url"

    def __init__(self, cfg: KeywordIndexConfig, *, url: str | None = None) -> None:
        super().__init__(url if url is not None else cfg.url)
        self.cfg = cfg
        # Built once: Kiwi-backed tokenizers are expensive to construct, never per query.
        self._tokenize = factory.tokenizer(cfg.tokenizer)
        self._ids: list[str] = []
        self._table: str | None = None

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def table(self) -> str | None:
        return self._table

    def _ensure_schema(self, conn: Any) -> None:
        if conn.execute("SELECT to_regclass(%s)", (REGISTRY_TABLE,)).fetchone()[0] is None:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('llmpilot.pg_fts'))")
            conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (
                    namespace TEXT PRIMARY KEY, tenant TEXT NOT NULL, collection TEXT NOT NULL,
                    chunk_set TEXT NOT NULL, index_hash TEXT NOT NULL, table_name TEXT NOT NULL,
                    tokenizer TEXT NOT NULL, count INTEGER NOT NULL, avgdl DOUBLE PRECISION NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
            )

    def build(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index `texts` under `ids` in a new table, and swap it in for the namespace's old one."""
        from psycopg import sql

        if len(ids) != len(texts):
            raise ValueError(f"build got {len(ids)} ids but {len(texts)} texts; they must pair up")
        check_unique_ids(ids)
        tokens = [_usable(t) for t in self._tokenize(list(texts))] if texts else []
        lengths = [len(t) for t in tokens]
        avgdl = (sum(lengths) / len(lengths)) if sum(lengths) else 1.0  # all empty: any positive value
        table = f"lp_fts_{secrets.token_hex(8)}"
        docs = sql.Identifier(table)
        terms, postings = sql.Identifier(f"{table}_terms"), sql.Identifier(f"{table}_postings")
        with self._connect() as conn:
            self._ensure_schema(conn)
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (ord INTEGER NOT NULL, id TEXT PRIMARY KEY, len INTEGER NOT NULL, "
                    "tsv TSVECTOR NOT NULL)"
                ).format(docs)
            )
            with (
                conn.cursor() as cur,
                cur.copy(sql.SQL("COPY {} (ord, id, len, tsv) FROM STDIN").format(docs)) as copy,
            ):
                for i, (chunk_id, toks) in enumerate(zip(ids, tokens, strict=True)):
                    copy.write_row((i, chunk_id, len(toks), tsvector_literal(toks)))
            conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(docs))
            conn.execute(
                sql.SQL("CREATE TABLE {} (lexeme TEXT NOT NULL, idf DOUBLE PRECISION NOT NULL)").format(terms)
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (lexeme TEXT NOT NULL, ord INTEGER NOT NULL, "
                    "w DOUBLE PRECISION NOT NULL)"
                ).format(postings)
            )
            if self.cfg.ranking == "bm25":
                self._copy_postings(conn, terms, postings, tokens, avgdl)
            conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (lexeme)").format(terms))
            conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (lexeme, ord) INCLUDE (w)").format(postings))
            for name in (docs, terms, postings):
                conn.execute(sql.SQL("ANALYZE {}").format(name))
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
                    table_name, tokenizer, count, avgdl) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (namespace) DO UPDATE SET table_name = EXCLUDED.table_name,
                    chunk_set = EXCLUDED.chunk_set, tokenizer = EXCLUDED.tokenizer,
                    count = EXCLUDED.count, avgdl = EXCLUDED.avgdl, created_at = now()""",
                (
                    self._namespace, s.tenant, s.collection, s.chunk_set, s.index_hash,
                    table, self.cfg.tokenizer, len(ids), avgdl,
                ),
            )  # fmt: skip
            if old is not None and _TABLE_RE.match(old[0]):
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}, {}, {}").format(
                        *(sql.Identifier(old[0] + suffix) for suffix in ("", "_terms", "_postings"))
                    )
                )
        self._table, self._ids = table, list(ids)

    def _copy_postings(
        self, conn: Any, terms: Any, postings: Any, tokens: list[list[str]], avgdl: float
    ) -> None:
        """BM25's inverted index: per token its idf, per (token, text) its saturated term weight;
        written sorted by token, so that a token's postings sit together on disk."""
        from psycopg import sql

        k1, b = self.cfg.k1, self.cfg.b
        by_token: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for ord_, toks in enumerate(tokens):
            norm = k1 * (1 - b + b * len(toks) / avgdl)
            for token, tf in Counter(toks).items():
                by_token[token].append((ord_, tf / (tf + norm)))
        n = len(tokens)
        with conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} (lexeme, idf) FROM STDIN").format(terms)) as copy:
                for token in sorted(by_token):
                    df = len(by_token[token])
                    copy.write_row((token, math.log(1 + (n - df + 0.5) / (df + 0.5))))
            with cur.copy(sql.SQL("COPY {} (lexeme, ord, w) FROM STDIN").format(postings)) as copy:
                for token in sorted(by_token):
                    for ord_, w in by_token[token]:
                        copy.write_row((token, ord_, w))

    def search(self, queries: Sequence[str], k: int) -> list[list[ScoredId]]:
        """Top `k` ids per query, best first (ties by build order); only texts sharing a token."""
        from psycopg import errors, sql

        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        results: list[list[ScoredId]] = [[] for _ in queries]
        if not self._ids or not queries or self._table is None:
            return results
        tokenized = [_usable(t) for t in self._tokenize(list(queries))]
        if not any(tokenized):
            return results
        template = _BM25_SQL if self.cfg.ranking == "bm25" else _RANK_CD_SQL
        stmt = sql.SQL(template).format(
            docs=sql.Identifier(self._table),
            terms=sql.Identifier(f"{self._table}_terms"),
            postings=sql.Identifier(f"{self._table}_postings"),
        )
        with self._connect(transaction=False) as conn:
            try:
                for qi, toks in enumerate(tokenized):
                    if not toks:
                        continue
                    tsq = " | ".join(_quote(t) for t in dict.fromkeys(toks))
                    rows = conn.execute(stmt, {"terms": toks, "tsq": tsq, "k": k}).fetchall()
                    results[qi] = [ScoredId(self._ids[o], float(s)) for o, s in rows if s > 0]
            except errors.UndefinedTable:
                raise StaleIndexError(
                    f"the pg_fts table {self._table} is gone (another process rebuilt the index, or "
                    "the database was reset); reload the indexes (restart a server) or rebuild the index"
                ) from None
        return results

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
                "config": cfg,
                "namespace": self._namespace,
                "table": self._table,
                "url": shown_url(self.url) if self._table is not None else None,
                "scope": asdict(self._scope),
            },
        )

    @classmethod
    def load(cls, path: Path, *, url: str | Engine | None = None) -> PgFtsIndex:
        """Reconnect to the rows a saved index names (through `url` when given, else the saved URL)."""
        manifest = read_manifest(path, [KIND])
        where = path / MANIFEST
        try:
            cfg = KeywordIndexConfig.model_validate(manifest.get("config"))
        except ValidationError as exc:
            raise StoreError(f"{where}: invalid keyword index config ({exc}); rebuild the index") from None
        table, namespace = manifest.get("table"), manifest.get("namespace")
        if not isinstance(namespace, str):
            raise StoreError(f"{where}: invalid namespace; rebuild the index")
        if table is not None and not (isinstance(table, str) and _TABLE_RE.match(table)):
            raise StoreError(f"{where}: invalid table {table!r}; rebuild the index")
        ids = read_ids(path, manifest["count"])
        index = cls(cfg)
        index._ids = ids
        if table is None:  # never built: an empty index
            return index
        try:
            scope = Scope(**manifest.get("scope", {}))
        except TypeError:
            raise StoreError(f"{where}: invalid scope; rebuild the index") from None
        index.attach(url if url is not None else str(manifest.get("url") or "") or index.url, scope)
        index._namespace = namespace
        with index._connect() as conn:
            index._ensure_schema(conn)
            row = conn.execute(
                f"SELECT table_name, count FROM {REGISTRY_TABLE} WHERE namespace = %s", (namespace,)
            ).fetchone()
            present = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if present else None
        if row is None or row[0] != table or present is None:
            raise StaleIndexError(
                f"{where}: the pg_fts table {table} is no longer in {shown_url(index.url)!r} (rebuilt or "
                "reset); rebuild the index"
            )
        if rows != len(ids) or row[1] != len(ids):
            raise StaleIndexError(
                f"{where}: the pg_fts table {table} holds {rows} rows, the index {len(ids)}; "
                "rebuild the index"
            )
        index._table = table
        return index


# --- a project's pg_fts index (indexing.open_indexes) --------------------------------------------


def project_database(project: Project) -> str:
    """The database of a project's pg_fts index: index.keyword.url, else the store when it is
    PostgreSQL, else env LLMPILOT_PGVECTOR_URL (as pgvector.project_database)."""
    return project_url(project, project.config.index.keyword.url, PgFtsIndex.what, PgFtsIndex.setting)


def attach_to_project(index: object, project: Project) -> None:
    """Point a pg_fts index at the project's database and namespace (other kinds: nothing to do)."""
    if isinstance(index, PgFtsIndex):
        index.attach(project_database(project), project_scope(project))


def reload_for_project(project: Project, path: Path) -> PgFtsIndex | None:
    """The saved index at `path` on the project's database, or None when its rows are gone."""
    try:
        return PgFtsIndex.load(path, url=project_database(project))
    except StaleIndexError:
        return None
