"""End to end: how much faster a cache hit answers than a generated answer, on the demo project.

For each answerer (the demo's shipped `extractive`, and SmolLM2 through llama.cpp), a fresh demo
project (sample corpus, shipped defaults: cache and guardrails on) answers the demo questions three
times through the one answer path (`Responder.ask`: guardrails, query embedding, cache lookup,
retrieval, generation, the answer policy, cache store):

1. first time: generated (the cache misses), 2. the same questions again: exact hits,
3. paraphrases of them (authored for this benchmark): semantic hits when verification passes them.

Reported: per pass the latency p50/p95 and what the cache did; the ratio generated p50 / exact-hit p50
measured in this run (the issue's target: a hit answers >= 20x faster end to end).

    .venv/bin/python benchmarks/cache_e2e.py --json benchmarks/results/cache_e2e.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from demo_questions import DEMO_QUESTIONS

from llmpilot.answering import Responder
from llmpilot.bench.retrieval import percentile
from llmpilot.config import PipelineConfig
from llmpilot.evaluation.multiturn import sample_project
from llmpilot.pipeline import Pipeline

#: One paraphrase per demo question, in the same order (written for this benchmark).
PARAPHRASES = [
    "솔박스 10 기본 설치비가 얼마예요?",
    "단순 변심으로 반품할 때 운송비가 얼마인가요?",
    "솔박스 10의 정격 출력과 무게는?",
    "How long does the SolBox 10 battery warranty last?",
    "What is the meaning of error code E07?",
    "On Saturday, when is phone support open?",
    "배터리 보증 기간이 몇 년이에요?",
]


def run_pass(responder: Responder, questions: list[str]) -> dict[str, Any]:
    rows = []
    for question in questions:
        t0 = time.perf_counter()
        answer = responder.ask(question)
        ms = (time.perf_counter() - t0) * 1000.0
        rows.append(
            {"question": question, "ms": round(ms, 2), "cached": answer.cached, "abstained": answer.abstained}
        )
        print(f"  {ms:9.1f} ms  cached={answer.cached or '-':8s} {question}", file=sys.stderr)
    served = [r["ms"] for r in rows]
    hits = [r["ms"] for r in rows if r["cached"]]
    return {
        "n": len(rows),
        "ms_p50": round(statistics.median(served), 2),
        "ms_p95": round(percentile(served, 95), 2),
        "hits": len(hits),
        "hit_ms_p50": round(statistics.median(hits), 2) if hits else None,
        "rows": rows,
    }


def bench(workdir: Path, generator: str) -> dict[str, Any]:
    root = workdir / generator
    shutil.rmtree(root, ignore_errors=True)
    cfg = PipelineConfig.model_validate({"generator": {"name": generator}})
    project = sample_project(root, cfg)
    responder = Responder(Pipeline(project))
    responder.warm()
    # Load the generator (and llama.cpp's first-call costs) before timing; then empty the cache.
    responder.ask(DEMO_QUESTIONS[0], use_cache=False)
    assert responder.cache is not None
    responder.cache.rows.clear()
    responder.cache.forget([])
    print(f"{generator}: generated", file=sys.stderr)
    generated = run_pass(responder, DEMO_QUESTIONS)
    print(f"{generator}: the same questions again", file=sys.stderr)
    exact = run_pass(responder, DEMO_QUESTIONS)
    print(f"{generator}: paraphrases", file=sys.stderr)
    paraphrased = run_pass(responder, PARAPHRASES)
    shown = [r["ms"] for r in generated["rows"] if not r["cached"] and not r["abstained"]]
    exact_hits = [r["ms"] for r in exact["rows"] if r["cached"] == "exact"]
    ratio = statistics.median(shown) / statistics.median(exact_hits) if shown and exact_hits else None
    return {
        "generated": generated,
        "exact_again": exact,
        "paraphrases": paraphrased,
        "speedup_exact_hit_p50": round(ratio, 1) if ratio else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path(".llmpilot-bench/cache_e2e"))
    parser.add_argument("--generators", default="extractive,llama-cpp")
    args = parser.parse_args()
    started = time.perf_counter()
    results = {name: bench(args.workdir, name) for name in args.generators.split(",")}
    out = {
        "benchmark": "cache_e2e",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": "Responder.ask in process on a fresh demo project per answerer (shipped defaults); "
        "wall time per question; ratio = p50 of generated answers / p50 of exact cache hits, same run",
        "target_speedup": 20.0,
        "answerers": results,
        "total_s": round(time.perf_counter() - started, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for name, r in results.items():
        print(f"{name}: speedup {r['speedup_exact_hit_p50']}x; paraphrase hits {r['paraphrases']['hits']}/7")


if __name__ == "__main__":
    main()
