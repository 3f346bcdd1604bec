"""The benchmark runner and its JSON: summarize's keys and values from known scores, the paired test,
resuming after a killed run without rescoring, and stale items never reused.

The model is a fake whose log-likelihoods are known (the logic under test is the runner's, not a
model's); items are scored by the real `scoring.score_item`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from llmpilot.calibration import expected_calibration_error
from llmpilot.errors import ConfigError
from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.models.bench import (
    BenchProgress,
    bench_models,
    items_file,
    load_done,
    run_benchmark,
    run_key,
    summarize,
)
from llmpilot.models.scoring import score_item
from llmpilot.models.types import Benchmark, ItemScore, LoglikModel, MCItem, ModelRun, PromptFormat

ROOT = Path(__file__).resolve().parents[2]


def make_bench(n: int = 8, name: str = "toy") -> Benchmark:
    items = tuple(
        MCItem(f"q{i}", "odd" if i % 2 else "even", f"Question {i}?", ("w", "x", "y", "z"), i % 4, "en")
        for i in range(n)
    )
    return Benchmark(name=name, items=items, format="letters", source="test")


class FavouriteModel:
    """Puts log-likelihood -1 on its favourite choice of each question and -3 on the others, so its
    prediction and probabilities are known: right on the questions in `right`, else one letter off."""

    model_bytes = 1234

    def __init__(self, name: str, bench: Benchmark, right: set[str]) -> None:
        self.name = name
        self.closed = False
        self.favourite = {
            item.question: item.answer if item.id in right else (item.answer + 1) % len(item.choices)
            for item in bench.items
        }

    def loglikelihood(self, context: str, continuations: Sequence[str]) -> list[tuple[float, int]]:
        last = context.rsplit("\n\n", 1)[-1]  # the scored question, after any few-shot examples
        favourite = next(f for q, f in self.favourite.items() if q in last)
        return [(-1.0 if i == favourite else -3.0, 1) for i in range(len(continuations))]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        self.closed = True


class Counting:
    """score_item, counting the items it scores."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(
        self, model: LoglikModel, item: MCItem, fmt: PromptFormat, shots: Sequence[MCItem]
    ) -> ItemScore:
        self.ids.append(item.id)
        return score_item(model, item, fmt, shots)


def known_score(item_id: str, subject: str, correct: bool, correct_norm: bool, p: float) -> ItemScore:
    return ItemScore(
        item_id=item_id,
        subject=subject,
        lang="en",
        answer=0,
        logliks=(-1.0, -2.0),
        lengths=(1, 1),
        pred=0 if correct else 1,
        pred_norm=0 if correct_norm else 1,
        probs=(p, 1 - p),
        tokens=10,
        seconds=0.5,
    )


