"""Search strategies compared on the same space, in one run: best nDCG@10 reached vs compute spent.

    .venv/bin/python benchmarks/optimizer.py --json benchmarks/results/optimizer.json

Every strategy starts its study over (--no-resume semantics) but shares the artifact cache, so
compute is counted from the trials themselves: query evaluations (trials x queries), the seconds
trials took, and the embedding work a cold cache would need for the (chunking, embedder) pairs
the strategy touched.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmpilot.ingest import needs_embeddings
from llmpilot.optimization.run import optimize
from llmpilot.optimization.search import SearchSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SPACES = {"autorag-ko": "examples/space-ko.yaml", "scifact": "examples/space-en.yaml"}
#: "halving+sample": successive halving whose early rungs index a corpus sample (--sample-corpus).
STRATEGIES = ("grid", "halving", "halving+sample", "greedy", "random")


def cold_embedding_passages(results: dict[str, Any]) -> int:
    """Passages a cold cache would embed for the (chunk set, embedder) pairs these trials used.

    A pair costs the largest index any of its trials searched: corpus samples nest and share the
    full study's embedding cache, so a pair first seen on a sample and then in full costs the full
    count once; a pair eliminated on a sample costs only that sample."""
    from llmpilot.config import PipelineConfig

    pairs: dict[tuple[str, str], int] = {}
    for trial in results["trials"]:
        cfg = PipelineConfig.model_validate(trial["config"])
        if needs_embeddings(cfg):
            key = (cfg.chunks_hash(), cfg.embedder.model_dump_json())
            pairs[key] = max(pairs.get(key, 0), int(trial["passages"]))
    return sum(pairs.values())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "optimizer.json")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench")
    parser.add_argument("--datasets", nargs="*", default=list(SPACES))
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--out", type=Path, default=ROOT / ".llmpilot-bench" / "optimize-runs")
    args = parser.parse_args()

    runs = []
    for name in args.datasets:
        for strategy in args.strategies:
            settings = SearchSettings(
                strategy=strategy.split("+")[0],
                min_queries=8,
                eta=3,
                budget=10,
                sample_corpus=strategy.endswith("+sample"),
            )
            t0 = time.perf_counter()
            output = optimize(
                SHARED / name,
                ROOT / SPACES[name],
                args.out / f"{name}-{strategy}",
                settings,
                workdir=args.workdir,
                resume=False,
            )
            wall = time.perf_counter() - t0
            results = output.results.model_dump(mode="json")  # results.json as a dict
            best = output.results.best_trial().model_dump(mode="json")
            cold = cold_embedding_passages(results)
            run = {
                "dataset": name,
                "strategy": strategy,
                "space_file": SPACES[name],
                "candidates": results["candidates"],
                "best_ndcg@10": best["metrics"]["ndcg@10"]["mean"],
                "best_ci": [best["metrics"]["ndcg@10"]["ci_low"], best["metrics"]["ndcg@10"]["ci_high"]],
                "best_params": results["best"]["params"],
                "query_evaluations": results["compute"]["query_evaluations"],
                "trials": results["compute"]["trials_evaluated"],
                "trial_seconds": results["compute"]["trial_seconds"],
                "wall_seconds": round(wall, 2),
                "cold_embedding_passages": cold,
                "queries_embedded": results["compute"]["queries_embedded"],
                "significance": results["significance"],
            }
            runs.append(run)
            print(
                f"{name:11} {strategy:14} best nDCG@10 {run['best_ndcg@10']:.4f}  query evals "
                f"{run['query_evaluations']:6}  trials {run['trials']:3}  cold passages {cold:6}  "
                f"wall {wall:6.1f}s",
                flush=True,
            )
        grid = next((r for r in runs if r["dataset"] == name and r["strategy"] == "grid"), None)
        if grid is None:  # no reference run to compare with
            continue
        for r in runs:
            if r["dataset"] == name:
                r["gap_to_grid_best"] = round(grid["best_ndcg@10"] - r["best_ndcg@10"], 4)
                r["query_evaluations_vs_grid"] = round(r["query_evaluations"] / grid["query_evaluations"], 3)
                r["cold_embedding_vs_grid"] = (
                    round(r["cold_embedding_passages"] / grid["cold_embedding_passages"], 3)
                    if grid["cold_embedding_passages"]
                    else None
                )
    payload = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "runs": runs}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    columns = ["dataset", "strategy", "configs", "best nDCG@10", "gap to grid", "query evals (vs grid)"]
    columns += ["cold passages", "wall s"]
    print("\n| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    for r in runs:
        cells = [
            r["dataset"],
            r["strategy"],
            str(r["trials"]),
            f"{r['best_ndcg@10']:.4f}",
            f"{r['gap_to_grid_best']:+.4f}" if "gap_to_grid_best" in r else "–",
            f"{r['query_evaluations']}"
            + (f" ({r['query_evaluations_vs_grid']:.0%})" if "query_evaluations_vs_grid" in r else ""),
            str(r["cold_embedding_passages"])
            + (f" ({r['cold_embedding_vs_grid']:.0%})" if r.get("cold_embedding_vs_grid") else ""),
            f"{r['wall_seconds']:.1f}",
        ]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
