"""PEFT methods on one task: LoRA vs prefix tuning vs prompt tuning vs IA3 vs the untouched base
("none"), same split, same step budget, each method at its own default learning rate.

    nice -n 10 .venv/bin/python benchmarks/finetune.py --method-budget prompt=900 \\
        --json benchmarks/results/finetune.json --html benchmarks/results/finetune.html

(about 30 min on the shared 2-core box; `--reuse` takes the results a run with the same settings
left in --workdir, so an interrupted run redoes only the methods it had not finished.)

Task: SciTLDR-A (`--data`, Apache-2.0): a paper abstract -> its one-sentence TLDR, a fixed style the
base model does not write by itself. One seeded split of the 500 pairs into train / validation (loss
only) / test (generated and scored). The prompt is a short instruction plus the abstract, cut to a
fixed token budget so prompt + answer fit `--max-length` (the budget never depends on the reference).

Per method: `llmpilot.finetune.train.finetune` with the same steps, batch and seed (early stopping
off, so every method gets the whole budget; the best epoch's adapter is kept, as the trainer
does), then greedy generation through the `transformers` generator (`generator.adapter` = the
trained folder) on the test rows, scored with ROUGE-L, chrF and BERTScore F1 (MiniLM): means with
bootstrap 95% CIs and a paired bootstrap against "none" on the same rows.

Each method trains and generates in its own child process, so a method's peak memory is its own,
not the maximum of everything loaded before it. Seconds per step is the median time between two
optimizer steps within an epoch (the per-epoch validation pass is left out); the trainer's wall
time including validation is recorded too. The machine is a shared 2-core box: the load average
at start and end is recorded, and speed is best read as ratios between the methods of one run.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from answers_report import bars_svg  # noqa: E402

from llmpilot.finetune.data import TrainingExample  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "scitldr-en" / "pairs.jsonl"
METHODS = ("none", "lora", "prefix", "prompt", "ia3")
INSTRUCTION = "Write a one-sentence TLDR of this paper abstract."
#: Tokens kept free for the answer when the abstract is cut: the longest SciTLDR target in the
#: data (294 characters) is about 70 SmolLM2 tokens.
ANSWER_RESERVE = 80
METRICS = ("rougeL", "chrf", "bertscore")
#: What a reader must know before trusting the figures (observed 2026-12-06, transformers 5.25.0,
#: peft 0.21.2, CPU).
CAVEATS = [
    "Prefix and prompt tuning decode through PEFT's generation hooks, which set `past_key_values` "
    "while transformers 5.x passes its own `cache`; transformers warns 'Both `past_key_values` and "
    "`cache` are set ... ignoring deprecated `past_key_values`'. Measured: prefix-tuned answers took "
    "~158 s each (median) against 2-5 s for the other methods, and prompt-tuned answers came out as "
    "garbled symbols although the prompt-tuned validation loss (a plain forward pass) fell below the "
    "base's. Their generation scores measure that decoding path, not what the adapters learned.",
    "Training speed and memory were measured on a shared 2-core machine whose load average moved "
    "between about 1 and 9 during the runs; compare s/step between methods with that in mind.",
    "15 steps of batch 4 (60 training rows seen) is a small budget sized to the 30-minute limit on this "
    "machine; it ranks the methods at equal compute, not at convergence.",
]


# ---- data (pure) --------------------------------------------------------------------------------


def load_pairs(path: Path) -> list[dict[str, str]]:
    """The {"id", "document", "summary"} rows of a SciTLDR pairs file; a bad row stops with its line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            sys.exit(f"{path}:{number}: not JSON ({exc.msg}); fix or delete the line")
        if not all(isinstance(row.get(k), str) and row[k].strip() for k in ("id", "document", "summary")):
            sys.exit(f"{path}:{number}: needs non-empty string fields id, document and summary")
        rows.append({"id": row["id"], "document": row["document"], "summary": row["summary"]})
    return rows


