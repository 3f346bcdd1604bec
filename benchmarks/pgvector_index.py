"""pgvector (HNSW, IVFFlat) against the built-in vector indexes: build time, recall@10 and latency.

    .venv/bin/python benchmarks/pgvector_index.py --url postgresql+psycopg://postgres@127.0.0.1:55432/postgres

Creates (and drops) a database of its own on the server. The vectors are synthetic but clustered
like embeddings are (unit vectors around 1,000 centres of norm 1, at --noise from them), since
uniformly random vectors are a worst case that no real corpus resembles; recall@10 is against the
exact top 10 (numpy). Queries go one at a time, as the retriever sends them; latency is per query,
measured in this process. The data of a run is in its JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

from llmpilot import factory
from llmpilot.bench.retrieval import percentile
from llmpilot.config import VectorIndexConfig
from llmpilot.index.pgdb import close_engines

ROOT = Path(__file__).resolve().parents[1]


def clustered(
    n: int, dim: int, centres: np.ndarray, rng: np.random.Generator, noise_norm: float
) -> np.ndarray:
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (noise_norm / np.sqrt(dim))
    v = centres[rng.integers(0, len(centres), n)] + noise
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def measure(
    cfg: VectorIndexConfig, corpus: np.ndarray, queries: np.ndarray, truth: np.ndarray
) -> dict[str, Any]:
    ids = [f"c{i}" for i in range(len(corpus))]
    index = factory.vector_index(cfg, corpus.shape[1])
    t0 = time.perf_counter()
    index.build(ids, corpus)
    build_s = time.perf_counter() - t0
    index.search(queries[:5], k=10)  # warm-up
    ms: list[float] = []
    found = []
    for q in queries:
        t = time.perf_counter()
        [hits] = index.search(q[None, :], k=10)
        ms.append((time.perf_counter() - t) * 1000)
        found.append({h.id for h in hits})
    recall = np.mean([len({ids[i] for i in t} & f) / 10 for t, f in zip(truth, found, strict=True)])
    return {
        "build_s": round(build_s, 2),
        "recall@10": round(float(recall), 4),
        "query_ms_p50": round(statistics.median(ms), 3),
        "query_ms_p95": round(percentile(ms, 95), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", required=True, help="any database URL on the server (a new database is made)"
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--noise", type=float, default=0.5, help="norm of a point's offset from its centre (centres: norm 1)"
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "pgvector_index.json")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((1000, args.dim)).astype(np.float32) / np.sqrt(args.dim)  # norm ~1
    corpus = clustered(args.rows, args.dim, centres, rng, args.noise)
    queries = clustered(args.queries, args.dim, centres, rng, args.noise)
    truth = np.argsort(-(queries @ corpus.T), axis=1)[:, :10]

    server = make_url(args.url)
    name = f"bench_pgvector_{uuid.uuid4().hex[:8]}"
    conn_args = {
        "host": server.host,
        "port": server.port,
        "user": server.username,
        "password": server.password,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **conn_args) as conn:
        conn.execute(f"CREATE DATABASE {name}")
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    url = server.set(database=name).render_as_string(hide_password=False)
    variants: dict[str, VectorIndexConfig] = {
        "exact (numpy)": VectorIndexConfig(kind="exact"),
        "hnsw (usearch, M=16, ef_search=128)": VectorIndexConfig(kind="hnsw"),
        "pgvector hnsw (m=16, ef_construction=64, ef_search=128)": VectorIndexConfig(
            kind="pgvector", url=url
        ),
        "pgvector hnsw (m=16, ef_construction=64, ef_search=40)": VectorIndexConfig(
            kind="pgvector", url=url, expansion_search=40
        ),
        "pgvector ivfflat (lists=rows/1000, probes=10)": VectorIndexConfig(
            kind="pgvector", url=url, method="ivfflat"
        ),
        "pgvector ivfflat (lists=rows/1000, probes=30)": VectorIndexConfig(
            kind="pgvector", url=url, method="ivfflat", probes=30
        ),
    }
    runs = []
    try:
        for label, cfg in variants.items():
            result = measure(cfg, corpus, queries, truth)
            runs.append({"index": label, "config": cfg.model_dump(mode="json", exclude={"url"}), **result})
            print(
                f"{label:58} build {result['build_s']:7.2f} s  recall@10 {result['recall@10']:.4f}  "
                f"p50 {result['query_ms_p50']:.2f} ms  p95 {result['query_ms_p95']:.2f} ms",
                flush=True,
            )
    finally:
        close_engines()
        with psycopg.connect(dbname="postgres", autocommit=True, **conn_args) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "server": f"PostgreSQL {version}, same machine",
        "data": {
            "rows": args.rows,
            "dim": args.dim,
            "queries": args.queries,
            "kind": "clustered unit vectors",
            "noise": args.noise,
        },
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
