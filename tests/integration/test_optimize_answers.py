"""Generator and prompt dimensions in the optimizer: trials generate answers from their own retrieved
sources and are scored against reference answers. Logic with deterministic test generators; one run
with the real SmolLM2 through the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmpilot import registry
from llmpilot.cli import app
from llmpilot.config import GeneratorConfig
from llmpilot.errors import ConfigError, DatasetError
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.optimization.evaluate import Evaluator
from llmpilot.optimization.results import StudyResult
from llmpilot.optimization.run import optimize, with_answer_metrics
from llmpilot.optimization.search import Search, SearchSettings
from llmpilot.optimization.space import SearchSpace

DOCS = {
    "d-warranty": ("Warranty", "The battery warranty lasts ten years. Claims go through the app."),
    "d-install": ("Installation", "Installation takes one day. A certified electrician mounts the unit."),
    "d-return": ("Returns", "Returns are accepted within thirty days. The box must be unopened."),
    "d-ko-charge": ("충전", "완전 충전에는 세 시간이 걸립니다. 급속 충전은 지원하지 않습니다."),
    "d-ko-noise": ("소음", "작동 소음은 사십 데시벨 이하입니다. 야간 모드가 있습니다."),
}
QUERIES = [
    ("q1", "How long does the battery warranty last?", "d-warranty", "The battery warranty lasts ten years."),
    ("q2", "How long does installation take?", "d-install", "Installation takes one day."),
    ("q3", "Until when are returns accepted?", "d-return", "Returns are accepted within thirty days."),
    ("q4", "완전 충전에는 얼마나 걸리나요?", "d-ko-charge", "완전 충전에는 세 시간이 걸립니다."),
    ("q5", "작동 소음은 얼마인가요?", "d-ko-noise", "작동 소음은 사십 데시벨 이하입니다."),
]


class _TestGenerator:
    calls = 0

    def __init__(self, cfg: GeneratorConfig) -> None:
        self.model_id = f"test:{cfg.name}"

    def reply(self, messages: Sequence[dict[str, str]]) -> str:
        raise NotImplementedError

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        type(self).calls += 1
        return self.reply(messages)

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


@registry.generators.register("test-first-sentence")
class FirstSentenceOfFirstSource(_TestGenerator):
    """Answers with the first sentence of source [1]: good whenever retrieval ranks the right doc first."""

    def reply(self, messages: Sequence[dict[str, str]]) -> str:
        user = messages[-1]["content"]
        # The line after the "[1] title" header, inside the <source> fence when the prompt has one.
        lines = [ln for ln in user.split("[1]", 1)[1].split("\n")[1:] if ln.strip() != "<source>"]
        return re.split(r"(?<=[.다])\s", lines[0], maxsplit=1)[0]


@registry.generators.register("test-constant")
class ConstantAnswer(_TestGenerator):
    def reply(self, messages: Sequence[dict[str, str]]) -> str:
        return "I am not sure."


@registry.generators.register("test-strict-only")
class QuotesOnlyWhenTold(FirstSentenceOfFirstSource):
    """Unsure under the project's prompt; quotes source [1] under the strict retry prompt."""

    def reply(self, messages: Sequence[dict[str, str]]) -> str:
        if "word for word" in messages[0]["content"]:
            return super().reply(messages)
        return "I am not sure."


def write_qa_dataset(folder: Path, *, with_answers: bool = True) -> Path:
    folder.mkdir(parents=True)
    corpus = [{"id": d, "title": t, "text": x} for d, (t, x) in DOCS.items()]
    queries = [
        {"id": q, "text": text, **({"answers": [answer]} if with_answers else {})}
        for q, text, _doc, answer in QUERIES
    ]
    qrels = [{"query_id": q, "doc_id": doc, "score": 1} for q, _text, doc, _answer in QUERIES]
    for name, rows in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    return folder


BASE = {
    "transforms": {"pii": [], "dedup_exact": False, "dedup_near": False},
    "chunking": {"size": 400, "overlap": 0},
    "embedder": {"name": "hashing"},
    "retrieval": {"mode": "keyword", "top_k": 2},
    # Tiny BM25 scores sit under the served abstain threshold, and the extractive fallback would
    # replace a weak generator's answers (as would its strict retry): these tests compare the
    # generators themselves.
    "answer": {"abstain_below": 0.0, "fallback": "abstain", "retry": False},
}


def space(**varied: object) -> SearchSpace:
    raw = json.loads(json.dumps(BASE))
    for dotted, values in varied.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = values
    return SearchSpace.from_dict(raw)


def test_optimizer_picks_the_generator_whose_answers_match_the_references(tmp_path: Path) -> None:
    data = write_qa_dataset(tmp_path / "qa")
    space_file = tmp_path / "space.yaml"
    import yaml

    space_file.write_text(
        yaml.safe_dump({**BASE, "generator": {"name": ["test-constant", "test-first-sentence"]}}),
        encoding="utf-8",
    )
    out = optimize(
        data,
        space_file,
        tmp_path / "out",
        SearchSettings(strategy="grid", primary_metric="rougeL"),
        workdir=tmp_path / "work",
    )
    assert out.selection.best.config.generator.name == "test-first-sentence"
    assert out.selection.best.mean("rougeL") > 0.9
    loser = next(t for t in out.results.trials if t.config.generator.name == "test-constant")
    assert loser.metrics["rougeL"].mean < 0.2
    # Default answer metrics were added because the space varies the generator; retrieval metrics stay.
    metrics = set(out.results.trials[0].metrics)
    assert {"rougeL", "chrf", "bertscore_f1", "ndcg@10"} <= metrics
    best = out.results.best_trial()
    assert best.answers["q1"] == "The battery warranty lasts ten years."
    assert best.generation_ms_p50 is not None
    assert out.results.compute.answers_generated == 2 * len(QUERIES)
    # results.json is the model's JSON: it reads back into the same study.
    assert StudyResult.load(out.results_json) == out.results
    html = out.report_html.read_text(encoding="utf-8")
    assert "generator.name" in html and "reference" in html