def split_rows(
    rows: Sequence[dict[str, str]], sizes: tuple[int, int, int], seed: int
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """Disjoint train / validation / test samples of the given sizes, from one seeded shuffle of
    the rows sorted by id (so the split depends on the ids and the seed, not on the file order)."""
    n_train, n_val, _ = sizes
    if min(sizes) < 1 or sum(sizes) > len(rows):
        raise ValueError(f"split sizes {sizes} need 1+ rows each and at most {len(rows)} in all")
    order = sorted(rows, key=lambda r: r["id"])
    random.Random(seed).shuffle(order)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val : sum(sizes)]


def cut_to_tokens(
    text: str, limit: int, encode: Callable[[str], list[int]], decode: Callable[[list[int]], str]
) -> str:
    """`text` shortened to at most `limit` tokens, at a word boundary (unchanged when it fits)."""
    ids = encode(text)
    if len(ids) <= limit:
        return text
    cut = decode(ids[:limit])
    space = cut.rfind(" ")
    cut = cut[:space] if space > 0 else cut
    # Decoding a prefix can re-tokenize longer at the seam; shorten until it really fits.
    while cut and len(encode(cut)) > limit:
        cut = cut[: cut.rfind(" ")] if " " in cut else cut[:-1]
    return cut.rstrip() + " ..."


def example(row: dict[str, str], abstract: str) -> TrainingExample:
    user = f"{INSTRUCTION}\n\nAbstract: {abstract}"
    return TrainingExample(
        f"scitldr:{row['id']}",
        ({"role": "user", "content": user}, {"role": "assistant", "content": row["summary"]}),
    )


def step_seconds(step_times: Sequence[float], epoch_ends: Sequence[int]) -> list[float]:
    """Seconds of each optimizer step that follows another in the same epoch: the differences of
    consecutive `step_times` (step 1 at index 0), leaving out the first step of every epoch, whose
    interval holds the previous epoch's validation pass (`epoch_ends`: the last step of each epoch)."""
    firsts = {end + 1 for end in epoch_ends}
    return [step_times[i] - step_times[i - 1] for i in range(1, len(step_times)) if (i + 1) not in firsts]


