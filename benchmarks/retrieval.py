"""Retrieval benchmark: keyword, dense and hybrid on the shared datasets, through the real pipeline.

    .venv/bin/python benchmarks/retrieval.py --json benchmarks/results/retrieval.json

Each dataset is ingested once into a work project (kept in --workdir, so embeddings are cached
between runs); every mode then queries it. Writes one JSON with all runs and prints a Markdown
table for the README. A naive RRF run is included to show why the shipped configs use convex fusion.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from llmpilot.bench.retrieval import run_retrieval_benchmark
from llmpilot.config import PipelineConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = {"autorag-ko": "examples/hybrid-ko.yaml", "scifact": "examples/hybrid-en.yaml"}


def variant(cfg: PipelineConfig, vector_kind: str | None = None, **retrieval: object) -> PipelineConfig:
    data = cfg.model_dump(mode="json")
    fusion = retrieval.pop("fusion", None)
    data["retrieval"].update(retrieval)
    if fusion:
        data["retrieval"]["fusion"].update(fusion)
    if vector_kind:
        data["index"]["vector"]["kind"] = vector_kind
    return PipelineConfig.model_validate(data)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "retrieval.json")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--max-queries", type=int, default=None)
    args = parser.parse_args()

    runs = []
    for name in args.datasets:
        base = load_config(ROOT / DATASETS[name])
        variants = {
            "keyword": variant(base, mode="keyword"),
            "dense": variant(base, mode="dense"),
            "hybrid (rrf k=60)": variant(base, fusion={"method": "rrf"}),
            "hybrid (shipped config)": base,
            "hybrid, HNSW vectors": variant(base, vector_kind="hnsw"),
        }
        for label, cfg in variants.items():
            result = run_retrieval_benchmark(
                SHARED / name, cfg, workdir=args.workdir, max_queries=args.max_queries, progress=True
            )
            result["label"] = label
            result["config_file"] = DATASETS[name]
            runs.append(result)
            m = result["metrics"]
            print(
                f"{name:11} {label:24} nDCG@10 {m['ndcg@10']:.4f} R@10 {m['recall@10']:.4f} "
                f"R@100 {m['recall@100']:.4f} MRR@10 {m['mrr@10']:.4f} p50 {result['query_ms_p50']:.1f} ms",
                flush=True,
            )

    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("\n| dataset | method | nDCG@10 | recall@10 | recall@100 | MRR@10 | query p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        m = r["metrics"]
        print(
            f"| {r['dataset']} | {r['label']} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | "
            f"{m['recall@100']:.3f} | {m['mrr@10']:.3f} | {r['query_ms_p50']:.1f} |"
        )
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
