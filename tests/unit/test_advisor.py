"""The approach advisor: the typical cases, scratch only in the extreme case (checked over every
combination of factor buckets), the measured override, answers-file errors, and `advise` on the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, get_args

import pytest
import typer
from typer.testing import CliRunner

from llmpilot.errors import ConfigError, DatasetError, LlmpilotError
from llmpilot.finetune import cli_advise
from llmpilot.finetune.advisor import (
    APPROACHES,
    FACTOR_NAMES,
    USE_CASE_DEFAULTS,
    WEIGHTS,
    WHY,
    CostAssumptions,
    DataChange,
    DecisionFactors,
    DomainShift,
    Level,
    StyleChange,
    advise,
    best,
    contributions,
    load_answers,
    load_measured,
    score,
)
from llmpilot.finetune.cli_advise import advise_command

runner = CliRunner()

EXTREME = dict(
    external_data=False,
    data_change="never",
    style_change="none",
    labeled_examples=0,
    hallucination_tolerance="medium",
    citations_needed=False,
    latency_budget_ms=None,
    budget="high",
    domain_shift="extreme",
    corpus_tokens=200_000_000_000,
)


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Root, so `advise` is a subcommand as in llmpilot's app."""

    app.command("advise")(advise_command)
    return app


def use_case(name: str, **changes: Any) -> DecisionFactors:
    return DecisionFactors(**{**USE_CASE_DEFAULTS[name], **changes})


# --- the heuristic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [("qa", "rag"), ("summarization", "finetune"), ("customer-service", "hybrid")],
)
def test_the_typical_cases(case: str, expected: str) -> None:
    advice = advise(use_case(case))
    assert advice.recommendation == expected
    assert advice.heuristic == expected
    # The winner leads by a margin, so one factor's bucket does not flip a typical case.
    runner_up = max(v for a, v in advice.scores.items() if a != expected)
    assert advice.scores[expected] - runner_up >= 2


def test_every_use_case_default_is_valid_and_recommends_something_sensible() -> None:
    picks = {name: advise(use_case(name)).recommendation for name in USE_CASE_DEFAULTS}
    assert picks == {
        "qa": "rag",
        "summarization": "finetune",
        "customer-service": "hybrid",
        "classification": "finetune",
        "chat": "prompt",
        "code": "rag",
        "extraction": "prompt",
        "translation": "finetune",
    }


def test_scores_are_the_sum_of_the_breakdown_rows() -> None:
    factors = use_case("customer-service")
    breakdown = contributions(factors)
    assert set(breakdown) >= {"base", "external_data=yes", "data_change=weekly", "style_change=strong"}
    for approach in APPROACHES:
        assert score(factors)[approach] == sum(row[approach] for row in breakdown.values())
    # Every row of the table has a point per approach and a sentence.
    for name, rows in WEIGHTS.items():
        assert set(rows) == set(WHY[name])
        assert all(len(points) == len(APPROACHES) for points in rows.values())


def test_without_external_data_the_grounding_rows_do_not_count() -> None:
    factors = use_case("summarization", data_change="daily", citations_needed=True)
    assert score(factors) == score(use_case("summarization"))
    assert any("not counted" in r for r in advise(factors).reasons)


def test_reasons_name_the_factors_that_decided() -> None:
    advice = advise(use_case("qa"))
    assert advice.reasons[0].startswith("Scores (rag 10")
    text = " ".join(advice.reasons[1:])
    for factor in ("external_data = true", "citations_needed = true", "style_change = none"):
        assert factor in text


def test_a_tie_goes_to_the_simpler_approach() -> None:
    assert best({"finetune": 3.0, "rag": 3.0, "hybrid": 3.0}) == "rag"
    assert best({"scratch": 1.0, "hybrid": 1.0}) == "hybrid"


def test_scratch_wins_in_the_extreme_case() -> None:
    advice = advise(DecisionFactors(**EXTREME))
    assert advice.recommendation == "scratch"
    assert any("domain_shift = extreme" in r for r in advice.reasons)


