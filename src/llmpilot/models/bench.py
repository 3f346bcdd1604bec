"""Running multiple-choice benchmarks: one model over one benchmark (`run_benchmark`), several models with
their robustness runs (`bench_models`), and the JSON that `llmpilot models bench --json` writes
(`summarize`).

Every scored item is appended to a JSONL file as soon as it is scored, so a run killed half-way (Ctrl-C,
kill -9, a full disk) resumes where it stopped. The file's first line holds the run's settings key
(model, model file size and mtime, benchmark items, format, shots, perturbation); when any of them
changed, the old items are discarded rather than mixed into the new run. The same files are the
per-item record that the report reads.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from llmpilot.calibration import expected_calibration_error
from llmpilot.errors import ConfigError
from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.models.loglik import open_loglik_model
from llmpilot.models.perturb import PERTURBATIONS, perturb_benchmark
from llmpilot.models.prompts import fewshot_for
from llmpilot.models.scoring import score_item
from llmpilot.models.types import Benchmark, ItemScore, LoglikModel, MCItem, ModelRun, PromptFormat

#: Bumped when the meaning of a stored item changes, so older files are not reused.
RESUME_VERSION = 1
#: What scores one item (`scoring.score_item`; a parameter so a test can count or interrupt the calls).
ScoreFn = Callable[[LoglikModel, MCItem, PromptFormat, Sequence[MCItem]], ItemScore]


@dataclass(frozen=True)
class BenchProgress:
    """What the progress display shows after each item."""

    model: str
    benchmark: str
    perturbation: str | None
    done: int
    total: int
    correct: int
    tokens: int
    seconds: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.done if self.done else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


ProgressFn = Callable[[BenchProgress], None]


# ---- peak memory -------------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process's resident memory (Linux ≥ 4.0: writing "5"
    to /proc/self/clear_refs). False where that is not possible; the peak is then unknown."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int | None:
    """VmHWM of this process (bytes), or None off Linux."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


# ---- resume files ------------------------------------------------------------------------------


def items_digest(bench: Benchmark) -> str:
    """sha256 over what is scored: a new file, another --limit or another perturbation changes it."""
    h = hashlib.sha256()
    for item in bench.items:
        h.update(json.dumps([item.id, item.question, item.choices, item.answer, item.subject]).encode())
    return h.hexdigest()


def run_key(model: LoglikModel, bench: Benchmark, shots: int, perturbation: str | None) -> dict[str, Any]:
    """The settings that must match for stored items to be reused. The model file is identified by its
    size and, where the model exposes its `path`, its mtime (hashing a GGUF of gigabytes per run costs
    more than the items it would save)."""
    path = getattr(model, "path", None)
    mtime = None
    if path is not None:
        try:
            mtime = Path(path).stat().st_mtime_ns
        except OSError:
            mtime = None
    return {
        "version": RESUME_VERSION,
        "model": model.name,
        "model_bytes": getattr(model, "model_bytes", None),
        "model_path": str(path) if path is not None else None,
        "model_mtime_ns": mtime,
        "benchmark": bench.name,
        "format": bench.format,
        "items": items_digest(bench),
        "shots": shots,
        "perturbation": perturbation,
    }


def score_to_json(score: ItemScore) -> dict[str, Any]:
    return asdict(score)


def score_from_json(row: dict[str, Any]) -> ItemScore:
    return ItemScore(
        item_id=str(row["item_id"]),
        subject=str(row["subject"]),
        lang=str(row["lang"]),
        answer=int(row["answer"]),
        logliks=tuple(float(x) for x in row["logliks"]),
        lengths=tuple(int(x) for x in row["lengths"]),
        pred=int(row["pred"]),
        pred_norm=int(row["pred_norm"]),
        probs=tuple(float(x) for x in row["probs"]),
        tokens=int(row["tokens"]),
        seconds=float(row["seconds"]),
    )


def load_done(path: Path, key: dict[str, Any]) -> tuple[dict[str, ItemScore], int | None]:
    """The items a previous run with the same key stored, with the largest peak RSS recorded beside them,
    and the file rewritten to hold exactly those (a line cut off by a kill is dropped, so appends start
    on a clean line). A missing file, or one written under another key, starts a new file: stale items
    are never reused."""
    done: dict[str, ItemScore] = {}
    peaks: dict[str, int | None] = {}
    if path.is_file():
        lines = path.read_bytes().split(b"\n")
        try:
            header = json.loads(lines[0])
        except (json.JSONDecodeError, UnicodeDecodeError):
            header = None
        if isinstance(header, dict) and header.get("key") == key:
            for raw in lines[1:]:
                try:
                    row = json.loads(raw)
                    score = score_from_json(row)
                except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
                    continue  # the partial last line of a killed run, or a blank line
                done[score.item_id] = score
                peaks[score.item_id] = row.get("peak_rss_bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(path.name + ".tmp")
    with fresh.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"key": key}, ensure_ascii=False) + "\n")
        for score in done.values():
            f.write(_line(score, peaks[score.item_id]))
    fresh.replace(path)  # atomic: a kill while rewriting leaves the old file, not half of it
    known = [p for p in peaks.values() if isinstance(p, int)]
    return done, max(known) if known else None


