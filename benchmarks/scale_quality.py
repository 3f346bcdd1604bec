"""Retrieval quality on PostgreSQL equals the embedded backend: autorag-ko through the real pipeline
with the shipped Korean config (examples/hybrid-ko.yaml), on SQLite + in-process indexes (the
reference) and on a PostgreSQL store with the vectors in pgvector (HNSW, IVFFlat) and keywords in
PostgreSQL full-text, all in one run.

    .venv/bin/python benchmarks/scale_quality.py --json benchmarks/results/scale_quality.json

Without --pg-url it starts its own server (`llmpilot db up` in a temporary folder) and stops it at
the end. The PostgreSQL store's embedding cache is seeded from the SQLite reference run's (same model,
same texts), so the comparison measures search, not a second embedding pass. The bar (issue 17):
every PostgreSQL variant within 0.005 nDCG@10 of the reference.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from llmpilot.bench.retrieval import run_retrieval_benchmark
from llmpilot.config import PipelineConfig, load_config
from llmpilot.store import postgres
from llmpilot.store.db import Store

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "data" / "autorag-ko"
TOLERANCE = 0.005


def variant(base: PipelineConfig, **index: dict[str, Any]) -> PipelineConfig:
    data = base.model_dump(mode="json")
    for section, values in index.items():
        data["index"][section].update(values)
    return PipelineConfig.model_validate(data)


def new_database(server: str) -> str:
    name = f"scale_quality_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"{server}/{name}"


def seed_embeddings(reference_db: Path, url: str) -> int:
    """Copy the reference store's embedding cache (model, text hash -> vector) into the new store."""
    if not reference_db.is_file():
        return 0
    source = Store.open(f"sqlite:///{reference_db}")
    target = Store.open(url)
    with source.engine.connect() as conn:
        rows = conn.execute(text("SELECT model_id, text_hash FROM embeddings")).all()
    by_model: dict[str, list[str]] = {}
    for model, text_hash in rows:
        by_model.setdefault(model, []).append(text_hash)
    for model, hashes in by_model.items():
        target.put_embeddings(model, source.cached_embeddings(model, hashes))
    source.close()
    target.close()
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "scale_quality.json")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench")
    parser.add_argument("--pg-url", help="a PostgreSQL server URL without database (default: start one)")
    parser.add_argument("--max-queries", type=int, default=None)
    args = parser.parse_args()
    base = load_config(ROOT / "examples" / "hybrid-ko.yaml")
    folder = None
    server = args.pg_url
    if server is None:
        folder = Path(tempfile.mkdtemp(prefix="llmpilot-scale-quality-"))
        server = postgres.up(folder / "pg", port=0).url.rsplit("/", 1)[0]
    try:
        url = new_database(server)
        seeded = 0
        runs: list[dict[str, Any]] = []
        variants: list[tuple[str, str, PipelineConfig, Path]] = [
            ("SQLite store, exact vectors (reference)", "sqlite:///bench.db", base, args.workdir),
            (
                "SQLite store, usearch HNSW",
                "sqlite:///bench.db",
                variant(base, vector={"kind": "hnsw"}),
                args.workdir,
            ),
        ]
        pg_dir = args.workdir / "scale-quality-pg"
        variants += [
            ("PostgreSQL store, exact vectors", url, base, pg_dir),
            ("PostgreSQL store, pgvector HNSW", url, variant(base, vector={"kind": "pgvector"}), pg_dir),
            (
                "PostgreSQL store, pgvector IVFFlat",
                url,
                variant(base, vector={"kind": "pgvector", "method": "ivfflat"}),
                pg_dir,
            ),
            (
                "PostgreSQL store, pgvector HNSW + pg_fts keywords",
                url,
                variant(base, vector={"kind": "pgvector"}, keyword={"kind": "pg_fts"}),
                pg_dir,
            ),
        ]
        for label, store, cfg, workdir in variants:
            if store == url and not seeded:  # after the reference runs: their cache is complete
                seeded = seed_embeddings(args.workdir / "autorag-ko" / "bench.db", url)
            result = run_retrieval_benchmark(
                DATASET, cfg, workdir=workdir, max_queries=args.max_queries, progress=True, store=store
            )
            result["label"] = label
            result["backend"] = "postgresql" if store.startswith("postgresql") else "sqlite"
            runs.append(result)
            print(f"{label}: ndcg@10 {result['metrics']['ndcg@10']:.4f}", file=sys.stderr)
    finally:
        if folder is not None:
            postgres.down(folder / "pg")
    reference = runs[0]["metrics"]["ndcg@10"]
    for run in runs:
        run["delta_ndcg@10"] = round(run["metrics"]["ndcg@10"] - reference, 6)
        run["within_tolerance"] = abs(run["delta_ndcg@10"]) <= TOLERANCE
    out = {
        "benchmark": "retrieval quality, SQLite vs PostgreSQL (autorag-ko, examples/hybrid-ko.yaml)",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "tolerance_ndcg@10": TOLERANCE,
        "embeddings_seeded_from_reference": seeded,
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    print("| backend, indexes | nDCG@10 | Δ vs reference | recall@10 | MRR@10 | p50 ms |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        m = run["metrics"]
        print(
            f"| {run['label']} | {m['ndcg@10']:.4f} | {run['delta_ndcg@10']:+.4f} | {m['recall@10']:.4f} | "
            f"{m['mrr@10']:.4f} | {run['query_ms_p50']:.1f} |"
        )
    return 0 if all(r["within_tolerance"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