def test_answers_are_reused_when_trials_give_the_generator_identical_prompts(tmp_path: Path) -> None:
    data = write_qa_dataset(tmp_path / "qa")
    # BM25 parameters that leave the top-2 sources unchanged: same messages, so no second generation.
    sp = space(index__keyword__k1=[1.2, 1.5], generator__name=["test-first-sentence"])
    evaluator = Evaluator(load_dataset(data), data, tmp_path / "work", answer_metrics=("rougeL",))
    FirstSentenceOfFirstSource.calls = 0
    results = Search(sp, evaluator, SearchSettings(strategy="grid", primary_metric="rougeL")).run()
    assert len(results) == 2
    assert FirstSentenceOfFirstSource.calls == len(QUERIES)
    assert evaluator.meter.answers_generated == len(QUERIES)
    assert results[0].answers == results[1].answers


def test_trial_answers_go_through_the_answer_policy(tmp_path: Path) -> None:
    """A trial scores what a user would read: with the served abstain threshold, weak retrieval
    support abstains (the notice is scored, the generator is never called), exactly as `ask` would."""
    data = write_qa_dataset(tmp_path / "qa")
    sp = space(answer__abstain_below=[0.99], generator__name=["test-first-sentence"])
    evaluator = Evaluator(load_dataset(data), data, tmp_path / "work", answer_metrics=("rougeL",))
    FirstSentenceOfFirstSource.calls = 0
    (result,) = Search(sp, evaluator, SearchSettings(strategy="grid", primary_metric="rougeL")).run()
    assert FirstSentenceOfFirstSource.calls == 0
    from llmpilot.answering import MESSAGES

    assert result.answers and set(result.answers.values()) <= set(MESSAGES["abstain"].values())
    assert result.mean("rougeL") < 0.2


def test_prompt_template_is_a_search_dimension(tmp_path: Path) -> None:
    sp = space(prompt__template=["default", "extractive"])
    settings = with_answer_metrics(SearchSettings(strategy="grid"), sp)
    assert settings.answer_metrics == ("rougeL", "chrf", "bertscore_f1")
    assert {c.params["prompt.template"] for c in sp.candidates()} == {"default", "extractive"}


def test_answer_metrics_need_reference_answers(tmp_path: Path) -> None:
    data = write_qa_dataset(tmp_path / "qa", with_answers=False)
    with pytest.raises(DatasetError, match="reference answers"):
        Evaluator(load_dataset(data), data, tmp_path / "work", answer_metrics=("rougeL",))


def test_unknown_metrics_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rouge-x"):
        with_answer_metrics(SearchSettings(answer_metrics=("rouge-x",)), space())
    with pytest.raises(ConfigError, match="unknown primary metric 'f1'"):
        with_answer_metrics(SearchSettings(primary_metric="f1"), space())


def test_max_queries_evaluates_a_fixed_sample(tmp_path: Path) -> None:
    data = write_qa_dataset(tmp_path / "qa")
    evaluator = Evaluator(load_dataset(data), data, tmp_path / "work")
    results = Search(space(), evaluator, SearchSettings(strategy="grid", max_queries=3)).run()
    assert [r.n_queries for r in results] == [3]
    assert results[0].complete


@pytest.mark.slow
def test_eval_cli_scores_real_smollm2_answers(tmp_path: Path) -> None:
    data = write_qa_dataset(tmp_path / "qa")
    config = tmp_path / "config.yaml"
    import yaml

    config.write_text(
        yaml.safe_dump({**BASE, "generator": {"max_tokens": 24, "n_ctx": 1024}}), encoding="utf-8"
    )
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--dataset",
            str(data),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "out"),
            "--workdir",
            str(tmp_path / "work"),
            "--answer-metrics",
            "rougeL,chrf",
            "--max-queries",
            "2",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rougeL" in result.output and "chrf" in result.output
    trial = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["trials"][0]
    assert len(trial["answers"]) == 2 and all(a.strip() for a in trial["answers"].values())
    for name in ("rougeL", "chrf"):
        assert 0.0 <= trial["metrics"][name]["mean"] <= 1.0


def test_trial_answers_get_the_strict_retry_like_served_answers(tmp_path: Path) -> None:
    """`answer.retry`: a weak first answer is generated once more with the strict prompt, and the
    trial scores the retried answer, as `ask` and the server would show it."""
    data = write_qa_dataset(tmp_path / "qa")
    evaluator = Evaluator(load_dataset(data), data, tmp_path / "work", answer_metrics=("rougeL",))
    QuotesOnlyWhenTold.calls = 0
    sp = space(answer__retry=[True, False], generator__name=["test-strict-only"])
    results = Search(sp, evaluator, SearchSettings(strategy="grid", primary_metric="rougeL")).run()
    by_retry = {r.config.answer.retry: r for r in results}
    assert by_retry[True].mean("rougeL") > 0.9
    assert by_retry[False].mean("rougeL") < 0.2
    # The unsure answers are memoized across the two trials; the strict prompt ran once a query.
    assert QuotesOnlyWhenTold.calls == 2 * len(QUERIES)
