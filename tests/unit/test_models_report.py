"""The model report from hand-written bench, pairwise and task results: ranking order, Pareto set, the
extractive floor rule both ways, trade-off sentences, the page, and clear errors for bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llmpilot.errors import LlmpilotError
from llmpilot.models.cli_report import report_command
from llmpilot.models.report import build_report, render_html, write_report
from llmpilot.models.report_inputs import load_bench, load_pairwise
from llmpilot.models.report_svg import Point, pareto_front
from llmpilot.models.report_task import GeneratorScore, TaskMetrics, generator_label, load_task_metrics

N = 40
FLOOR_VALUES = [0.1 if q % 2 else 0.3 for q in range(N)]  # mean 0.2


def gen(name: str, values: list[float], latency_ms: float) -> GeneratorScore:
    mean = sum(values) / len(values)
    return GeneratorScore(
        name,
        "rougeL",
        mean,
        mean - 0.05,
        mean + 0.05,
        {f"q{i}": v for i, v in enumerate(values)},
        latency_ms,
        "t",
        "x",
    )


def task(*gens: GeneratorScore) -> TaskMetrics:
    return TaskMetrics("my-eval", "rougeL", {g.name: g for g in gens}, ("proj/out/results.json",))


FLOOR = gen("extractive", FLOOR_VALUES, 1.0)
BIG = gen("big", [v + 0.3 for v in FLOOR_VALUES], 310.0)  # clearly better than the floor
SLOW = gen("slow", [v + 0.1 for v in FLOOR_VALUES], 500.0)  # better, but slower and worse than big
# mean 0.21, but the per-question difference swings ±0.3: not significantly above the floor
SMALL = gen("small", [f + (0.31 if q % 2 else -0.29) for q, f in enumerate(FLOOR_VALUES)], 100.0)


def bench_entry(acc: float, norm: float, seconds: float) -> dict[str, Any]:
    return {
        "accuracy": acc,
        "accuracy_norm": norm,
        "ci": [acc - 0.1, acc + 0.1],
        "n": 100,
        "seconds": seconds,
        "tokens_per_s": 500.0,
        "calibration_ece": 0.1,
        "robustness": {"typos": {"accuracy": acc - 0.05, "accuracy_norm": norm - 0.05, "n": 100}},
    }


MMLU: dict[str, Any] = {
    "benchmark": "mmlu-en",
    "format": "letters",
    "n": 100,
    "models": {"small": bench_entry(0.30, 0.28, 10.0), "big": bench_entry(0.50, 0.45, 40.0)},
}
KO: dict[str, Any] = {
    "benchmark": "kobest-hellaswag-ko",
    "format": "continuation",
    "n": 100,
    "models": {"small": bench_entry(0.40, 0.45, 10.0), "big": bench_entry(0.42, 0.44, 40.0)},
}


def test_ranking_combines_task_benchmarks_and_latency_by_weighted_win_rate() -> None:
    report = build_report([MMLU, KO], [], task(FLOOR, BIG, SLOW, SMALL))
    # big: task 1, benchmarks 1/2, latency (1/3 + 0 + 0)/3; small: 1/3, 1/2, (2/3 + 1 + 1)/3;
    # slow: task 2/3 and latency 0 only; the floor: task 0, latency 1 (weights 0.5, 0.25, 0.25)
    assert [r.name for r in report.ranking] == ["big", "small", "slow", "extractive"]
    scores = {r.name: r.score for r in report.ranking}
    assert scores["big"] == pytest.approx(0.5 + 0.125 + 0.25 / 9)
    assert scores["small"] == pytest.approx(0.5 / 3 + 0.125 + 0.25 * 8 / 9)
    assert scores["slow"] == pytest.approx(0.5 * 2 / 3 / 0.75)
    assert scores["extractive"] == pytest.approx(0.25 / 0.75)
    assert report.weights == {"task": 0.5, "benchmarks": 0.25, "latency": 0.25}


def test_pareto_set_marks_models_no_other_beats_on_both_axes() -> None:
    report = build_report([MMLU, KO], [], task(FLOOR, BIG, SLOW, SMALL))
    assert {r.name for r in report.ranking if r.pareto} == {"extractive", "small", "big"}
    assert pareto_front([Point("a", 1, 0.5), Point("b", 1, 0.5), Point("c", 2, 0.5)]) == {"a", "b"}


def test_generator_beating_the_floor_is_recommended_with_its_trade_off_named() -> None:
    report = build_report([MMLU, KO], [], task(FLOOR, BIG, SLOW, SMALL))
    rec = report.recommendation
    assert rec.model == "big" and rec.basis == "task"
    assert "+0.300 over the extractive floor (p < 0.001, n = 40)" in rec.summary
    assert rec.tradeoffs == [
        "big: +0.200 rougeL on your eval set over slow at 0.6x the latency (p < 0.001, n = 40)",
        "big: +0.300 rougeL on your eval set over extractive at 310x the latency (p < 0.001, n = 40)",
    ]
    (small_line,) = [line for line in rec.not_recommended if line.startswith("small:")]
    assert "did not beat the extractive floor significantly" in small_line and "+0.010 rougeL" in small_line
    statuses = {r.name: r.status for r in report.ranking}
    assert statuses == {
        "big": "recommended",
        "slow": "eligible",
        "small": "below floor",
        "extractive": "floor",
    }


def test_no_generator_beating_the_floor_recommends_the_extractive_answerer() -> None:
    report = build_report([MMLU, KO], [], task(FLOOR, SMALL))
    rec = report.recommendation
    assert rec.model == "extractive"
    assert rec.summary.startswith("Use the extractive answerer (no language model): no generator beat it")
    assert rec.tradeoffs[0].startswith(
        "small: +0.010 rougeL on your eval set over extractive at 100x the latency"
    )
    # big is only on the general benchmarks: not recommendable, and the report says why
    assert any(line.startswith("big: not run on your eval set") for line in rec.not_recommended)
    assert report.ranking[[r.name for r in report.ranking].index("extractive")].status == "recommended"


def test_without_task_metrics_the_recommendation_rests_on_benchmarks_only() -> None:
    report = build_report([MMLU, KO], [], None)
    rec = report.recommendation
    assert rec.basis == "benchmarks" and rec.model == report.ranking[0].name
    assert "rests on general benchmarks only" in rec.summary
    assert any("rests on general benchmarks only" in note for note in report.notes)
    (line,) = rec.tradeoffs
    other = "small" if rec.model == "big" else "big"
    assert (
        line.startswith(f"{rec.model}: ")
        and f"mean accuracy on mmlu-en, kobest-hellaswag-ko over {other} at " in line
    )
    assert report.plot_basis == "benchmarks" and len(report.plot_points) == 2


def test_without_the_floor_in_the_task_results_the_report_says_the_rule_was_not_applied() -> None:
    report = build_report([], [], task(BIG, SMALL))
    assert report.recommendation.model == "big"
    assert "extractive floor is not among your eval results" in report.recommendation.summary
    assert any("floor rule could not be applied" in n for n in report.notes)


def test_pairwise_win_rates_count_in_the_task_group() -> None:
    pairs = [{"model_a": "small", "model_b": "big", "win_rate": 0.8, "n": 20, "judge": "j", "ci": [0.6, 0.9]}]
    with_pairs = build_report([MMLU], pairs, None)
    plain = build_report([MMLU], [], None)
    by_name = {r.name: r for r in with_pairs.ranking}
    assert by_name["small"].groups["task"] == 1.0 and by_name["big"].groups["task"] == 0.0
    assert with_pairs.weights["task"] > 0 and plain.weights["task"] == 0
    assert "pairwise" in render_html(with_pairs) and 'id="pairwise"' in render_html(with_pairs)
    unjudged = build_report([MMLU], [{"model_a": "small", "model_b": "big", "win_rate": None, "n": 0}], None)
    assert unjudged.weights["task"] == 0 and any("no question was judged" in n for n in unjudged.notes)


def test_page_and_json_hold_the_svg_tables_and_escaped_names(tmp_path: Path) -> None:
    evil = "<b>x</b>"
    bench = {**MMLU, "models": {**MMLU["models"], evil: bench_entry(0.1, 0.1, 5.0)}}
    report = build_report([bench, KO], [], task(FLOOR, BIG, SLOW, SMALL))
    page = write_report(report, tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "<svg" in text and 'class="pareto-optimal"' in text and "extractive floor" in text
    assert 'id="holistic"' in text and 'id="ranking"' in text and 'id="task"' in text
    assert evil not in text and "&lt;b&gt;x&lt;/b&gt;" in text
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["recommendation"]["model"] == "big"
    assert data["pareto"]["optimal"] == ["big", "extractive", "small"]
    assert data["ranking"][0]["floor"]["beats"] is True
    assert {row["scenario"] for row in data["holistic"]} == {"mmlu-en", "kobest-hellaswag-ko"}


def test_bad_input_files_are_errors_naming_the_file_line_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "bench.json"
    broken.write_text('{"benchmark": "mmlu-en",\n "models": {,}}', encoding="utf-8")
    with pytest.raises(LlmpilotError, match=r"bench\.json: line 2, column 13: not valid JSON"):
        load_bench(broken)
    missing = tmp_path / "nope.json"
    with pytest.raises(LlmpilotError, match=r"nope\.json: no such file; expected the --json file of"):
        load_bench(missing)
    no_acc = tmp_path / "b2.json"
    no_acc.write_text(json.dumps({"benchmark": "x", "models": {"m": {"n": 3}}}), encoding="utf-8")
    with pytest.raises(LlmpilotError, match=r"b2\.json: models\.m\.accuracy: missing"):
        load_bench(no_acc)
    pair = tmp_path / "pair.json"
    pair.write_text(json.dumps({"model_a": "a", "model_b": "b", "win_rate": 1.4, "n": 3}), encoding="utf-8")
    with pytest.raises(LlmpilotError, match=r"pair\.json: win_rate: 1\.4 is outside 0\.\.1"):
        load_pairwise(pair)
    pair.write_text(json.dumps({"model_a": "a", "win_rate": 0.5, "n": 3}), encoding="utf-8")
    with pytest.raises(LlmpilotError, match=r"pair\.json: model_b: missing"):
        load_pairwise(pair)


# --- task metrics read from `eval` / `optimize` results.json files ----------------------------------


def trial(
    trial_id: str, generator: dict[str, Any], rouge: list[float], ms: float, n: int = 6
) -> dict[str, Any]:
    return {
        "trial_id": trial_id,
        "config": {"generator": generator},
        "n_queries": n,
        "complete": True,
        "per_query": {
            "ndcg@10": {f"q{i}": 0.5 for i in range(n)},
            "rougeL": {f"q{i}": v for i, v in enumerate(rouge)},
        },
        "latency_ms_p50": 5.0,
        "generation_ms_p50": ms,
        "seconds": 1.0,
    }


def study(trials: list[dict[str, Any]], dataset: str = "my-eval") -> dict[str, Any]:
    return {
        "dataset": dataset,
        "dataset_dir": "data",
        "space_file": "space.yaml",
        "strategy": "grid",
        "settings": {"strategy": "grid", "primary_metric": "ndcg@10", "answer_metrics": ["rougeL", "chrf"]},
        "primary_metric": "ndcg@10",
        "created": "2026-12-01T10:00:00Z",
        "seconds": 3.0,
        "compute": {},
        "candidates": len(trials),
        "trials": trials,
        "best": {"trial_id": trials[0]["trial_id"], "n_queries": trials[0]["n_queries"]},
    }


def test_task_metrics_come_from_the_results_json_files_in_a_project(tmp_path: Path) -> None:
    (tmp_path / "opt").mkdir()
    qwen = {"name": "llama-cpp", "model": "qwen2.5-coder-1.5b"}
    trials = [
        trial("a", {"name": "extractive"}, [0.2] * 6, 0.5),
        trial("b", qwen, [0.4] * 6, 900.0),
        trial("c", qwen, [0.5] * 6, 950.0),  # the same generator under another retrieval config: better
        trial("d", {"name": "llama-cpp"}, [0.3] * 6, 200.0),
        trial("e", qwen, [0.9] * 3, 10.0, n=3),  # a halving rung's subset: not comparable, ignored
    ]
    (tmp_path / "opt" / "results.json").write_text(json.dumps(study(trials)), encoding="utf-8")
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "results.json").write_text('{"winner": "rag"}', encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "results.json").write_text("not even json", encoding="utf-8")

    found = load_task_metrics(tmp_path)
    assert found is not None and found.metric == "rougeL" and found.dataset == "my-eval"
    assert sorted(found.generators) == ["extractive", "qwen2.5-coder-1.5b", "smollm2-135m"]
    best_qwen = found.generators["qwen2.5-coder-1.5b"]
    assert (best_qwen.trial_id, best_qwen.mean, best_qwen.latency_ms, best_qwen.n) == ("c", 0.5, 950.0, 6)
    assert any("strategies" in note for note in found.notes)
    # a file given directly must be a study's results.json
    with pytest.raises(LlmpilotError, match=r"not a results\.json of `llmpilot optimize`"):
        load_task_metrics(tmp_path / "strategies" / "results.json")


def test_results_for_two_datasets_are_an_error_naming_both(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        body = study([trial("a", {"name": "extractive"}, [0.2] * 6, 0.5)], dataset=name)
        (tmp_path / name / "results.json").write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(LlmpilotError, match=r"several datasets \(one: .*one/results.json; two: "):
        load_task_metrics(tmp_path)


def test_generator_labels_match_bench_model_names() -> None:
    from llmpilot.config import GeneratorConfig

    assert generator_label(GeneratorConfig(name="extractive")) == "extractive"
    assert generator_label(GeneratorConfig(name="llama-cpp")) == "smollm2-135m"
    assert generator_label(GeneratorConfig(name="llama-cpp", model_path="/m/x.gguf")) == "/m/x.gguf"
    assert generator_label(GeneratorConfig(name="openai", model="gpt-x")) == "gpt-x"


def test_report_command_prints_the_ranking_and_writes_the_page(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(report_command)
    (tmp_path / "mmlu.json").write_text(json.dumps(MMLU), encoding="utf-8")
    (tmp_path / "ko.json").write_text(json.dumps(KO), encoding="utf-8")
    qwen = {"name": "llama-cpp", "model": "big"}
    rows = [
        trial("a", {"name": "extractive"}, FLOOR_VALUES, 1.0, N),
        trial("b", qwen, [v + 0.3 for v in FLOOR_VALUES], 310.0, N),
    ]
    (tmp_path / "proj" / "out").mkdir(parents=True)
    (tmp_path / "proj" / "out" / "results.json").write_text(json.dumps(study(rows)), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "--bench", str(tmp_path / "mmlu.json"), "--bench", str(tmp_path / "ko.json"),
            "-p", str(tmp_path / "proj"), "--out", str(tmp_path / "rep"), "--json", str(tmp_path / "r.json"),
        ],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Recommendation: big" in result.output
    assert "big: +0.300 rougeL on your eval set over extractive at 310x the latency" in result.output
    assert "small: not run on your eval set" in result.output
    assert (tmp_path / "rep" / "report.html").is_file() and (tmp_path / "r.json").is_file()

    nothing = CliRunner().invoke(app, ["--out", str(tmp_path / "x")])
    assert isinstance(nothing.exception, LlmpilotError) and "needs results" in str(nothing.exception)


def test_pareto_svg_scales_escapes_and_handles_no_points() -> None:
    from llmpilot.models.report_svg import pareto_svg

    empty = pareto_svg([], set(), "t", "q")
    assert empty.startswith("<svg") and "no model has both a quality and a latency" in empty
    points = [Point("a<&>", 1.0, 0.2), Point("b", 5000.0, 0.6)]
    svg = pareto_svg(points, {"a<&>", "b"}, "t", "q", floor=0.1)
    assert "(log scale)" in svg and "a&lt;&amp;&gt;" in svg and "a<&>" not in svg
    assert svg.count('class="pareto-optimal"') == 2 and "extractive floor" in svg
    linear = pareto_svg([Point("a", 10.0, 0.2), Point("b", 50.0, 0.6)], {"b"}, "t", "q")
    assert "(log scale)" not in linear and linear.count('class="dominated"') == 1


EMBEDDERS: dict[str, Any] = {
    "embedders": {
        "e5-small": {"sts-ko": {"main_score": 0.8358, "metric": "cosine_spearman", "n": 200}},
        "minilm": {"sts-ko": {"main_score": 0.6633, "metric": "cosine_spearman", "n": 200}},
    },
    "tasks": {
        "sts-ko": {"type": "sts", "lang": "ko", "source": "KorSTS test", "licence": "CC BY-SA 4.0", "n": 200}
    },
}


def test_embedder_results_get_their_own_table_and_bad_ones_are_named(tmp_path: Path) -> None:
    from llmpilot.models.report_inputs import load_embedders

    good = tmp_path / "embedders.json"
    good.write_text(json.dumps(EMBEDDERS), encoding="utf-8")
    report = build_report([MMLU], [], None, embedders=[load_embedders(good)])
    text = write_report(report, tmp_path / "page").read_text(encoding="utf-8")
    assert 'class="embedders"' in text and "0.836" in text and "0.663" in text and "KorSTS test" in text
    assert json.loads((tmp_path / "page" / "report.json").read_text(encoding="utf-8"))["embedders"] == [
        EMBEDDERS
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"embedders": {"e5-small": {"sts-ko": {"metric": "x"}}}, "tasks": {}}))
    with pytest.raises(LlmpilotError, match=r"bad.json: embedders.e5-small.sts-ko.main_score: missing"):
        load_embedders(bad)