@pytest.mark.parametrize(
    "weaker", [{"domain_shift": "some"}, {"corpus_tokens": 50_000_000_000}, {"budget": "medium"}]
)
def test_scratch_loses_when_any_one_extreme_condition_is_missing(weaker: dict[str, Any]) -> None:
    assert advise(DecisionFactors(**{**EXTREME, **weaker})).recommendation != "scratch"


def test_scratch_never_wins_outside_the_extreme_case() -> None:
    # Every combination of every factor's buckets (129,600 of them).
    grid: dict[str, list[Any]] = {
        "external_data": [False, True],
        "data_change": list(get_args(DataChange)),
        "style_change": list(get_args(StyleChange)),
        "labeled_examples": [0, 100, 1_000, 10_000],
        "hallucination_tolerance": list(get_args(Level)),
        "citations_needed": [False, True],
        "latency_budget_ms": [None, 300, 1_000, 3_000],
        "budget": list(get_args(Level)),
        "domain_shift": list(get_args(DomainShift)),
        "corpus_tokens": [None, 10**8, 5 * 10**9, 5 * 10**10, 2 * 10**11],
    }
    assert list(grid) == list(FACTOR_NAMES)
    wins = []
    for combo in itertools.product(*grid.values()):
        factors = DecisionFactors.model_construct(**dict(zip(grid, combo, strict=True)))
        if best(score(factors)) == "scratch":
            wins.append(factors)
    assert wins  # the check is not vacuous
    for f in wins:
        assert f.domain_shift == "extreme" and f.budget == "high"
        assert f.corpus_tokens is not None and f.corpus_tokens >= 10**11


# --- costs -------------------------------------------------------------------------------------------


def test_scratch_costs_follow_chinchilla() -> None:
    a = CostAssumptions()
    costs = advise(DecisionFactors(**EXTREME), assumptions=a).costs["scratch"]
    assert costs["params"] == pytest.approx(1e10)  # N = D / 20 with D = 2e11 tokens
    assert costs["train_tokens"] == pytest.approx(2e11)
    assert costs["flops"] == pytest.approx(6 * 1e10 * 2e11)
    assert costs["gpu_hours"] == pytest.approx(1.2e22 / a.sustained_flops / 3600, rel=1e-3)
    # Too small a corpus: the chosen size, and how much of its data the corpus covers.
    small = advise(use_case("qa")).costs["scratch"]
    assert small["params"] == a.scratch_params
    assert small["corpus_share_of_tokens_needed"] == pytest.approx(5e6 / 2e10, rel=0.01)
    assert "Chinchilla" in advise(use_case("qa")).as_dict()["assumptions"]["compute_optimal_tokens"]


def test_finetune_and_rag_costs() -> None:
    costs = advise(use_case("qa", labeled_examples=10)).costs
    assert costs["rag"]["chunks"] == 25_000  # 5M tokens / 200-token chunks
    assert costs["rag"]["vectors_mb"] == pytest.approx(25_000 * 384 * 4 / 1e6, abs=0.1)
    tune = advise(use_case("customer-service", labeled_examples=200)).costs["hybrid"]
    assert tune["examples_needed"] == 1_000 and tune["examples_missing"] == 800
    assert tune["train_tokens"] == 1_000 * 512 * 3
    reasons = advise(use_case("customer-service", labeled_examples=200)).reasons
    assert any("collect 800 more" in r for r in reasons)


# --- the measured override ---------------------------------------------------------------------------