def test_summarize_gives_the_issue_keys_and_known_values() -> None:
    bench = make_bench(4)
    a = ModelRun(
        "a",
        "toy",
        shots=5,
        scores=[
            known_score("q0", "even", True, True, 0.9),
            known_score("q1", "odd", True, False, 0.8),
            known_score("q2", "even", False, False, 0.7),
            known_score("q3", "odd", True, True, 0.6),
        ],
        seconds=2.0,
        load_seconds=0.25,
        peak_rss_bytes=1 << 20,
        model_bytes=999,
    )
    b = ModelRun(
        "b",
        "toy",
        shots=5,
        scores=[known_score(f"q{i}", "even", False, i == 0, 0.5) for i in range(4)],
        seconds=4.0,
    )
    typos = ModelRun(
        "a", "toy", shots=5, scores=[*a.scores[:2], replace(a.scores[3], pred=1)], perturbation="typos"
    )
    result = summarize([a, b, typos], bench, created="2026-01-01T00:00:00+00:00")

    assert set(result) == {"models", "benchmark", "n", "paired", "format", "source", "created"}
    assert (result["benchmark"], result["n"], result["format"], result["source"]) == (
        "toy",
        4,
        "letters",
        "test",
    )
    entry = result["models"]["a"]
    assert set(entry) == {
        "accuracy", "accuracy_norm", "ci", "n", "by_subject", "seconds", "tokens_per_s",  # the issue's
        "ci_norm", "calibration_ece", "robustness", "load_seconds", "peak_rss_bytes", "model_bytes", "shots",
    }  # fmt: skip
    assert entry["accuracy"] == 0.75 and entry["accuracy_norm"] == 0.5 and entry["n"] == 4
    assert entry["ci"] == list(bootstrap_ci([1.0, 1.0, 0.0, 1.0])[1:])
    assert entry["ci_norm"] == list(bootstrap_ci([1.0, 0.0, 0.0, 1.0])[1:])
    assert entry["by_subject"] == {"even": {"accuracy": 0.5, "n": 2}, "odd": {"accuracy": 1.0, "n": 2}}
    assert entry["seconds"] == 2.0 and entry["tokens_per_s"] == 40 / 2.0
    assert entry["calibration_ece"] == pytest.approx(
        expected_calibration_error([0.9, 0.8, 0.7, 0.6], [True, True, False, True])[0]
    )
    assert entry["robustness"] == {"typos": {"accuracy": 2 / 3, "accuracy_norm": 2 / 3, "n": 3}}
    assert (entry["load_seconds"], entry["peak_rss_bytes"], entry["model_bytes"], entry["shots"]) == (
        0.25,
        1 << 20,
        999,
        5,
    )
    assert result["models"]["b"]["accuracy"] == 0.0 and result["models"]["b"]["robustness"] == {}

    [pair] = result["paired"]
    assert (pair["a"], pair["b"], pair["n"]) == ("a", "b", 4)
    assert pair["accuracy"] == paired_bootstrap([1, 1, 0, 1], [0, 0, 0, 0])
    assert pair["accuracy_norm"] == paired_bootstrap([1, 0, 0, 1], [1, 0, 0, 0])
    assert pair["accuracy"]["mean_diff"] == 0.75
    json.dumps(result)  # plain JSON


def test_summarize_rejects_a_model_named_twice() -> None:
    run = ModelRun("a", "toy", shots=0, scores=[known_score("q0", "s", True, True, 0.9)])
    with pytest.raises(Exception, match="more than once"):
        summarize([run, run], make_bench(1))


def test_run_benchmark_scores_every_item_with_the_known_model(tmp_path: Path) -> None:
    bench = make_bench(8)
    model = FavouriteModel("fav", bench, right={"q0", "q1", "q2"})
    seen: list[BenchProgress] = []
    run = run_benchmark(model, bench, shots=2, progress=seen.append, resume_file=tmp_path / "r.jsonl")
    assert [s.item_id for s in run.scores] == [i.id for i in bench.items]
    assert sum(s.correct for s in run.scores) == 3
    assert all(s.probs[s.pred] == pytest.approx(1 / (1 + 3 * 2.718281828459045**-2)) for s in run.scores)
    assert [p.done for p in seen] == list(range(1, 9)) and seen[-1].correct == 3
    assert run.model_bytes == 1234 and run.seconds == pytest.approx(sum(s.seconds for s in run.scores))
    assert run.peak_rss_bytes is None or run.peak_rss_bytes > 0


_KILLED_RUN = """
import os, sys
sys.path.insert(0, {tests!r})
from test_model_bench import FavouriteModel, make_bench
from llmpilot.models.bench import run_benchmark
from llmpilot.models.scoring import score_item
from pathlib import Path

bench = make_bench(8)
calls = []

def score(model, item, fmt, shots):
    if len(calls) == 5:
        with open({path!r}, "a") as f:
            f.write('{{"item_id": "q5", "subj')  # a line cut off mid-write
        os.kill(os.getpid(), 9)
    calls.append(item.id)
    return score_item(model, item, fmt, shots)

run_benchmark(FavouriteModel("fav", bench, {{"q1"}}), bench, shots=1, resume_file=Path({path!r}), score=score)
"""


def test_resume_after_kill_scores_only_the_missing_items(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    script = _KILLED_RUN.format(tests=str(Path(__file__).parent), path=str(path))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=tmp_path, check=False
    )
    assert killed.returncode == -9
    assert path.read_text().count("\n") == 6  # the key and five items; the cut-off line has no newline

    bench = make_bench(8)
    model = FavouriteModel("fav", bench, {"q1"})
    counting = Counting()
    resumed = run_benchmark(model, bench, shots=1, resume_file=path, score=counting)
    assert counting.ids == ["q5", "q6", "q7"]
    fresh = run_benchmark(model, bench, shots=1)
    assert [replace(s, seconds=0) for s in resumed.scores] == [replace(s, seconds=0) for s in fresh.scores]
    lines = path.read_text().splitlines()
    assert len(lines) == 9 and json.loads(lines[0])["key"]["shots"] == 1

    again = Counting()
    complete = run_benchmark(model, bench, shots=1, resume_file=path, score=again)
    assert again.ids == []  # complete: nothing recomputed
    stored = [json.loads(line)["peak_rss_bytes"] for line in lines[1:]]
    if all(isinstance(p, int) for p in stored):  # Linux: the memory of the scoring is kept with the items
        assert complete.peak_rss_bytes is not None and complete.peak_rss_bytes >= max(stored)