def first_line(text: str) -> str:
    """The answer as scored: its first non-empty line. A TLDR is one line; small models often go on
    after a line break with lists or headings, and the same cut applies to every method."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def parse_budgets(items: Sequence[str], methods: Sequence[str]) -> dict[str, float]:
    """`--method-budget METHOD=SECONDS` options as a dict; a malformed one stops with what to write."""
    budgets = {}
    for item in items:
        name, _, seconds = item.partition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        if name not in methods or value <= 0:
            sys.exit(
                f"--method-budget {item!r}: write METHOD=SECONDS with METHOD one of {', '.join(methods)}"
            )
        budgets[name] = value
    return budgets


def ci_summary(values: Sequence[float], seed: int) -> dict[str, float]:
    from llmpilot.evaluation.bootstrap import bootstrap_ci

    mean, low, high = bootstrap_ci(values, n_resamples=2000, seed=seed)
    return {"mean": round(mean, 4), "ci_low": round(low, 4), "ci_high": round(high, 4)}


# ---- one method, in a child process ------------------------------------------------------------


def _rss_peak_mb() -> float:
    # ru_maxrss is KiB on Linux: the true peak of this process, not a sample.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_method(spec: dict[str, Any]) -> dict[str, Any]:
    """Train (unless "none"), then generate on the test prompts; everything the parent scores."""
    import torch

    from llmpilot import factory
    from llmpilot.config import GeneratorConfig
    from llmpilot.finetune.base import load_model, load_tokenizer, resolve_base
    from llmpilot.finetune.train import TrainSettings, encode_example, finetune, validation_loss

    torch.set_num_threads(spec["threads"])
    method = spec["method"]
    base = resolve_base(spec["base"])
    train = [_example_from(d) for d in spec["train"]]
    val = [_example_from(d) for d in spec["val"]]
    out: dict[str, Any] = {"method": method}
    adapter: str | None = None
    if method == "none":
        tokenizer = load_tokenizer(base)
        model = load_model(base)
        items = [encode_example(tokenizer, e, spec["max_length"]) for e in val]
        started = time.perf_counter()
        out["val_loss"] = validation_loss(model, items, int(tokenizer.pad_token_id), spec["batch_size"])
        out["val_seconds"] = round(time.perf_counter() - started, 2)
        out["peak_rss_mb"] = round(_rss_peak_mb(), 1)
        del model
    else:
        times: list[float] = []
        ends: list[int] = []
        settings = TrainSettings(
            method=method,
            epochs=spec["epochs"],
            max_steps=spec["steps"],
            batch_size=spec["batch_size"],
            max_length=spec["max_length"],
            patience=spec["epochs"] + 1,
            seed=spec["seed"],
        )
        folder = Path(spec["workdir"]) / "adapters" / method

        def on_step(step: int, total: int, loss: float) -> None:
            times.append(time.perf_counter())
            if step % 10 == 0 or step == total:
                print(f"  {method} step {step}/{total} loss {loss:.3f}", file=sys.stderr, flush=True)

        result = finetune(
            train, val, base, folder, settings, on_step=on_step, on_epoch=lambda r: ends.append(r.steps)
        )
        per_step = step_seconds(times, ends)
        out["training"] = {k: v for k, v in result.as_dict().items() if k != "adapter_dir"}
        out["learning_rate"] = settings.lr
        out["val_loss"] = result.val_loss_after
        out["step_seconds_median"] = round(statistics.median(per_step), 3) if per_step else None
        out["step_seconds_p90"] = (
            round(statistics.quantiles(per_step, n=10)[-1], 3) if len(per_step) >= 2 else None
        )
        out["peak_rss_mb"] = round(_rss_peak_mb(), 1)
        adapter = str(folder)
    generator = factory.generator(
        GeneratorConfig(
            name="transformers",
            model=spec["base"],
            adapter=adapter,
            seed=spec["seed"],
            n_threads=spec["threads"],
        )
    )
    predictions, seconds = [], []
    generation_started = time.perf_counter()
    for i, messages in enumerate(spec["test_prompts"]):
        if time.perf_counter() - generation_started > spec["generate_budget_s"]:
            # Over budget (measured: prefix tuning decodes ~15x slower through the generator); the
            # rows done are kept for reading, and the parent scores nothing for this method.
            break
        started = time.perf_counter()
        predictions.append(
            generator.generate(messages, max_tokens=spec["max_tokens"], temperature=0.0).strip()
        )
        seconds.append(time.perf_counter() - started)
        if (i + 1) % 10 == 0:
            print(f"  {method} generated {i + 1}/{len(spec['test_prompts'])}", file=sys.stderr, flush=True)
    out["predictions"] = predictions
    out["generation_complete"] = len(predictions) == len(spec["test_prompts"])
    out["generate_seconds_total"] = round(sum(seconds), 1)
    out["generate_seconds_median"] = round(statistics.median(seconds), 3)
    out["repeat_penalty"] = GeneratorConfig().repeat_penalty
    return out


def _example_from(data: dict[str, Any]) -> TrainingExample:
    return TrainingExample(data["source"], tuple(data["messages"]))


def _as_data(e: TrainingExample) -> dict[str, Any]:
    return {"source": e.source, "messages": list(e.messages)}


def run_child(spec: dict[str, Any], workdir: Path, reuse: bool) -> dict[str, Any]:
    """`run_method(spec)` in a fresh interpreter (this script with --worker): its own peak memory.
    With `reuse`, a result left in `workdir` by a run with the identical spec is taken as is."""
    spec_file = workdir / f"spec-{spec['method']}.json"
    result_file = workdir / f"result-{spec['method']}.json"
    if reuse and spec_file.is_file() and result_file.is_file():
        done: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        # The generation budget only matters to a result it cut short: a complete one is reused
        # under any budget, so a rerun with a larger budget redoes only the methods that ran over.
        ignore = {"generate_budget_s"} if done.get("generation_complete") else set()
        before = json.loads(spec_file.read_text(encoding="utf-8"))
        if {k: v for k, v in before.items() if k not in ignore} == {
            k: v for k, v in spec.items() if k not in ignore
        }:
            done["reused_from"] = str(result_file)
            return done
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    result_file.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--worker", str(spec_file), "--worker-out", str(result_file)], check=True
    )
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["process_seconds"] = round(time.perf_counter() - started, 1)
    result_file.write_text(json.dumps(result), encoding="utf-8")
    return result


# ---- scoring ------------------------------------------------------------------------------------


def score_rows(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    from llmpilot.evaluation.answer_metrics import chrf, rouge
    from llmpilot.evaluation.token_scores import bertscore_f1

    return {
        "rougeL": [rouge(p, [r])["rougeL"] for p, r in zip(predictions, references, strict=True)],
        "chrf": [chrf(p, [r]) for p, r in zip(predictions, references, strict=True)],
        "bertscore": bertscore_f1(list(predictions), [[r] for r in references]),
    }


def compare(scores: dict[str, dict[str, list[float]]], seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Paired bootstrap of each method against "none", per metric, on the same test rows."""
    from llmpilot.evaluation.bootstrap import paired_bootstrap

    return {
        method: {
            m: {k: round(v, 4) for k, v in paired_bootstrap(per[m], scores["none"][m], seed=seed).items()}
            for m in METRICS
        }
        for method, per in scores.items()
        if method != "none" and "none" in scores
    }