def _line(score: ItemScore, peak: int | None) -> str:
    """A stored item: its score and the process's peak RSS so far (so a resumed run still reports the
    memory that scoring took, not only what this process needed to reload the model)."""
    return json.dumps({**score_to_json(score), "peak_rss_bytes": peak}, ensure_ascii=False) + "\n"


def items_file(out_dir: Path, model: str, benchmark: str, perturbation: str | None) -> Path:
    """Where one run's per-item scores live under --out (a readable, filesystem-safe name)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model.rsplit("/", 1)[-1]).strip("_") or "model"
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]  # two paths with one file name stay apart
    suffix = f".{perturbation}" if perturbation else ""
    return out_dir / "items" / f"{safe}-{digest}.{benchmark}{suffix}.jsonl"


def _max_known(a: int | None, b: int | None) -> int | None:
    return max(a, b) if a is not None and b is not None else a if b is None else b


# ---- one model, one benchmark ------------------------------------------------------------------


def run_benchmark(
    model: LoglikModel,
    bench: Benchmark,
    *,
    shots: int,
    progress: ProgressFn | None = None,
    resume_file: Path | None = None,
    perturbation: str | None = None,
    score: ScoreFn | None = None,
) -> ModelRun:
    """Score every item of `bench` with `model` (`shots` examples from the benchmark itself, chosen by
    `prompts.fewshot_for`). With `resume_file`, items already stored there under the same settings are
    taken as they are and each new item is appended as soon as it is scored.

    `seconds` is the scoring time summed over items (stored items keep their own time, so a resumed run
    reports what a whole run costs). The peak RSS is the kernel's high-water mark from the start of this
    call (the loaded model included), or the larger one stored beside resumed items."""
    if shots < 0:
        raise ConfigError(f"--shots must be 0 or more (got {shots})")
    score_fn = score or score_item
    done, stored_peak = (
        load_done(resume_file, run_key(model, bench, shots, perturbation)) if resume_file else ({}, None)
    )
    measured = reset_peak_rss()
    scores: list[ItemScore] = []
    correct = tokens = 0
    seconds = 0.0
    sink = resume_file.open("a", encoding="utf-8") if resume_file else None
    try:
        for item in bench.items:
            result = done.get(item.id)
            if result is None:
                result = score_fn(model, item, bench.format, fewshot_for(item, bench.items, shots))
                if sink is not None:
                    sink.write(_line(result, peak_rss_bytes() if measured else None))
                    sink.flush()  # in the kernel's hands: survives the process being killed
            scores.append(result)
            correct += result.correct
            tokens += result.tokens
            seconds += result.seconds
            if progress is not None:
                progress(
                    BenchProgress(
                        model.name,
                        bench.name,
                        perturbation,
                        len(scores),
                        len(bench.items),
                        correct,
                        tokens,
                        seconds,
                    )
                )
    finally:
        if sink is not None:
            sink.close()
    return ModelRun(
        model=model.name,
        benchmark=bench.name,
        shots=shots,
        scores=scores,
        seconds=seconds,
        peak_rss_bytes=_max_known(stored_peak, peak_rss_bytes() if measured else None),
        model_bytes=getattr(model, "model_bytes", None),
        perturbation=perturbation,
    )


# ---- several models, with robustness runs ------------------------------------------------------

OpenModel = Callable[[str], LoglikModel]
Perturb = Callable[[Benchmark, str], Benchmark]


def bench_models(
    specs: Sequence[str],
    bench: Benchmark,
    *,
    shots: int,
    out_dir: Path,
    robustness: Sequence[str] = (),
    n_ctx: int = 4096,
    n_threads: int | None = None,
    progress: ProgressFn | None = None,
    open_model: OpenModel | None = None,
    perturb: Perturb | None = None,
    score: ScoreFn | None = None,
) -> list[ModelRun]:
    """Each model in turn: load (timed), the clean run, then one run per robustness perturbation
    (`perturb.perturb_benchmark`, seed 0) on the same loaded model; per-item files under `out_dir/items`.
    Perturbation names are checked before any model loads."""
    if not specs:
        raise ConfigError("--models: name at least one model (see `llmpilot models list`)")
    twice = sorted({spec for spec in specs if list(specs).count(spec) > 1})
    if twice:
        raise ConfigError(f"--models names {', '.join(twice)} more than once")
    unknown = [kind for kind in robustness if kind not in PERTURBATIONS]
    if perturb is None and unknown:
        raise ConfigError(
            f"--robustness: unknown perturbation(s) {', '.join(unknown)}; use {', '.join(PERTURBATIONS)}"
        )
    perturb_fn = perturb or (lambda b, kind: perturb_benchmark(b, kind, seed=0))
    perturbed = {kind: perturb_fn(bench, kind) for kind in robustness}
    opener = open_model or (lambda spec: open_loglik_model(spec, n_ctx=n_ctx, n_threads=n_threads))
    runs: list[ModelRun] = []
    for spec in specs:
        t0 = time.perf_counter()
        model = opener(spec)
        load_seconds = time.perf_counter() - t0
        try:
            for kind, target in [(None, bench), *perturbed.items()]:
                run = run_benchmark(
                    model,
                    target,
                    shots=shots,
                    progress=progress,
                    resume_file=items_file(out_dir, spec, bench.name, kind),
                    perturbation=kind,
                    score=score,
                )
                run.load_seconds = load_seconds
                run.benchmark = bench.name  # a perturbed copy may carry its own name; `perturbation` tells
                runs.append(run)
        finally:
            close = getattr(model, "close", None)
            if callable(close):
                close()
    return runs


# ---- the JSON ----------------------------------------------------------------------------------


def _rate(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _ci(flags: Sequence[bool]) -> list[float]:
    if not flags:
        return [0.0, 0.0]
    _, low, high = bootstrap_ci([float(f) for f in flags])
    return [low, high]


def _model_entry(run: ModelRun, robustness: Sequence[ModelRun]) -> dict[str, Any]:
    scores = run.scores
    correct = [s.correct for s in scores]
    correct_norm = [s.correct_norm for s in scores]
    by_subject: dict[str, list[bool]] = {}
    for s in scores:
        by_subject.setdefault(s.subject, []).append(s.correct)
    tokens = sum(s.tokens for s in scores)
    ece, _ = expected_calibration_error([max(s.probs) for s in scores], correct)
    return {
        "accuracy": _rate(correct),
        "accuracy_norm": _rate(correct_norm),
        "ci": _ci(correct),
        "n": len(scores),
        "by_subject": {k: {"accuracy": _rate(v), "n": len(v)} for k, v in sorted(by_subject.items())},
        "seconds": run.seconds,
        "tokens_per_s": tokens / run.seconds if run.seconds > 0 else None,
        "ci_norm": _ci(correct_norm),
        "calibration_ece": ece,
        "robustness": {
            r.perturbation: {
                "accuracy": _rate([s.correct for s in r.scores]),
                "accuracy_norm": _rate([s.correct_norm for s in r.scores]),
                "n": len(r.scores),
            }
            for r in robustness
            if r.perturbation is not None
        },
        "load_seconds": run.load_seconds,
        "peak_rss_bytes": run.peak_rss_bytes,
        "model_bytes": run.model_bytes,
        "shots": run.shots,
    }


def _paired(a: ModelRun, b: ModelRun) -> dict[str, Any]:
    """The paired bootstrap on the items both models scored (aligned by id)."""
    right_a = {s.item_id: s for s in a.scores}
    right_b = {s.item_id: s for s in b.scores}
    common = [i for i in right_a if i in right_b]
    entry: dict[str, Any] = {"a": a.model, "b": b.model, "n": len(common)}
    for metric, attr in (("accuracy", "correct"), ("accuracy_norm", "correct_norm")):
        if common:
            entry[metric] = paired_bootstrap(
                [float(getattr(right_a[i], attr)) for i in common],
                [float(getattr(right_b[i], attr)) for i in common],
            )
        else:
            entry[metric] = None
    return entry


def summarize(runs: Sequence[ModelRun], bench: Benchmark, *, created: str | None = None) -> dict[str, Any]:
    """The JSON of `llmpilot models bench --json`: the issue's keys
    `{"models": {name: {"accuracy", "accuracy_norm", "ci", "n", "by_subject", "seconds", "tokens_per_s"}},
    "benchmark", "n"}`, plus per model "ci_norm", "calibration_ece" (ECE of the top choice's probability),
    "robustness" ({perturbation: {"accuracy", "accuracy_norm", "n"}}), "load_seconds", "peak_rss_bytes",
    "model_bytes", "shots"; and top-level "paired" (each pair of models: paired bootstrap of per-item
    correctness, raw and normalised), "format", "source", "created". CIs: 95% percentile bootstrap."""
    clean = [r for r in runs if r.perturbation is None and r.benchmark == bench.name]
    names = [r.model for r in clean]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"--models names {', '.join(duplicates)} more than once")
    models = {
        r.model: _model_entry(
            r, [p for p in runs if p.model == r.model and p.benchmark == bench.name and p.perturbation]
        )
        for r in clean
    }
    return {
        "models": models,
        "benchmark": bench.name,
        "n": len(bench.items),
        "paired": [_paired(a, b) for a, b in combinations(clean, 2)],
        "format": bench.format,
        "source": bench.source,
        "created": created or datetime.now(UTC).isoformat(timespec="seconds"),
    }
