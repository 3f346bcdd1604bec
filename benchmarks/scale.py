"""Vector search at scale (issue 17): the project's `hnsw` index (usearch, in process) vs pgvector HNSW
vs pgvector IVFFlat, per corpus size: build time, peak memory, disk, single-query latency p50/p99
(k=10) and recall@10 against exact search (numpy brute force over the same vectors), plus how each
grows with the corpus (ratio largest/smallest size). Exact search latency is measured in the same run.

    .venv/bin/python benchmarks/scale.py --sizes 100000 1000000 \
        --json benchmarks/results/scale.json --html benchmarks/results/scale.html

Vectors: the first rows are real e5-small passage vectors of the autorag-ko corpus (720 chunks), the
rest random unit vectors (dim 384, seeded, float32): embedding 1M chunks on 2 CPUs is out of reach.
Queries: the 114 real e5-small autorag-ko queries plus perturbed copies of stored rows
(v + 0.5·u, u a random unit vector, renormalised): held-out random vectors have no structure to find.
Every finished engine x size cell is saved at once; `--resume` skips the cells the JSON already holds.
`usearch` is the project's build (one thread); `usearch_mt` inserts into the same index with every core,
as pgvector's parallel build does. `--stop-by HH:MM` starts no engine after that time (UTC) and caps a
pgvector build so that it ends in time; a build cut short is recorded as such, with its progress.
`--report-only` rewrites the HTML/PNG from the JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from llmpilot.config import VectorIndexConfig
from llmpilot.index.vector import ExactVectorIndex, HnswVectorIndex

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / ".llmpilot-bench" / "scale"
E5_DATASET = "autorag-ko"

DIM = 384  # e5-small's
K = 10
SEED = 17
QUERY_NOISE = 0.5
BLOCK = 65_536  # rows generated / scored per step: bounds temporary memory at 1M rows

#: usearch: the project's HnswVectorIndex.build (one thread); usearch_mt: the same index and settings
#: built with every core (as pgvector's parallel build uses them), for when one thread is too slow.
ENGINES = ("exact", "usearch", "usearch_mt", "pgvector_ivfflat", "pgvector_hnsw")
USEARCH_EF = (64, 128)  # 128 is VectorIndexConfig's default expansion_search
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
PG_HNSW_EF = (40, 100)  # 40 is pgvector's default hnsw.ef_search
PG_PROBES = 10
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:55432/postgres"
PG_DB = "scale_bench"
PG_MAINTENANCE_WORK_MEM = "2GB"
PG_PARALLEL_WORKERS = 1  # two cores: the leader plus one worker
WARMUP_QUERIES = 20
PG_QUERY_MARGIN_MIN = 5.0  # kept free for the queries when --stop-by caps a pgvector build


class BenchError(Exception):
    """A problem the user can fix; printed as one line."""


# --------------------------------------------------------------------------------------------- data


@dataclass
class Data:
    corpus: np.ndarray  # (n, DIM) float32, unit rows
    queries: np.ndarray  # (q, DIM) float32, unit rows
    kinds: list[str]  # per query: "e5" (real query) or "perturbed"
    truth: np.ndarray  # (q, K) int64: exact top-K row numbers
    describe: dict[str, Any]


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` random unit vectors, generated block by block (no float64 copy of the whole matrix)."""
    out = np.empty((n, DIM), dtype=np.float32)
    for lo in range(0, n, BLOCK):
        block = rng.standard_normal((min(BLOCK, n - lo), DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[lo : lo + len(block)] = block
    return out


def e5_vectors(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Real e5-small vectors of the autorag-ko corpus (passages) and queries, cached after the first
    run (720 passages: 23 minutes measured on a shared, busy 2-CPU machine)."""
    if cache.is_file():
        with np.load(cache) as saved:
            return saved["docs"], saved["queries"]
    from llmpilot.config import parse_config
    from llmpilot.evaluation.datasets import load_dataset
    from llmpilot.indexing import passage_text
    from llmpilot.ingest import make_embedder

    folder = SHARED / E5_DATASET
    if not (folder / "corpus.jsonl").is_file():
        raise BenchError(f"{folder}: corpus.jsonl not found; pass --real none to use random vectors only")
    ds = load_dataset(folder)
    embedder = make_embedder(parse_config({}))  # the default embedder: e5-small
    texts = [passage_text(d.title, d.text, True) for d in ds.corpus]
    docs = np.concatenate([embedder.embed(texts[i : i + 32], "passage") for i in range(0, len(texts), 32)])
    queries = embedder.embed([q.text for q in ds.queries], "query")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, docs=docs.astype(np.float32), queries=queries.astype(np.float32))
    return docs.astype(np.float32), queries.astype(np.float32)


def exact_topk(corpus: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Exact top-k row numbers by inner product, best first; a few queries per matmul so that the
    score matrix stays small at 1M rows."""
    out = np.empty((len(queries), k), dtype=np.int64)
    step = max(1, (BLOCK * 64) // max(1, len(corpus)))
    for lo in range(0, len(queries), step):
        scores = queries[lo : lo + step] @ corpus.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(scores, part, axis=1)
        out[lo : lo + step] = np.take_along_axis(part, np.argsort(-top, axis=1), axis=1)
    return out


def make_data(n: int, n_queries: int, real: tuple[np.ndarray, np.ndarray] | None) -> Data:
    rng = np.random.default_rng(SEED)
    corpus = unit_rows(rng, n)
    n_real = 0
    real_queries = np.zeros((0, DIM), dtype=np.float32)
    if real is not None:
        docs, real_queries = real
        n_real = min(n, len(docs))
        corpus[:n_real] = docs[:n_real]
        real_queries = real_queries[: max(0, n_queries // 2)]
    n_pert = n_queries - len(real_queries)
    qrng = np.random.default_rng(SEED + 1)
    src = qrng.choice(n, size=n_pert, replace=False)
    pert = corpus[src] + np.float32(QUERY_NOISE) * unit_rows(qrng, n_pert)
    pert /= np.linalg.norm(pert, axis=1, keepdims=True)
    queries = np.ascontiguousarray(np.concatenate([real_queries, pert]), dtype=np.float32)
    kinds = ["e5"] * len(real_queries) + ["perturbed"] * n_pert
    vectors = (
        f"rows 0..{n_real - 1}: real e5-small passage vectors of {E5_DATASET} ({n_real} chunks); "
        f"the other {n - n_real} rows: random unit vectors (standard normal, normalised, dim {DIM}, "
        f"float32, seed {SEED})"
        if n_real
        else f"all {n} rows: random unit vectors (standard normal, normalised, dim {DIM}, "
        f"float32, seed {SEED})"
    )
    queries_text = (
        f"{len(real_queries)} real e5-small queries of {E5_DATASET} + " if len(real_queries) else ""
    ) + (
        f"{n_pert} perturbed copies of stored rows (v + {QUERY_NOISE}·u, u a random unit vector, "
        f"renormalised; rows drawn uniformly, seed {SEED + 1})"
    )
    return Data(
        corpus,
        queries,
        kinds,
        exact_topk(corpus, queries),
        {"rows": n, "dim": DIM, "vectors": vectors, "queries": queries_text, "n_queries": len(queries)},
    )


# ------------------------------------------------------------------------------------ measurements


class PeakRss:
    """Samples the summed RSS of some processes in a thread: baseline at start, peak while running.
    Summed RSS counts shared pages (PostgreSQL's shared buffers) once per process: an upper bound."""

    def __init__(self, processes: Callable[[], list[psutil.Process]], interval: float = 0.05) -> None:
        self._processes = processes
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.baseline = 0
        self.peak = 0
        self.peak_single = 0  # the largest single process seen (e.g. the building backend)

    def _sample(self) -> tuple[int, int]:
        total = single = 0
        for proc in self._processes():
            try:
                rss = proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            single = max(single, rss)
        return total, single

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            total, single = self._sample()
            self.peak, self.peak_single = max(self.peak, total), max(self.peak_single, single)

    def __enter__(self) -> PeakRss:
        self.baseline, self.peak_single = self._sample()
        self.peak = self.baseline
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        total, single = self._sample()
        self.peak, self.peak_single = max(self.peak, total), max(self.peak_single, single)

    def report(self) -> dict[str, float]:
        mb = 1024 * 1024
        return {
            "rss_before_mb": round(self.baseline / mb, 1),
            "rss_peak_mb": round(self.peak / mb, 1),
            "rss_delta_mb": round((self.peak - self.baseline) / mb, 1),
            "largest_process_peak_mb": round(self.peak_single / mb, 1),
        }


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
    }


def recall(found: Sequence[Sequence[int]], truth: np.ndarray, kinds: Sequence[str]) -> dict[str, Any]:
    """recall@K overall and per query kind; a short answer counts its missing places as misses."""
    per = [len(set(f[:K]) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]
    by_kind = {
        kind: round(float(np.mean([r for r, k in zip(per, kinds, strict=True) if k == kind])), 4)
        for kind in sorted(set(kinds))
    }
    return {"recall_at_10": round(float(np.mean(per)), 4), "recall_by_query_kind": by_kind}


def run_queries(search: Callable[[np.ndarray], list[int]], data: Data) -> dict[str, Any]:
    """Single queries one after another (k=K): latency percentiles and recall against exact."""
    for q in data.queries[:WARMUP_QUERIES]:  # first touches (page cache, prepared plans) not timed
        search(q)
    seconds: list[float] = []
    found: list[list[int]] = []
    for q in data.queries:
        t = time.perf_counter()
        ids = search(q)
        seconds.append(time.perf_counter() - t)
        found.append(ids)
    return {**latency_stats(seconds), **recall(found, data.truth, data.kinds), "n_queries": len(seconds)}


def own_process() -> list[psutil.Process]:
    return [psutil.Process()]


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ------------------------------------------------------------------------------- in-process engines


def bench_exact(data: Data) -> dict[str, Any]:
    """The reference: the project's exact index (numpy, one BLAS thread), single queries."""
    n = len(data.corpus)
    index = ExactVectorIndex(VectorIndexConfig(kind="exact"), DIM)
    index.build([str(i) for i in range(n)], data.corpus)
    search = run_queries(lambda q: [int(s.id) for s in index.search(q[None], K)[0]], data)
    return {
        "engine": "exact",
        "status": "ok",
        "params": {"index": "llmpilot ExactVectorIndex (numpy inner product, 1 BLAS thread)"},
        "disk_bytes": n * DIM * 4,
        "searches": [{"setting": "exact", **search}],
    }


def build_hnsw(index: HnswVectorIndex, ids: list[str], vectors: np.ndarray, threads: int) -> None:
    """HnswVectorIndex.build, or the same steps with a multi-threaded usearch insert."""
    if threads == 1:
        index.build(ids, vectors)
        return
    arr = index._check_build(ids, vectors)
    index._index = index._new_index()
    index._index.add(np.arange(len(ids), dtype=np.uint64), arr, threads=threads)
    index._ids = list(ids)


def bench_usearch(data: Data, work: Path, threads: int = 1) -> dict[str, Any]:
    """The project's `hnsw` vector index (usearch HNSW) with its default config."""
    n = len(data.corpus)
    cfg = VectorIndexConfig(kind="hnsw")
    ids = [str(i) for i in range(n)]
    index = HnswVectorIndex(cfg, DIM)
    gc.collect()
    with PeakRss(own_process) as mem:
        t = time.perf_counter()
        build_hnsw(index, ids, data.corpus, threads)
        build_s = time.perf_counter() - t
    path = work / f"usearch-{n}-t{threads}"
    t = time.perf_counter()
    index.save(path)
    save_s = time.perf_counter() - t
    searches = []
    for ef in USEARCH_EF:
        index._index.expansion_search = ef  # search-time setting; the graph is the same
        result = run_queries(lambda q: [int(s.id) for s in index.search(q[None], K)[0]], data)
        searches.append({"setting": f"expansion_search={ef}", "expansion_search": ef, **result})
    cell = {
        "engine": "usearch" if threads == 1 else "usearch_mt",
        "status": "ok",
        "params": {
            "index": "llmpilot HnswVectorIndex (usearch, metric ip, f32)"
            + ("" if threads == 1 else f"; insert with {threads} threads (its build uses 1)"),
            "connectivity": cfg.connectivity,
            "expansion_add": cfg.expansion_add,
            "expansion_search": list(USEARCH_EF),
            "build_threads": threads,
            "usearch": _version("usearch"),
        },
        "build_s": round(build_s, 2),
        "save_s": round(save_s, 2),
        "memory": {**mem.report(), "usearch_memory_usage_mb": round(index._index.memory_usage / 2**20, 1)},
        "disk_bytes": (path / HnswVectorIndex.INDEX_FILE).stat().st_size,
        "disk_dir_bytes": dir_bytes(path),
        "searches": searches,
    }
    return cell


# ---------------------------------------------------------------------------------------- pgvector


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def pg_conninfo(url: str, dbname: str | None = None) -> str:
    from psycopg.conninfo import make_conninfo

    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    return make_conninfo(url, dbname=dbname) if dbname else url


def pg_connect(url: str, dbname: str | None = None) -> Any:
    import psycopg

    try:
        return psycopg.connect(pg_conninfo(url, dbname), autocommit=True)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(
            f"--pg-url {url}: cannot connect ({first}); start the server or leave out the pgvector engines"
        ) from None


class Pg:
    """One session on the benchmark database, plus the server's processes for memory sampling."""

    def __init__(self, url: str) -> None:
        from pgvector.psycopg import register_vector

        self.url = url
        admin = pg_connect(url)
        with admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone():
                admin.execute(f"CREATE DATABASE {PG_DB}")
        self.conn = pg_connect(url, PG_DB)
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(self.conn)
        self.backend_pid = int(self.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        self.notices: list[str] = []
        self.memory_scope = "not sampled yet"
        self.conn.add_notice_handler(lambda d: self.notices.append(str(d.message_primary)))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def server(self) -> dict[str, Any]:
        names = ("shared_buffers", "work_mem", "effective_cache_size", "max_parallel_workers")
        return {
            "version": self.scalar("SHOW server_version"),
            "pgvector": self.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'"),
            **{name: self.scalar(f"SHOW {name}") for name in names},
        }

    def processes(self) -> Callable[[], list[psutil.Process]]:
        """The postmaster of this server (its postmaster.pid) and all its children, or, where the
        data directory is not readable here (a remote server), only this session's backend."""
        postmaster: psutil.Process | None = None
        try:
            data_dir = Path(str(self.scalar("SHOW data_directory")))
            postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))
        except Exception:  # any failure means "not a local, readable server"
            postmaster = None

        def current() -> list[psutil.Process]:
            if postmaster is None:
                try:
                    return [psutil.Process(self.backend_pid)]
                except psutil.NoSuchProcess:
                    return []
            try:
                return [postmaster, *postmaster.children(recursive=True)]
            except psutil.NoSuchProcess:
                return []

        self.memory_scope = "all server processes" if postmaster else "this session's backend only"
        return current

    def build_processes(self) -> list[psutil.Process]:
        """This session's backend and its parallel workers: the build's own memory, apart from
        other sessions sharing the server."""
        tag = f"parallel worker for PID {self.backend_pid}"
        out = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info.get("cmdline") or [])
            if proc.info["pid"] == self.backend_pid or tag in cmd:
                out.append(proc)
        return out


class BuildProgress:
    """Polls pg_stat_progress_create_index for the building backend from a second session, so that
    a build cut short by its time limit still says how far it got."""

    def __init__(self, pg: Pg, interval: float = 5.0) -> None:
        self._pg, self._interval = pg, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.last: dict[str, Any] | None = None

    def _run(self) -> None:
        import psycopg

        try:
            conn = pg_connect(self._pg.url, PG_DB)
        except BenchError:
            return
        cols = "phase, blocks_done, blocks_total, tuples_done, tuples_total"
        query = f"SELECT {cols} FROM pg_stat_progress_create_index WHERE pid = %s"
        with conn:
            while not self._stop.wait(self._interval):
                try:
                    row = conn.execute(query, (self._pg.backend_pid,)).fetchone()
                except psycopg.Error:
                    return
                if row is not None:
                    self.last = dict(zip(cols.split(", "), row, strict=True))

    def __enter__(self) -> BuildProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def fingerprint(data: Data) -> str:
    """Identifies the loaded rows, so that --resume reuses a table only when it holds this data."""
    sample = data.corpus[:: max(1, len(data.corpus) // 997)]
    return f"scale_bench n={len(data.corpus)} seed={SEED} sum={float(np.abs(sample).sum()):.6f}"


def pg_load(pg: Pg, table: str, data: Data) -> dict[str, Any]:
    """COPY (binary, pgvector's psycopg dumper) into a fresh table, then VACUUM ANALYZE."""
    from psycopg import sql

    tbl = sql.Identifier(table)
    pg.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(tbl))
    pg.conn.execute(
        sql.SQL("CREATE TABLE {} (id integer NOT NULL, embedding vector({}) NOT NULL)").format(
            tbl, sql.Literal(DIM)
        )
    )
    t = time.perf_counter()
    with pg.conn.cursor() as cur:
        copy_sql = sql.SQL("COPY {} (id, embedding) FROM STDIN WITH (FORMAT BINARY)").format(tbl)
        with cur.copy(copy_sql) as copy:
            copy.set_types(["int4", "vector"])
            for i, row in enumerate(data.corpus):
                copy.write_row((i, row))
    copy_s = time.perf_counter() - t
    t = time.perf_counter()
    pg.conn.execute(sql.SQL("VACUUM ANALYZE {}").format(tbl))
    vacuum_s = time.perf_counter() - t
    pg.conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(tbl, sql.Literal(fingerprint(data))))
    return {
        "engine": "pg_load",
        "status": "ok",
        "copy_s": round(copy_s, 2),
        "vacuum_analyze_s": round(vacuum_s, 2),
        "table_bytes": int(pg.scalar("SELECT pg_table_size(%s)", (table,))),
    }


def pg_table_ready(pg: Pg, table: str, data: Data) -> bool:
    comment = pg.scalar("SELECT obj_description(to_regclass(%s), 'pg_class')", (table,))
    return comment == fingerprint(data)


def pg_drop_indexes(pg: Pg, table: str) -> None:
    from psycopg import sql

    for method in ("hnsw", "ivfflat"):
        pg.conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"{table}_{method}")))


def bench_pg(pg: Pg, table: str, method: str, data: Data, timeout_min: float) -> dict[str, Any]:
    """Build one pgvector index on the loaded table (the other one dropped), then query it."""
    import psycopg
    from psycopg import sql

    n = len(data.corpus)
    lists = max(1, n // 1000)
    if method == "hnsw":
        with_sql = f"m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}"
        params: dict[str, Any] = {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}
        settings = [(f"hnsw.ef_search={ef}", f"SET hnsw.ef_search = {ef}") for ef in PG_HNSW_EF]
    else:
        with_sql = f"lists = {lists}"
        params = {"lists": lists}
        probes = sorted({PG_PROBES, max(1, round(math.sqrt(lists)))})
        settings = [(f"ivfflat.probes={p}", f"SET ivfflat.probes = {p}") for p in probes]
    params |= {
        "opclass": "vector_ip_ops",
        "maintenance_work_mem": PG_MAINTENANCE_WORK_MEM,
        "max_parallel_maintenance_workers": PG_PARALLEL_WORKERS,
        "build_timeout_min": timeout_min,
    }
    pg_drop_indexes(pg, table)
    index_name = f"{table}_{method}"
    pg.conn.execute(f"SET maintenance_work_mem = '{PG_MAINTENANCE_WORK_MEM}'")
    pg.conn.execute(f"SET max_parallel_maintenance_workers = {PG_PARALLEL_WORKERS}")
    pg.conn.execute(f"SET statement_timeout = {max(1000, int(timeout_min * 60_000))}")  # 0 = none
    pg.notices.clear()
    create = sql.SQL("CREATE INDEX {} ON {} USING {} (embedding vector_ip_ops) WITH ({})").format(
        sql.Identifier(index_name), sql.Identifier(table), sql.SQL(method), sql.SQL(with_sql)
    )
    cell: dict[str, Any] = {"engine": f"pgvector_{method}", "params": params}
    with (
        PeakRss(pg.processes(), interval=0.2) as mem,
        PeakRss(pg.build_processes, 0.2) as own,
        BuildProgress(pg) as progress,
    ):
        t = time.perf_counter()
        try:
            pg.conn.execute(create)
            cell["status"] = "ok"
        except psycopg.errors.QueryCanceled:
            cell["status"] = "build_timeout"
        build_s = time.perf_counter() - t
    pg.conn.execute("SET statement_timeout = 0")
    cell |= {
        "build_s": round(build_s, 2),
        # server: every process of the server (other sessions included); build: the backend
        # running CREATE INDEX and its parallel workers.
        "memory": {**mem.report(), "scope": pg.memory_scope},
        "memory_build_processes": own.report(),
        "build_notices": list(pg.notices),
    }
    if cell["status"] != "ok":
        cell["note"] = (
            f"CREATE INDEX cancelled by its time limit ({timeout_min} min) after {build_s / 60:.1f} min;"
            f" last progress seen: {progress.last}"
        )
        cell["last_progress"] = progress.last
        return cell
    index_bytes = int(pg.scalar("SELECT pg_relation_size(%s)", (index_name,)))
    table_bytes = int(pg.scalar("SELECT pg_table_size(%s)", (table,)))
    cell |= {"index_bytes": index_bytes, "table_bytes": table_bytes, "disk_bytes": index_bytes + table_bytes}
    query = sql.SQL("SELECT id FROM {} ORDER BY embedding <#> %s LIMIT {}").format(
        sql.Identifier(table), sql.Literal(K)
    )

    def search(q: np.ndarray) -> list[int]:
        return [int(r[0]) for r in pg.conn.execute(query, (q,), prepare=True).fetchall()]

    # Small tables make a sequential scan look cheaper to the planner; the index is what is measured.
    pg.conn.execute("SET enable_seqscan = off")
    searches = []
    for name, set_sql in settings:
        pg.conn.execute(set_sql)
        plan = pg.conn.execute(sql.SQL("EXPLAIN ") + query, (data.queries[0],)).fetchall()
        # The vector literal is cut out: the plan is kept to show which index answered.
        plan_text = re.sub(r"'\[[^]]*\]'", "'[...]'", " / ".join(str(r[0]).strip() for r in plan))
        if index_name not in plan_text:
            raise BenchError(f"{name}: the planner did not use {index_name} ({plan_text})")
        searches.append({"setting": name, "plan": plan_text, **run_queries(search, data)})
    cell["searches"] = searches
    return cell


# ------------------------------------------------------------------------------------------ results


def load_results(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: cannot read results ({exc}); check --json, or drop --resume") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("sizes"), dict):
        raise BenchError(f"{path}: not a scale benchmark result; drop --resume or pick another --json")
    return loaded


def growth(results: dict[str, Any]) -> dict[str, Any]:
    """Per engine: metric at the largest size / metric at the smallest size where both are done."""
    sizes = sorted(int(s) for s in results["sizes"])
    if len(sizes) < 2:
        return {}
    lo, hi = str(sizes[0]), str(sizes[-1])
    out: dict[str, Any] = {"from_rows": sizes[0], "to_rows": sizes[-1], "row_ratio": sizes[-1] / sizes[0]}
    for engine in ENGINES:
        a, b = results["sizes"][lo].get(engine), results["sizes"][hi].get(engine)
        if not a or not b or a.get("status") != "ok" or b.get("status") != "ok":
            continue
        ratios: dict[str, Any] = {}
        for key in ("build_s", "disk_bytes"):
            if a.get(key) and b.get(key):
                ratios[key] = round(b[key] / a[key], 2)
        ma, mb = build_memory(a), build_memory(b)
        if ma and mb and ma["rss_peak_mb"] > 0:
            ratios["build_rss_peak_mb"] = round(mb["rss_peak_mb"] / ma["rss_peak_mb"], 2)
        for sa in a.get("searches", []):
            for sb in b.get("searches", []):
                if sa["setting"] == sb["setting"]:
                    ratios[sa["setting"]] = {
                        "p50_ms": round(sb["p50_ms"] / sa["p50_ms"], 2),
                        "p99_ms": round(sb["p99_ms"] / sa["p99_ms"], 2),
                        "recall_at_10": f"{sa['recall_at_10']} -> {sb['recall_at_10']}",
                    }
        out[engine] = ratios
    return out


def save(results: dict[str, Any], path: Path) -> None:
    results["growth"] = growth(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # a kill mid-write never leaves half a file


# -------------------------------------------------------------------------------------------- report


def _rows(results: dict[str, Any]) -> Iterator[tuple[int, str, dict[str, Any], dict[str, Any] | None]]:
    for size in sorted(results["sizes"], key=int):
        for engine in ENGINES:
            cell = results["sizes"][size].get(engine)
            if not cell:
                continue
            for s in cell.get("searches") or [None]:
                yield int(size), engine, cell, s


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value / 2**20:,.0f}"


def build_memory(cell: dict[str, Any]) -> dict[str, Any] | None:
    """The build's own peak memory: usearch = this process; pgvector = the backend running CREATE
    INDEX and its parallel workers (the whole server's sum, other sessions included, is kept apart)."""
    mem = cell.get("memory_build_processes") or cell.get("memory")
    return mem if isinstance(mem, dict) else None


def _peak_text(mem: dict[str, Any] | None) -> str:
    if not mem:
        return "–"
    text = f"{mem['rss_peak_mb']:,.0f} (+{mem['rss_delta_mb']:,.0f})"
    single = mem.get("largest_process_peak_mb")
    if single is not None and single < mem["rss_peak_mb"] - 1:  # more than one process summed
        text += f"; largest process {single:,.0f}"
    return text


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    """Size, engine, setting, build s, build peak RSS MB (+ growth during the build), whole server
    peak RSS MB (pgvector), disk MB, index MB, p50, p99, recall."""
    out = []
    for size, engine, cell, s in _rows(results):
        mem = build_memory(cell)
        server = cell.get("memory") if "memory_build_processes" in cell else None
        out.append(
            [
                f"{size:,}",
                engine,
                s["setting"] if s else cell.get("status", ""),
                f"{cell['build_s']:,.1f}" if "build_s" in cell else "–",
                _peak_text(mem),
                f"{server['rss_peak_mb']:,.0f}" if server else "–",
                _mb(cell.get("disk_bytes")),
                _mb(cell.get("index_bytes", cell.get("disk_bytes") if "usearch" in engine else None)),
                f"{s['p50_ms']:.2f}" if s else "–",
                f"{s['p99_ms']:.2f}" if s else "–",
                f"{s['recall_at_10']:.3f}" if s else "–",
                " / ".join(f"{v:.3f}" for v in s["recall_by_query_kind"].values()) if s else "–",
            ]
        )
    return out


HEADER = [
    "rows",
    "engine",
    "setting",
    "build s",
    "build peak RSS MB (+Δ)",
    "server peak RSS MB",
    "disk MB",
    "index MB",
    "p50 ms",
    "p99 ms",
    "recall@10",
    "recall e5 / perturbed",
]


def plot(results: dict[str, Any], png: Path | None) -> str:
    """Latency p50 and build time vs rows (log-log); returns inline SVG and writes `png` if given.
    Empty string when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ""
    import io

    lat: dict[str, list[tuple[int, float]]] = {}
    build: dict[str, list[tuple[int, float]]] = {}
    for size, engine, cell, s in _rows(results):
        if s:
            lat.setdefault(f"{engine} {s['setting']}" if engine != "exact" else "exact", []).append(
                (size, s["p50_ms"])
            )
        point = (size, cell.get("build_s"))
        if cell.get("status") == "ok" and point[1] and point not in build.get(engine, []):
            build.setdefault(engine, []).append((size, float(point[1])))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, points in lat.items():
        ax1.plot(*zip(*points, strict=True), marker="o", label=name)
    for name, points in build.items():
        ax2.plot(*zip(*points, strict=True), marker="o", label=name)
    for ax, title, unit in ((ax1, "query latency p50 (k=10)", "ms"), (ax2, "index build time", "s")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows (dim 384)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=110)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]


def growth_table(grow: dict[str, Any]) -> str:
    """One row per engine and setting: the ratio of each figure at the largest vs smallest size."""
    if not grow:
        return "<p>Needs two sizes.</p>"
    rows = []
    for engine, ratios in grow.items():
        if not isinstance(ratios, dict):
            continue
        build = " ".join(f"{k} ×{v}" for k, v in ratios.items() if not isinstance(v, dict))
        for setting, r in ratios.items():
            if isinstance(r, dict):
                cells = [engine, setting, build, f"×{r['p50_ms']}", f"×{r['p99_ms']}", r["recall_at_10"]]
                rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>" for h in ("engine", "setting", "build / disk / memory", "p50", "p99", "recall@10")
    )
    rows_rows = f"{grow['from_rows']:,} → {grow['to_rows']:,} rows (×{grow['row_ratio']:g})"
    return f"<p>{escape(rows_rows)}</p><table><tr>{head}</tr>{''.join(rows)}</table>"


def render_html(results: dict[str, Any], svg: str) -> str:
    meta = results["meta"]
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(results)
    )
    datas = "".join(
        f"<li><b>{int(size):,} rows</b>: {escape(str(v.get('data', {}).get('vectors', '')))}; queries: "
        f"{escape(str(v.get('data', {}).get('queries', '')))}</li>"
        for size, v in sorted(results["sizes"].items(), key=lambda kv: int(kv[0]))
    )
    notes = "".join(
        f"<li>{int(size):,} {escape(engine)}: "
        f"{escape(str(cell.get('note') or cell.get('build_notices')))}</li>"
        for size, v in results["sizes"].items()
        for engine, cell in v.items()
        if isinstance(cell, dict) and (cell.get("note") or cell.get("build_notices"))
    )
    params = escape(json.dumps(meta.get("params", {}), indent=1))
    grow = growth_table(results.get("growth", {}))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vector search at scale</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:nth-child(2),td:nth-child(3){{text-align:left}}
pre{{background:#f6f6f6;padding:8px;font-size:12px}}</style></head><body>
<h1>Vector search at scale: usearch HNSW vs pgvector HNSW vs pgvector IVFFlat</h1>
<p>Run {escape(str(meta.get("finished") or meta.get("started")))} on {escape(str(meta.get("machine")))}.
Single queries, k=10, latency measured by the client (pgvector: local TCP round trip included);
recall@10 against exact search over the same vectors. Build peak RSS: usearch = this process
(which also holds the corpus array; +Δ = growth during the build); pgvector = the backend running
CREATE INDEX plus its parallel worker (they share the graph in dynamic shared memory, which both
RSS figures count, so the largest single process is the closer figure). Server peak RSS: every
process of the PostgreSQL server summed
(shared buffers counted once per process, and other sessions on a shared server included: an upper
bound). Disk: usearch = saved index file; pgvector = table + index (pg_table_size +
pg_relation_size). Recall is split by query kind: real e5 queries (their neighbours are the real
rows) and perturbed copies of stored rows, which in the random bulk are a worst case for graph and
cluster indexes (in 384 uniform random dimensions all other rows are almost equally far).
Timings were taken on a shared 2-core machine; see loadavg_1min_before per cell in
the JSON.</p>
<ul>{datas}</ul>
{svg}
<table><tr>{head}</tr>{body}</table>
<h2>Growth (largest / smallest size)</h2>{grow}
<h2>Notes</h2><ul>{notes or "<li>none</li>"}</ul>
<h2>Parameters</h2><pre>{params}</pre>
</body></html>
"""


def write_report(results: dict[str, Any], html: Path | None, png: Path | None) -> None:
    if html is None and png is None:
        return
    svg = plot(results, png)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(results, svg), encoding="utf-8")


# ----------------------------------------------------------------------------------------------- run


def meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}",
        "k": K,
        "params": {
            "dim": DIM,
            "k": K,
            "seed": SEED,
            "query_noise": QUERY_NOISE,
            "warmup_queries": WARMUP_QUERIES,
            "usearch": {"connectivity": 16, "expansion_add": 128, "expansion_search": list(USEARCH_EF)},
            "pgvector_hnsw": {
                "m": HNSW_M,
                "ef_construction": HNSW_EF_CONSTRUCTION,
                "ef_search": list(PG_HNSW_EF),
            },
            "pgvector_ivfflat": {"lists": "rows/1000", "probes": f"{PG_PROBES} and round(sqrt(lists))"},
            "pg_build": {
                "maintenance_work_mem": PG_MAINTENANCE_WORK_MEM,
                "max_parallel_maintenance_workers": PG_PARALLEL_WORKERS,
                "build_timeout_min": args.pg_build_timeout_min,
            },
            "pg_query_session": {"enable_seqscan": "off"},
            "pg_url": args.pg_url if any(e.startswith("pgvector") for e in args.engines) else None,
            "pg_database": PG_DB,
        },
    }


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = (
        load_results(args.json) if args.resume and args.json.is_file() else {"sizes": {}}
    )
    results.setdefault("meta", meta(args))
    results["meta"]["finished"] = None
    real = None if args.real == "none" else e5_vectors(args.work / "e5-autorag-ko.npz")
    pg: Pg | None = None
    if any(e.startswith("pgvector") for e in args.engines):
        pg = Pg(args.pg_url)
        results["meta"]["postgres"] = {**pg.server(), "memory_scope": None}
    for n in args.sizes:
        done = results["sizes"].setdefault(str(n), {})
        todo = [e for e in args.engines if not (done.get(e) or {}).get("status")]
        if not todo:
            log(f"{n:,} rows: all cells done, skipped")
            continue
        t = time.perf_counter()
        data = make_data(n, args.queries, real)
        done["data"] = {**data.describe, "generate_and_truth_s": round(time.perf_counter() - t, 2)}
        log(f"{n:,} rows: data and exact top-{K} in {time.perf_counter() - t:.1f}s")
        for engine in todo:
            if args.stop_by is not None and time.time() > args.stop_by - PG_QUERY_MARGIN_MIN * 60:
                log(f"{n:,} rows: {engine} not started: --stop-by is near")
                continue
            t = time.perf_counter()
            load = os.getloadavg()[0]
            if engine == "exact":
                cell = bench_exact(data)
            elif engine.startswith("usearch"):
                cell = bench_usearch(data, args.work, 1 if engine == "usearch" else os.cpu_count() or 1)
            else:
                assert pg is not None
                table = f"items_{n}"
                if not pg_table_ready(pg, table, data) or "pg_load" not in done:
                    done["pg_load"] = pg_load(pg, table, data)
                    log(f"{n:,} rows: pg COPY {done['pg_load']['copy_s']}s")
                    save(results, args.json)
                timeout = args.pg_build_timeout_min
                if args.stop_by is not None:  # leave time for the queries after the build
                    timeout = min(timeout, (args.stop_by - time.time()) / 60 - PG_QUERY_MARGIN_MIN)
                cell = bench_pg(pg, table, engine.removeprefix("pgvector_"), data, round(timeout, 1))
                results["meta"]["postgres"]["memory_scope"] = pg.memory_scope
            cell["wall_s"] = round(time.perf_counter() - t, 1)
            cell["loadavg_1min_before"] = round(load, 2)
            done[engine] = cell
            save(results, args.json)
            write_report(results, args.html, args.png)
            best = cell.get("searches", [{}])[-1] if cell.get("searches") else {}
            log(
                f"{n:,} rows: {engine} {cell['status']} build {cell.get('build_s', '-')}s, "
                f"p50 {best.get('p50_ms', '-')}ms, recall {best.get('recall_at_10', '-')} ({cell['wall_s']}s)"
            )
        del data
        gc.collect()
    if pg is not None:
        pg.conn.close()
    results["meta"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    save(results, args.json)
    write_report(results, args.html, args.png)
    return results


def _utc_clock(text: str) -> float:
    """`HH:MM` (UTC, today or, if already past, tomorrow) as a Unix time."""
    try:
        hour, minute = (int(part) for part in text.split(":"))
        now = datetime.now(UTC)
        when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--stop-by {text!r}: expected HH:MM (UTC)") from None
    stamp = when.timestamp()
    return stamp if stamp > now.timestamp() else stamp + 86_400


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--queries", type=int, default=300, help="single queries per setting (>= 200)")
    p.add_argument("--real", choices=["e5", "none"], default="e5", help="real e5 rows/queries or none")
    p.add_argument("--pg-url", default=DEFAULT_PG_URL)
    p.add_argument("--pg-build-timeout-min", type=float, default=40.0)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    p.add_argument("--html", type=Path, default=None)
    p.add_argument("--png", type=Path, default=None, help="default: the --html path with .png")
    p.add_argument("--work", type=Path, default=WORK, help="usearch files and the e5 vector cache")
    p.add_argument("--resume", action="store_true", help="skip the cells the --json file holds")
    p.add_argument("--report-only", action="store_true", help="rewrite --html/--png from --json")
    p.add_argument(
        "--stop-by",
        type=_utc_clock,
        default=None,
        help="HH:MM UTC: start no engine after it and cap pgvector builds to end before it",
    )
    args = p.parse_args(argv)
    if args.png is None and args.html is not None:
        args.png = args.html.with_suffix(".png")
    if min(args.sizes) <= K or args.queries < 1:
        p.error(f"--sizes must exceed k={K} and --queries must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.report_only:
            results = load_results(args.json)
            results["growth"] = growth(results)
            write_report(results, args.html, args.png)
        else:
            run(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