# ---- report -------------------------------------------------------------------------------------


def _ci(cell: dict[str, float]) -> str:
    return f"{cell['mean']:.3f} [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]"


def table_rows(payload: dict[str, Any]) -> list[list[str]]:
    """One row per method: the figures the brief asks for, as text."""
    header = [
        "method",
        "val loss",
        "ROUGE-L [95% CI]",
        "chrF [95% CI]",
        "BERTScore F1 [95% CI]",
        "p vs none (R-L / chrF / BS)",
        "s/step (median)",
        "peak MB",
        "trainable params",
    ]
    rows = [header]
    for method, run in payload["methods"].items():
        training = run.get("training") or {}
        p = payload["vs_none"].get(method)
        rows.append(
            [
                method,
                f"{run['val_loss']:.3f}" if run.get("val_loss") is not None else "-",
                *(
                    [_ci(run["scores"][m]) for m in METRICS]
                    if run.get("scores")
                    else [f"not scored ({len(run['predictions'])} rows in budget)"] * len(METRICS)
                ),
                " / ".join(f"{p[m]['p_value']:.3f}" for m in METRICS) if p else "-",
                f"{run['step_seconds_median']:.2f}" if run.get("step_seconds_median") else "-",
                f"{training.get('peak_memory_mb', run['peak_rss_mb']):.0f}",
                f"{training['trainable_parameters']:,}" if training else "0",
            ]
        )
    return rows


