"""Ingest throughput as a ratio: the pipeline's passages/s vs the embedder called directly on the
same texts, in the same run (target >= 0.9: the pipeline adds little on top of embedding).

    .venv/bin/python benchmarks/ingest_throughput.py --json benchmarks/results/ingest_throughput.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from llmpilot.config import parse_config
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.indexing import passage_text
from llmpilot.ingest import Ingestor, make_chunker, make_embedder
from llmpilot.project import Project
from llmpilot.sources.base import LoadResult, SourceUnit
from llmpilot.transforms import TransformPipeline

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def measure(dataset: str, embedder_name: str, n_docs: int, chunk_size: int) -> dict[str, object]:
    ds = load_dataset(SHARED / dataset)
    docs = ds.corpus[:n_docs]
    cfg = parse_config(
        {
            "transforms": {"pii": [], "dedup_exact": False, "dedup_near": False},
            "chunking": {"method": "recursive", "size": chunk_size, "overlap": 0},
            "embedder": {"name": embedder_name, "batch_size": 32},
            "retrieval": {"mode": "dense"},
        }
    )
    embedder = make_embedder(cfg)
    embedder.embed(["warm-up"], "passage")  # load the model outside both timings

    def direct(texts: list[str]) -> float:
        t = time.perf_counter()
        for i in range(0, len(texts), 32):
            embedder.embed(texts[i : i + 32], "passage")
        return time.perf_counter() - t

    # The texts the pipeline will embed, worked out up front, so the direct reference can run
    # both before and after the pipeline (this machine's speed drifts) and be averaged.
    transforms, chunker = TransformPipeline(cfg.transforms), make_chunker(cfg)
    texts = [
        passage_text(d.title, c.text, cfg.index.include_title)
        for d in map(transforms.apply, docs)
        for c in chunker.split(d)
    ]
    before_s = direct(texts)
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.from_config(Path(tmp), cfg)
        units = [
            SourceUnit(key=d.id, origin="bench", fingerprint=str(i), loader=lambda d=d: LoadResult([d], []))
            for i, d in enumerate(docs)
        ]
        t0 = time.perf_counter()
        report = Ingestor(project, embedder=embedder).run(units, origins=["bench"])
        pipeline_s = time.perf_counter() - t0
        project.close()
    assert report.passages_embedded == len(texts), "the pipeline embedded other texts than the reference"

    direct_s = (before_s + direct(texts)) / 2
    pipeline_rate = report.passages_embedded / pipeline_s
    direct_rate = len(texts) / direct_s
    return {
        "dataset": dataset,
        "embedder": embedder_name,
        "documents": len(docs),
        "passages": len(texts),
        "passages_embedded_by_pipeline": report.passages_embedded,
        "pipeline_seconds": round(pipeline_s, 2),
        "direct_seconds": round(direct_s, 2),
        "pipeline_passages_per_s": round(pipeline_rate, 2),
        "direct_passages_per_s": round(direct_rate, 2),
        "ratio": round(pipeline_rate / direct_rate, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_throughput.json"
    )
    args = parser.parse_args()
    results = [
        measure("scifact", "minilm", 400, 800),
        measure("autorag-ko", "e5-small", 60, 800),
    ]
    for r in results:
        print(
            f"{r['dataset']:11} {r['embedder']:9} pipeline {r['pipeline_passages_per_s']:.1f}/s  "
            f"direct {r['direct_passages_per_s']:.1f}/s  ratio {r['ratio']:.3f}"
        )
    payload = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