def results(
    values: dict[str, float],
    ci: dict[str, tuple[float, float]] | None = None,
    paired: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    ci = ci or {}
    return {
        "task": "qa",
        "dataset": "autorag-ko",
        "primary_metric": "rougeL",
        "strategies": {
            name: {
                "metrics": {"rougeL": v, "chrf": v / 2},
                "ci": {"rougeL": list(ci[name])} if name in ci else {},
                "cost": {"train_seconds": 0.0},
            }
            for name, v in values.items()
        },
        "paired": {k: {"metric": "rougeL", "diff": d, "p_value": p} for k, (d, p) in (paired or {}).items()},
        "recommended": max(values, key=lambda k: values[k]),
    }


def test_a_significant_measured_winner_overrides() -> None:
    measured = results({"rag": 0.30, "hybrid": 0.36, "prompt": 0.20}, paired={"hybrid vs rag": (0.06, 0.003)})
    advice = advise(use_case("qa"), measured=measured)
    assert advice.heuristic == "rag"
    assert advice.recommendation == "hybrid"
    assert advice.measured is not None and advice.measured["override"] is True
    assert "p = 0.003" in advice.measured["evidence"]
    assert "overrides the heuristic" in advice.reasons[-1]
    assert advice.as_dict()["measured"]["override"] is True


def test_an_override_follows_the_comparisons_recommendation() -> None:
    # The heuristic's hybrid is significantly worse than the measured best (rag), and the comparison
    # recommends prompt: not significantly worse than rag and simpler. The advice is prompt, not rag.
    measured = results(
        {"prompt": 0.313, "rag": 0.320, "finetune": 0.271, "hybrid": 0.165},
        paired={"rag vs hybrid": (0.155, 0.001), "prompt vs rag": (-0.007, 0.89)},
    )
    measured["recommended"] = "prompt"
    advice = advise(use_case("customer-service"), measured=measured)
    assert advice.heuristic == "hybrid"
    assert advice.measured is not None and advice.measured["winner"] == "rag"
    assert advice.recommendation == "prompt"
    assert "the comparison's recommendation" in advice.reasons[-1]


def test_the_paired_test_is_read_in_either_order() -> None:
    measured = results({"rag": 0.30, "hybrid": 0.36}, paired={"rag vs hybrid": (-0.06, 0.01)})
    assert advise(use_case("qa"), measured=measured).recommendation == "hybrid"


def test_non_overlapping_cis_override_without_a_paired_test() -> None:
    measured = results({"rag": 0.30, "hybrid": 0.40}, ci={"rag": (0.25, 0.34), "hybrid": (0.35, 0.45)})
    advice = advise(use_case("qa"), measured=measured)
    assert advice.recommendation == "hybrid"
    assert advice.measured is not None and "do not overlap" in advice.measured["evidence"]


def test_an_insignificant_difference_keeps_the_heuristic() -> None:
    measured = results(
        {"rag": 0.30, "hybrid": 0.32},
        ci={"rag": (0.25, 0.35), "hybrid": (0.27, 0.37)},
        paired={"hybrid vs rag": (0.02, 0.31)},
    )
    advice = advise(use_case("qa"), measured=measured)
    assert advice.recommendation == "rag"
    assert advice.measured is not None
    assert advice.measured["override"] is False and advice.measured["winner"] == "hybrid"
    assert "did not separate them" in advice.reasons[-1]


def test_no_override_when_the_heuristic_pick_was_not_measured() -> None:
    measured = results({"prompt": 0.1, "finetune": 0.5}, paired={"finetune vs prompt": (0.4, 0.0001)})
    advice = advise(use_case("qa"), measured=measured)
    assert advice.recommendation == "rag"
    assert advice.measured is not None and advice.measured["override"] is False
    assert "did not run rag" in advice.reasons[-1]


def test_agreement_is_reported() -> None:
    advice = advise(use_case("qa"), measured=results({"rag": 0.4, "prompt": 0.2}))
    assert advice.recommendation == "rag"
    assert advice.measured is not None and advice.measured["override"] is False
    assert "agrees" in advice.reasons[-1]


def test_load_measured_takes_the_folder_or_the_file_and_names_bad_fields(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results({"rag": 0.3})), encoding="utf-8")
    assert load_measured(tmp_path) == load_measured(tmp_path / "results.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"primary_metric": "rougeL", "strategies": {"rag": {}}}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.json.*strategies\.rag\.metrics"):
        load_measured(bad)
    bad.write_text('{"primary_metric":\n  nope}', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.json: line 2"):
        load_measured(bad)
    with pytest.raises(DatasetError, match="not found"):
        load_measured(tmp_path / "missing")


# --- answers files -----------------------------------------------------------------------------------


def test_answers_file_values_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("external_data: true\ncorpus_tokens: 200B\nlabeled_examples: 2k\n", encoding="utf-8")
    values = load_answers(path)
    factors = DecisionFactors(**values)
    assert factors.corpus_tokens == 200_000_000_000 and factors.labeled_examples == 2_000


def test_answers_file_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("budget: low\nbugdet: high\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"answers\.yaml, line 2: unknown key 'bugdet'.*budget"):
        load_answers(path)


def test_answers_file_bad_value_names_the_key_and_the_allowed_values(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("external_data: true\ndata_change: hourly\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"line 2: data_change: 'hourly'.*never, yearly, monthly, weekly, daily"
    ):
        load_answers(path)
    path.write_text("labeled_examples: lots\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 1: labeled_examples.*whole number"):
        load_answers(path)
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_answers(path)


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "advice.json"
    result = runner.invoke(make_app(), ["advise", "--use-case", "qa", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Recommendation: rag" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["recommendation"] == "rag"
    assert set(data["scores"]) == set(APPROACHES)
    assert data["reasons"] and data["measured"] is None
    assert set(data["costs"]) == set(APPROACHES)
    assert data["factor_sources"]["budget"] == "use case qa"


def test_cli_answers_file_then_flags_override(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("style_change: strong\nlabeled_examples: 3000\n", encoding="utf-8")
    out = tmp_path / "advice.json"
    args = ["advise", "--use-case", "qa", "--answers", str(answers), "--no-citations-needed"]
    result = runner.invoke(make_app(), [*args, "--budget", "high", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["factors"]["style_change"] == "strong" and data["factors"]["budget"] == "high"
    assert data["factors"]["citations_needed"] is False
    assert data["factor_sources"]["style_change"] == f"answers {answers}"
    assert data["factor_sources"]["budget"] == "option"
    assert data["recommendation"] == "hybrid"  # external knowledge plus a strong style change


def test_cli_bad_flag_names_the_option() -> None:
    result = runner.invoke(make_app(), ["advise", "--use-case", "qa", "--budget", "huge"])
    assert isinstance(result.exception, ConfigError)
    assert "--budget" in str(result.exception) and "low, medium, high" in str(result.exception)
    result = runner.invoke(make_app(), ["advise", "--use-case", "faq"])
    assert isinstance(result.exception, ConfigError) and "customer-service" in str(result.exception)


def test_cli_with_a_measured_comparison(tmp_path: Path) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    measured = results({"rag": 0.30, "hybrid": 0.36}, paired={"hybrid vs rag": (0.06, 0.002)})
    (folder / "results.json").write_text(json.dumps(measured), encoding="utf-8")
    out = tmp_path / "advice.json"
    result = runner.invoke(
        make_app(), ["advise", "--use-case", "qa", "--dataset", str(folder), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["recommendation"] == "hybrid" and data["heuristic_recommendation"] == "rag"
    assert data["measured"]["override"] is True
    assert data["measured"]["source"] == str(folder / "results.json")
    assert "overridden by the measurement" in result.output


def test_cli_without_factors_off_a_terminal_says_what_to_pass() -> None:
    result = runner.invoke(make_app(), ["advise"])
    assert isinstance(result.exception, LlmpilotError)
    assert "--use-case" in str(result.exception) and "--answers" in str(result.exception)


def test_cli_asks_each_factor_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_advise, "_stdin_is_tty", lambda: True)
    # Flags are not asked again; the rest, in order: external_data, data_change, style_change,
    # labeled_examples (a bad answer first, asked again), hallucination_tolerance, citations_needed,
    # latency_budget_ms (default), budget, domain_shift, corpus_tokens.
    answers = ["y", "weekly", "none", "many", "300", "low", "y", "", "medium", "none", "5M"]
    out = tmp_path / "advice.json"
    result = runner.invoke(make_app(), ["advise", "--json", str(out)], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "labeled_examples" in result.output and "whole number" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["factors"]["external_data"] is True and data["factors"]["data_change"] == "weekly"
    assert data["factors"]["labeled_examples"] == 300 and data["factors"]["corpus_tokens"] == 5_000_000
    assert data["factors"]["latency_budget_ms"] is None
    assert set(data["factor_sources"].values()) == {"asked"}
    assert data["recommendation"] == "rag"


def test_the_command_has_one_option_per_factor() -> None:
    import inspect

    params = set(inspect.signature(advise_command).parameters)
    assert set(FACTOR_NAMES) <= params