def markdown_table(payload: dict[str, Any]) -> str:
    rows = table_rows(payload)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def write_html(payload: dict[str, Any], path: Path) -> None:
    rows = table_rows(payload)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    runs = payload["methods"]
    charts = [
        bars_svg(
            {m: r["scores"]["rougeL"]["mean"] for m, r in runs.items() if r.get("scores")},
            "ROUGE-L (mean, test)",
            0.5,
            label_w=90,
        ),
        bars_svg(
            {m: r["scores"]["chrf"]["mean"] for m, r in runs.items() if r.get("scores")},
            "chrF (mean, test)",
            0.6,
            label_w=90,
        ),
        bars_svg(
            {m: r["scores"]["bertscore"]["mean"] for m, r in runs.items() if r.get("scores")},
            "BERTScore F1 (mean, test)",
            label_w=90,
        ),
        bars_svg(
            {m: r["val_loss"] for m, r in runs.items() if r.get("val_loss") is not None},
            "Validation loss per answer token (lower is better)",
            max(r["val_loss"] or 0 for r in runs.values()),
            label_w=90,
        ),
    ]
    speed = {m: r["step_seconds_median"] for m, r in runs.items() if r.get("step_seconds_median")}
    if speed:
        charts.append(bars_svg(speed, "Seconds per training step (median)", max(speed.values()), label_w=90))
    sizes = payload["split"]
    settings = payload["settings"]
    examples = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{html.escape(r['predictions'][0])}</td></tr>"
        for m, r in runs.items()
    )
    reused = (
        f"; results of {', '.join(payload['reused_methods'])} were reused from an earlier invocation "
        "with identical settings (--reuse), so the load averages above are this invocation's"
        if payload["reused_methods"]
        else ""
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llmpilot fine-tuning benchmark</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
.charts{{display:flex;flex-wrap:wrap;gap:1.5rem}}</style></head><body>
<h1>PEFT methods on SciTLDR (abstract &rarr; one-sentence TLDR)</h1>
<p>Created {html.escape(payload["created"])} on {payload["machine"]["cpus"]} CPUs
({html.escape(payload["machine"]["platform"])}), load average {payload["machine"]["load_start"]} at start,
{payload["machine"]["load_end"]} at end. Base {html.escape(payload["base"])}; split seed {settings["seed"]}:
{sizes["train"]} train, {sizes["validation"]} validation, {sizes["test"]} test rows. Every method:
{settings["steps"]} steps of batch {settings["batch_size"]} ({settings["epochs"]} epoch(s) at most),
max length {settings["max_length"]} tokens, its default learning rate; greedy generation, at most
{settings["max_tokens"]} new tokens; the first line of each answer is scored.
p: paired bootstrap (two-sided) against the untouched base on the same
test rows. Peak MB: the trainer's sampled peak resident memory (for "none": the process peak while
computing validation loss). Each method ran in its own process{reused}.</p>
<ul>{"".join(f"<li>{html.escape(c)}</li>" for c in payload["caveats"])}</ul>
<table><tr>{head}</tr>{body}</table>
<div class="charts">{"".join(charts)}</div>
<h2>First test row</h2>
<p>Reference: {html.escape(payload["first_test_reference"])}</p>
<table><tr><th>method</th><th>generated</th></tr>{examples}</table>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")


