"""Every catalog model that is here, on the packaged multiple-choice benchmarks (issue 15): accuracy and
length-normalised accuracy with 95% bootstrap CIs, per-subject accuracy, paired bootstrap tests between
models, calibration (ECE of the choice probabilities), robustness (accuracy on perturbed copies of the
items) and efficiency (scoring seconds, tokens/s, peak RSS, model size, load time). The same library path
as `llmpilot models bench` (`llmpilot.models.bench`), so the numbers are what a user gets.

    # the two fetched Qwen GGUFs live in LLMPILOT_MODELS (`llmpilot models fetch NAME` puts them there)
    LLMPILOT_MODELS=/tmp/models HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/models.py
    # a quick check (one model, ten items per benchmark)
    .venv/bin/python benchmarks/models.py --limit 10 --models smollm2-135m --json /tmp/models.json

Robustness runs only the perturbations that change the benchmark's language (typos touch Latin words,
jamo errors Hangul syllables): mmlu-en gets typos, kobest-hellaswag-ko jamo errors
(`--robustness` overrides for every benchmark). Per-item scores go under --out (default
benchmarks/results/models-items/<benchmark>/items/*.jsonl); an interrupted run resumes from them. The
machine is a shared 2-core box: the 1-minute load average before and after each benchmark is recorded,
and seconds/tokens per second are only comparable between runs at similar load. `--limit` takes a
seeded sample stratified by subject, the same items for every model, so the paired tests pair.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from llmpilot.generation.models import LOCAL_MODELS
from llmpilot.models.bench import BenchProgress, bench_models, summarize
from llmpilot.models.mc_data import BUILTIN_BENCHMARKS, load_benchmark

ROOT = Path(__file__).resolve().parents[1]
#: The perturbations that alter each packaged benchmark's text (the others leave it unchanged).
#: One per benchmark to keep the run within an hour on 2 cores: the language's own kind of noise.
ROBUSTNESS = {"mmlu-en": ("typos",), "kobest-hellaswag-ko": ("jamo",)}
#: How often (items) a progress line is printed.
EVERY = 10


def _progress(event: BenchProgress) -> None:
    if event.done % EVERY == 0 or event.done == event.total:
        label = event.model + (f" [{event.perturbation}]" if event.perturbation else "")
        print(
            f"  {event.benchmark} {label}: {event.done}/{event.total}, acc {event.accuracy:.3f}, "
            f"{event.tokens_per_s:,.0f} tokens/s",
            file=sys.stderr,
            flush=True,
        )


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def markdown(results: dict[str, Any]) -> str:
    """The README table: one row per model and benchmark."""
    lines = [
        "| benchmark | model | acc [95% CI] | acc_norm | ECE | robustness (acc) | s/item | tokens/s "
        "| peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, summary in results.items():
        for model, m in summary["models"].items():
            robust = ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in m["robustness"].items()) or "-"
            rss = "-" if m["peak_rss_bytes"] is None else f"{m['peak_rss_bytes'] / 2**20:,.0f}"
            tps = "-" if m["tokens_per_s"] is None else f"{m['tokens_per_s']:,.0f}"
            lines.append(
                f"| {name} (n={m['n']}) | {model} | {m['accuracy']:.3f} [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}] "
                f"| {m['accuracy_norm']:.3f} | {m['calibration_ece']:.3f} | {robust} "
                f"| {m['seconds'] / max(m['n'], 1):.2f} | {tps} | {rss} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", help="comma-separated names or GGUF paths (default: every catalog model that is here)"
    )
    parser.add_argument("--benchmarks", default=",".join(BUILTIN_BENCHMARKS))
    parser.add_argument("--limit", type=int, help="a stratified sample of N items per benchmark")
    parser.add_argument(
        "--limits", default="", help="per benchmark, overriding --limit: mmlu-en=200,kobest-hellaswag-ko=100"
    )
    parser.add_argument("--shots", type=int, default=0)
    parser.add_argument("--robustness", help="comma-separated perturbations for every benchmark")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "models-items")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "models.json")
    args = parser.parse_args()

    skipped: dict[str, str] = {}
    if args.models:
        specs = [s.strip() for s in args.models.split(",") if s.strip()]
    else:
        specs = [name for name, m in LOCAL_MODELS.items() if m.present()]
        skipped = {name: f"not here: {m.get}" for name, m in LOCAL_MODELS.items() if not m.present()}
    for name, why in skipped.items():
        print(f"skipping {name} ({why})", file=sys.stderr)

    results: dict[str, Any] = {}
    load: dict[str, dict[str, float]] = {}
    pairs = [part.partition("=") for part in args.limits.split(",") if part.strip()]
    limits = {key.strip(): int(value) for key, _, value in pairs}
    for name in [b.strip() for b in args.benchmarks.split(",") if b.strip()]:
        bench = load_benchmark(name, limit=limits.get(name, args.limit))
        kinds = (
            [k.strip() for k in args.robustness.split(",") if k.strip()]
            if args.robustness is not None
            else list(ROBUSTNESS.get(name, ()))
        )
        print(
            f"{name}: {len(bench.items)} items, models {', '.join(specs)}, robustness {kinds}",
            file=sys.stderr,
        )
        before = _load()
        runs = bench_models(
            specs,
            bench,
            shots=args.shots,
            out_dir=args.out / name,
            robustness=kinds,
            n_threads=args.threads,
            progress=_progress,
        )
        load[name] = {"loadavg_1m_before": before, "loadavg_1m_after": _load()}
        results[name] = summarize(runs, bench)

    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count() or 0,
            "threads": args.threads,
            "load": load,
        },
        "versions": {p: version(p) for p in ("llama_cpp_python",)},
        "settings": {
            "limit": args.limit,
            "limits": limits,
            "shots": args.shots,
            "models": specs,
            "skipped": skipped,
        },
        "notes": "accuracy_norm divides each choice's log-likelihood by its length (the harness's acc_norm); "
        "MMLU's headline is accuracy, HellaSwag's accuracy_norm. ECE: top choice's softmax probability vs "
        "correctness, 10 bins. seconds: scoring only (load_seconds apart), at the recorded load average.",
        "benchmarks": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
