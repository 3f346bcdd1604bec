"""Keyword retrieval in PostgreSQL full-text search (`index.keyword.kind: pg_fts`) against the
in-memory BM25 index, on autorag-ko through the real pipeline (benchmarks/retrieval.py's harness).

    .venv/bin/python benchmarks/pg_fts_vs_bm25.py --url postgresql+psycopg://postgres@127.0.0.1:55432/postgres

Keyword-only retrieval with the shipped Korean config (examples/hybrid-ko.yaml: tokenizer ko). The
pg_fts runs use a database of their own, created and dropped on the server given. Writes
benchmarks/results/pg_fts_vs_bm25.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from llmpilot.bench.retrieval import run_retrieval_benchmark
from llmpilot.config import PipelineConfig, load_config
from llmpilot.index.pgdb import close_engines

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def keyword_variant(base: PipelineConfig, **keyword: Any) -> PipelineConfig:
    data = base.model_dump(mode="json")
    data["retrieval"]["mode"] = "keyword"
    data["index"]["keyword"].update(keyword)
    return PipelineConfig.model_validate(data)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", required=True, help="any database URL on the server (a new database is made)"
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench" / "pg_fts")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "pg_fts_vs_bm25.json")
    parser.add_argument("--max-queries", type=int, default=None)
    args = parser.parse_args()

    server = make_url(args.url)
    name = f"bench_pgfts_{uuid.uuid4().hex[:8]}"
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

    base = load_config(ROOT / "examples" / "hybrid-ko.yaml")
    variants = {
        "bm25 (bm25s, in memory)": keyword_variant(base),
        "pg_fts, ranking bm25 (SQL)": keyword_variant(base, kind="pg_fts", ranking="bm25", url=url),
        "pg_fts, ranking ts_rank_cd": keyword_variant(base, kind="pg_fts", ranking="ts_rank_cd", url=url),
    }
    runs = []
    try:
        for label, cfg in variants.items():
            result = run_retrieval_benchmark(
                SHARED / "autorag-ko", cfg, workdir=args.workdir, max_queries=args.max_queries
            )
            result["label"] = label
            result["config"]["index"]["keyword"].pop("url", None)
            runs.append(result)
            m = result["metrics"]
            print(
                f"{label:28} nDCG@10 {m['ndcg@10']:.4f} R@10 {m['recall@10']:.4f} "
                f"R@100 {m['recall@100']:.4f} MRR@10 {m['mrr@10']:.4f} p50 {result['query_ms_p50']:.2f} ms "
                f"p95 {result['query_ms_p95']:.2f} ms index {result['index_seconds']:.1f} s",
                flush=True,
            )
    finally:
        close_engines()
        with psycopg.connect(dbname="postgres", autocommit=True, **conn_args) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    best = max(runs, key=lambda r: (r["metrics"]["ndcg@10"], r["metrics"]["recall@10"]))
    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "server": f"PostgreSQL {version}, same machine",
        "dataset": "autorag-ko",
        "config_file": "examples/hybrid-ko.yaml (retrieval.mode keyword)",
        "best_ndcg@10": best["label"],
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("\n| keyword index | nDCG@10 | recall@10 | recall@100 | MRR@10 | query p50 ms | query p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        m = r["metrics"]
        print(
            f"| {r['label']} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | {m['recall@100']:.3f} | "
            f"{m['mrr@10']:.3f} | {r['query_ms_p50']:.1f} | {r['query_ms_p95']:.1f} |"
        )
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