# ---- main ---------------------------------------------------------------------------------------


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--base", default="smollm2-135m")
    parser.add_argument("--methods", default=",".join(METHODS), help="Comma-separated; 'none' is the base.")
    parser.add_argument("--train-rows", type=int, default=120)
    parser.add_argument("--val-rows", type=int, default=12)
    parser.add_argument("--test-rows", type=int, default=30)
    parser.add_argument("--steps", type=int, default=15, help="Optimizer steps per method.")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for training and generation (default 1: on the shared 2-core box, at load 8, "
        "one LoRA step of batch 4 x 320 tokens measured 24-25 s on 1 thread and 61-72 s on 2).",
    )
    parser.add_argument(
        "--generate-budget-s",
        type=float,
        default=300.0,
        help="Seconds of test generation per method; a method that runs over is not scored.",
    )
    parser.add_argument(
        "--method-budget",
        action="append",
        default=[],
        metavar="METHOD=SECONDS",
        help="--generate-budget-s for one method (repeatable), e.g. prompt=900.",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="Take results left in --workdir by a run with the same spec."
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench" / "finetune")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "finetune.json")
    parser.add_argument("--html", type=Path, default=None)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:
        spec = json.loads(args.worker.read_text(encoding="utf-8"))
        args.worker_out.write_text(json.dumps(run_method(spec)), encoding="utf-8")
        return 0

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        sys.exit(f"--methods: unknown {', '.join(unknown)}; use some of {', '.join(METHODS)}")
    budgets = parse_budgets(args.method_budget, methods)
    load_start = _load()
    started = time.perf_counter()
    from llmpilot.finetune.base import load_tokenizer, resolve_base

    tokenizer = load_tokenizer(resolve_base(args.base))
    rows = load_pairs(args.data)
    train_rows, val_rows, test_rows = split_rows(
        rows, (args.train_rows, args.val_rows, args.test_rows), args.seed
    )
    shell = tokenizer.apply_chat_template(
        [{"role": "user", "content": f"{INSTRUCTION}\n\nAbstract: "}],
        add_generation_prompt=True,
        tokenize=False,
    )
    overhead = len(tokenizer(shell, add_special_tokens=False)["input_ids"])
    budget = args.max_length - overhead - ANSWER_RESERVE
    if budget < 32:
        sys.exit(
            f"--max-length {args.max_length} leaves {budget} tokens for the abstract; raise it to 256 or more"
        )

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(ids: list[int]) -> str:
        return str(tokenizer.decode(ids))

    def build(rs: list[dict[str, str]]) -> list[TrainingExample]:
        return [example(r, cut_to_tokens(r["document"], budget, encode, decode)) for r in rs]

    train, val, test = build(train_rows), build(val_rows), build(test_rows)
    cut = sum(e.messages[0]["content"].endswith(" ...") for e in [*train, *val, *test])
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    epochs = math.ceil(args.steps / steps_per_epoch)
    args.workdir.mkdir(parents=True, exist_ok=True)
    common = {
        "base": args.base,
        "train": [_as_data(e) for e in train],
        "val": [_as_data(e) for e in val],
        "test_prompts": [e.prompt_messages for e in test],
        "steps": args.steps,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
        "threads": args.threads,
        "workdir": str(args.workdir),
    }
    references = [r["summary"] for r in test_rows]
    runs: dict[str, dict[str, Any]] = {}
    scores: dict[str, dict[str, list[float]]] = {}
    for method in methods:
        print(f"{method}: start (load {_load()})", file=sys.stderr, flush=True)
        budget_s = budgets.get(method, args.generate_budget_s)
        run = run_child({**common, "method": method, "generate_budget_s": budget_s}, args.workdir, args.reuse)
        run["raw_predictions"] = run["predictions"]
        run["predictions"] = [first_line(p) for p in run["raw_predictions"]]
        if run["predictions"]:
            run["mean_words"] = round(statistics.mean(len(p.split()) for p in run["predictions"]), 1)
        run["scores"] = None
        if run["generation_complete"]:
            scores[method] = score_rows(run["predictions"], references)
            run["scores"] = {m: ci_summary(v, args.seed) for m, v in scores[method].items()}
            run["per_row"] = {m: [round(x, 4) for x in v] for m, v in scores[method].items()}
        runs[method] = run
        print(
            f"{method}: val loss {run['val_loss']}, generated {len(run['predictions'])}/{len(test)}, "
            f"{run.get('process_seconds')} s",
            file=sys.stderr,
            flush=True,
        )
    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/finetune.py", *sys.argv[1:]]),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count() or 0,
            "torch_threads": args.threads,
            "load_start": load_start,
            "load_end": _load(),
            "gpu": False,
        },
        "base": args.base,
        "data": {"file": str(args.data), "rows": len(rows), "license": "Apache-2.0 (allenai/scitldr)"},
        "split": {
            "seed": args.seed,
            "train": len(train),
            "validation": len(val),
            "test": len(test),
            "test_ids": [r["id"] for r in test_rows],
        },
        "prompt": {
            "instruction": INSTRUCTION,
            "abstract_token_budget": budget,
            "abstracts_cut": cut,
            "answer_reserve_tokens": ANSWER_RESERVE,
        },
        "settings": {
            "steps": args.steps,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "max_tokens": args.max_tokens,
            "seed": args.seed,
            "early_stopping": "off (patience > epochs); the best epoch's adapter is kept",
            "learning_rates": {m: r.get("learning_rate") for m, r in runs.items() if r.get("learning_rate")},
            "decoding": "greedy (temperature 0), transformers generator defaults (repeat_penalty 1.1)",
            "scored_text": "first non-empty line of each answer (raw_predictions: the whole text)",
            "train_rows_seen": min(len(train), args.steps * args.batch_size) if epochs == 1 else len(train),
            "generate_budget_s": {m: budgets.get(m, args.generate_budget_s) for m in methods},
            "bootstrap": "2000 resamples, 95% percentile CI; paired bootstrap two-sided p vs none",
        },
        "total_seconds": round(time.perf_counter() - started, 1),
        "first_test_reference": references[0],
        "methods": runs,
        "vs_none": compare(scores, args.seed),
        "references": references,
        "reused_methods": [m for m, r in runs.items() if r.get("reused_from")],
        "caveats": CAVEATS,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown_table(payload))
    print(f"wrote {args.json}")
    if args.html is not None:
        write_html(payload, args.html)
        print(f"wrote {args.html}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