def test_changed_settings_do_not_reuse_stale_items(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    bench = make_bench(6)
    model = FavouriteModel("fav", bench, {"q0"})
    run_benchmark(model, bench, shots=0, resume_file=path)
    key = run_key(model, bench, 0, None)
    done, peak = load_done(path, key)
    assert len(done) == 6 and (peak is None or peak > 0)

    for changed_model, changed_bench, shots, perturbation in (
        (model, bench, 2, None),  # --shots
        (model, replace(bench, items=bench.items[:4]), 0, None),  # --limit
        (model, replace(bench, items=(replace(bench.items[0], answer=3), *bench.items[1:])), 0, None),  # file
        (model, bench, 0, "typos"),  # a perturbation
    ):
        run_benchmark(model, bench, shots=0, resume_file=path)  # back to the first settings
        counting = Counting()
        run_benchmark(
            changed_model,
            changed_bench,
            shots=shots,
            resume_file=path,
            perturbation=perturbation,
            score=counting,
        )
        assert counting.ids == [i.id for i in changed_bench.items]

    other_file = FavouriteModel("fav", bench, {"q0"})
    other_file.model_bytes = 999  # same name, another model file
    run_benchmark(model, bench, shots=0, resume_file=path)
    counting = Counting()
    run_benchmark(other_file, bench, shots=0, resume_file=path, score=counting)
    assert len(counting.ids) == 6


def test_unknown_perturbation_fails_before_a_model_loads(tmp_path: Path) -> None:
    def open_model(spec: str) -> LoglikModel:
        raise AssertionError("no model may load")

    with pytest.raises(ConfigError, match=r"unknown perturbation\(s\) typo; use typos, spacing, jamo"):
        bench_models(
            ["m"], make_bench(2), shots=0, out_dir=tmp_path, robustness=["typo"], open_model=open_model
        )
    with pytest.raises(ConfigError, match="--models: name at least one model"):
        bench_models([], make_bench(2), shots=0, out_dir=tmp_path, open_model=open_model)
    with pytest.raises(ConfigError, match="--models names m more than once"):
        bench_models(["m", "m"], make_bench(2), shots=0, out_dir=tmp_path, open_model=open_model)


def test_bench_models_runs_clean_and_perturbed_and_closes(tmp_path: Path) -> None:
    bench = make_bench(6)
    opened: list[FavouriteModel] = []

    def open_model(spec: str) -> LoglikModel:
        model = FavouriteModel(spec, bench, {"q0", "q1"} if spec == "m1" else {"q0"})
        opened.append(model)
        return model

    def perturb(b: Benchmark, kind: str) -> Benchmark:
        return replace(b, name=f"{b.name}-{kind}", items=b.items[:3])

    runs = bench_models(
        ["m1", "m2"],
        bench,
        shots=1,
        out_dir=tmp_path,
        robustness=["typos"],
        open_model=open_model,
        perturb=perturb,
    )
    assert [(r.model, r.perturbation, len(r.scores), r.benchmark) for r in runs] == [
        ("m1", None, 6, "toy"),
        ("m1", "typos", 3, "toy"),
        ("m2", None, 6, "toy"),
        ("m2", "typos", 3, "toy"),
    ]
    assert all(m.closed for m in opened) and all(r.load_seconds >= 0 for r in runs)
    assert items_file(tmp_path, "m1", "toy", "typos").is_file()
    result = summarize(runs, bench)
    assert result["models"]["m1"]["accuracy"] == pytest.approx(2 / 6)
    assert result["models"]["m1"]["robustness"]["typos"]["n"] == 3
    assert [(p["a"], p["b"]) for p in result["paired"]] == [("m1", "m2")]
