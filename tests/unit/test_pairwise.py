"""Pairwise win rate: both-order judging, the swap rule, missing verdicts, the arithmetic, the reply
parser (English and Korean), the resumable cache, question loading and model specs. Candidates and
judges here are fakes: the logic, not a model, is under test (tests/integration/test_pairwise.py runs
real ones)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmpilot.errors import ConfigError, DatasetError, ModelNotAvailableError
from llmpilot.evaluation.bootstrap import bootstrap_ci
from llmpilot.models.cli_pairwise import pairwise_command
from llmpilot.models.pairwise import (
    ANSWERS_FILE,
    JUDGEMENTS_FILE,
    Candidate,
    CandidateAnswer,
    PairQuestion,
    PairwiseResult,
    combine,
    compare,
    load_questions,
    plain_candidate,
    preferred_model,
)
from llmpilot.models.pairwise_judge import RETRY, judge_messages, parse_verdict
from llmpilot.models.pairwise_specs import ModelSpec, parse_spec, split_models
from llmpilot.project import Project

_SHOWN = re.compile(r"ANSWER 1:\n(.*?)\n\nANSWER 2:\n(.*?)\n\nWhich", re.DOTALL)


class FakeJudge:
    """Replies with `decide(question, first, second)`; counts calls."""

    model_id = "fake-judge"

    def __init__(self, decide: Callable[[str, str, str], str]) -> None:
        self.decide = decide
        self.calls: list[list[dict[str, str]]] = []

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        self.calls.append(list(messages))
        user = messages[1]["content"]
        match = _SHOWN.search(user)
        assert match, user
        question = user.split("\n", 2)[1]
        return self.decide(question, match.group(1), match.group(2))

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


def candidate(label: str, answers: dict[str, str], calls: list[str] | None = None) -> Candidate:
    def answer(question: str) -> CandidateAnswer:
        if calls is not None:
            calls.append(question)
        return CandidateAnswer(text=answers[question], sources=("warranty: 10 years",))

    return Candidate(label, {"fake": label}, answer)


QUESTIONS = [PairQuestion(f"q{i}", f"question {i}?") for i in range(6)]


def longer_is_better(_q: str, first: str, second: str) -> str:
    """An order-blind judge: the longer answer wins, equal length is a tie."""
    if len(first) == len(second):
        return "Better: tie"
    return "Better: 1" if len(first) > len(second) else "Better: 2"


def run(
    a: dict[str, str], b: dict[str, str], decide: Callable[[str, str, str], str], seed: int = 0
) -> tuple[PairwiseResult, FakeJudge]:
    judge = FakeJudge(decide)
    result = compare(QUESTIONS, candidate("A", a), candidate("B", b), judge, judge_label="J", seed=seed)
    return result, judge


LONG = {q.text: f"a long, detailed answer to {q.text}" for q in QUESTIONS}
SHORT = {q.text: "short" for q in QUESTIONS}


def test_an_order_blind_judge_gives_consistent_wins_and_no_position_bias() -> None:
    result, judge = run(LONG, SHORT, longer_is_better)
    s = result.summary()
    assert len(judge.calls) == 2 * len(QUESTIONS)  # every question judged in both orders
    assert all([j.order for j in r.judgements] == ["ab", "ba"] for r in result.records)
    assert (s["wins"], s["losses"], s["ties"], s["missing"], s["n"]) == (6, 0, 0, 0, 6)
    assert s["win_rate"] == 1.0 and s["ci"] == [1.0, 1.0]
    assert s["position_bias"] == 0.5 and s["consistent"] == 1.0
    # The same answers the other way round: model A loses everything.
    s2 = run(SHORT, LONG, longer_is_better)[0].summary()
    assert (s2["wins"], s2["losses"], s2["win_rate"]) == (0, 6, 0.0)


def test_a_verdict_that_flips_with_the_order_is_a_tie() -> None:
    result, _ = run(LONG, SHORT, lambda *_: "Better: 1")  # always the first-shown answer
    s = result.summary()
    assert (s["wins"], s["losses"], s["ties"], s["n"]) == (0, 0, 6, 6)
    assert s["win_rate"] == 0.5 and not s["significant"]
    assert s["position_bias"] == 1.0 and s["consistent"] == 0.0
    assert all("flips" in r.reason for r in result.records)


def test_the_swap_rule() -> None:
    assert combine("a", "a") == ("a", "both orders agree")
    assert combine("b", "b")[0] == "b"
    assert combine("tie", "tie")[0] == "tie"
    assert combine("a", "b")[0] == "tie"
    assert combine("a", "tie")[0] == "tie"  # a preference in one order only is not a win
    outcome, reason = combine(None, "a")
    assert outcome == "missing" and "ab" in reason
    assert preferred_model("ab", "1") == "a" and preferred_model("ba", "1") == "b"
    assert preferred_model("ba", "2") == "a" and preferred_model("ab", "tie") == "tie"
    assert preferred_model("ab", None) is None


def test_unreadable_verdicts_are_missing_with_the_reason_never_ties() -> None:
    result, judge = run(LONG, SHORT, lambda *_: "I cannot decide, they are both something.")
    s = result.summary()
    assert len(judge.calls) == 2 * 2 * len(QUESTIONS)  # each order asked once more
    assert judge.calls[1][-1] == {"role": "user", "content": RETRY}  # the retry restates the format
    assert (s["missing"], s["ties"], s["n"], s["win_rate"], s["ci"]) == (6, 0, 0, None, None)
    assert s["judgements"]["missing"] == 12
    record = result.records[0]
    assert record.outcome == "missing" and record.score is None
    assert all("unparseable judge reply after 2 attempts" in j.reason for j in record.judgements)


def test_the_retry_reads_the_second_reply() -> None:
    replies = iter(["hmm", "Better: 2"] * 100)
    result, _ = run(LONG, SHORT, lambda *_: next(replies))
    assert all(j.verdict == "2" and j.attempts == 2 for r in result.records for j in r.judgements)
    assert result.summary()["ties"] == 6  # "2" in both orders is a flip


def test_one_missing_order_makes_the_question_missing() -> None:
    def decide(question: str, first: str, second: str) -> str:
        if question == "question 0?" and first == "short":
            return "no idea"
        return longer_is_better(question, first, second)

    s = run(LONG, SHORT, decide)[0].summary()
    assert (s["wins"], s["missing"], s["n"]) == (5, 1, 5)
    assert s["judgements"] == {"first": 6, "second": 5, "tie": 0, "missing": 1, "identical_answers": 0}


def test_identical_answers_are_a_tie_without_asking_the_judge() -> None:
    result, judge = run(SHORT, SHORT, longer_is_better)
    assert judge.calls == []
    s = result.summary()
    assert (s["ties"], s["n"], s["win_rate"]) == (6, 6, 0.5)
    assert s["position_bias"] is None and s["judgements"]["identical_answers"] == 6


def test_win_rate_and_ci_arithmetic() -> None:
    # Questions 0-2: A wins; 3: B wins; 4: tie in both orders; 5: flips (tie).
    def decide(question: str, first: str, second: str) -> str:
        n = int(question.split()[1].rstrip("?"))
        a_first = first.startswith("a long")
        if n <= 2:
            return "Better: 1" if a_first else "Better: 2"
        if n == 3:
            return "Better: 2" if a_first else "Better: 1"
        if n == 4:
            return "Better: tie"
        return "Better: 1"

    result, _ = run(LONG, SHORT, decide, seed=3)
    s = result.summary()
    assert [r.score for r in result.records] == [1.0, 1.0, 1.0, 0.0, 0.5, 0.5]
    assert (s["wins"], s["losses"], s["ties"]) == (3, 1, 2)
    assert s["win_rate"] == pytest.approx((3 + 0.5 * 2) / 6)
    _, low, high = bootstrap_ci([1.0, 1.0, 1.0, 0.0, 0.5, 0.5], seed=3)
    assert s["ci"] == [low, high] and 0.0 <= low < s["win_rate"] < high <= 1.0
    # 12 verdicts: 3x(1,2) A-wins, 1x(2,1), 2 ties, 2 firsts -> first-shown picked 3+1+2 = 6 times.
    assert s["position_bias"] == pytest.approx(6 / 12)
    assert s["consistent"] == pytest.approx(5 / 6)


def test_answers_and_verdicts_are_cached_so_a_rerun_makes_nothing_again(tmp_path: Path) -> None:
    calls: list[str] = []
    a, b = candidate("A", LONG, calls), candidate("B", SHORT, calls)
    judge = FakeJudge(longer_is_better)
    first = compare(QUESTIONS, a, b, judge, judge_label="J", out=tmp_path)
    assert len(calls) == 12 and len(judge.calls) == 12
    rows = [json.loads(line) for line in (tmp_path / ANSWERS_FILE).read_text().splitlines()]
    assert {r["model"] for r in rows} == {"A", "B"} and len(rows) == 12
    second = compare(QUESTIONS, a, b, judge, judge_label="J", out=tmp_path)
    assert len(calls) == 12 and len(judge.calls) == 12  # nothing made again
    assert second.reused == {"answers": 12, "judgements": 12}
    assert second.summary()["win_rate"] == first.summary()["win_rate"]
    # An interrupted run: the last line cut short, and its answer is made again.
    text = (tmp_path / ANSWERS_FILE).read_text()
    (tmp_path / ANSWERS_FILE).write_text(text[: text.rstrip("\n").rfind("\n") + 20])
    third = compare(QUESTIONS, a, b, judge, judge_label="J", out=tmp_path)
    assert len(calls) == 13 and third.reused["answers"] == 11
    # Another judge does not reuse these verdicts.
    compare(QUESTIONS, a, b, FakeJudge(longer_is_better), judge_label="J2", out=tmp_path)
    assert len((tmp_path / JUDGEMENTS_FILE).read_text().splitlines()) == 24


def test_an_extractive_judge_is_refused() -> None:
    from llmpilot import factory

    extractive = factory.generator(parse_spec("extractive").config)
    with pytest.raises(ConfigError, match="cannot compare answers"):
        compare(QUESTIONS, candidate("A", LONG), candidate("B", SHORT), extractive, judge_label="x")


def test_the_judge_sees_the_question_the_sources_and_both_answers() -> None:
    messages = judge_messages("보증 기간은?", ["warranty: 10 years"], "십 년", "")
    user = messages[1]["content"]
    assert "보증 기간은?" in user and "[1] warranty: 10 years" in user
    assert "ANSWER 1:\n십 년" in user and "ANSWER 2:\n(empty)" in user and user.endswith('tie".')
    assert "SOURCES" not in judge_messages("q", [], "x", "y")[1]["content"]


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Better: 1", "1"),
        ("Better: 2", "2"),
        ("Better: tie", "tie"),
        ("better: Answer 2.", "2"),
        ("2", "2"),
        ("1.", "1"),
        ("**1**", "1"),
        ("Answer 2", "2"),
        ('{"better": "2"}', "2"),
        ('```json\n{"winner": "tie"}\n```', "tie"),
        ("Answer 1 is better than answer 2 because it cites the source.", "1"),
        ("The second answer is better.", "2"),
        ("Output (b) is clearly better", "2"),
        ("Both answers are equally good.", "tie"),
        ("답변 1이 더 좋습니다.", "1"),
        ("두 번째 답변이 더 정확합니다.", "2"),
        ("2번이 더 낫습니다", "2"),
        ("판정: 2", "2"),
        ("둘 다 비슷합니다.", "tie"),
        ("무승부", "tie"),
        # Conflicting or absent verdicts are not guessed.
        ("Answer 1 is better. No, answer 2 is better.", None),
        ("I think so.", None),
        ("", None),
        ("Better: 1.5", None),
        ("1. 반품 운송", None),  # a list the judge started (SmolLM2 did this), not a verdict
        ("2\nBecause it cites the source.", "2"),
        ("보증 기간 10년이 더 좋습니다", None),
    ],
)
def test_parse_verdict(reply: str, verdict: str | None) -> None:
    assert parse_verdict(reply) == verdict


def test_plain_candidate_asks_the_bare_question_with_the_configured_length() -> None:
    seen: list[tuple[list[dict[str, str]], int]] = []

    class Echo:
        model_id = "echo"

        def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
            seen.append((list(messages), max_tokens))
            return " an answer "

        def stream(
            self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
        ) -> Iterator[str]:
            yield from ()

    spec = parse_spec("smollm2-135m", parse_spec("extractive").config.model_copy(update={"max_tokens": 17}))
    got = plain_candidate(spec, Echo()).answer("What is it?")
    assert got.text == "an answer" and seen == [([{"role": "user", "content": "What is it?"}], 17)]


# --- questions --------------------------------------------------------------------------------------


def test_questions_from_jsonl_with_and_without_ids(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "w", "text": "보증 기간은?"}\n\n{"text": "E07?"}\n{"question": "third"}\n')
    got = load_questions(path, workdir=tmp_path)
    assert got == [
        PairQuestion("w", "보증 기간은?"),
        PairQuestion("line3", "E07?"),
        PairQuestion("line4", "third"),
    ]
    assert len(load_questions(path, workdir=tmp_path, limit=2)) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\n{"text": ""}\n', r"q\.jsonl:2: field 'text' is missing or empty"),
        ('{"text": "ok"}\nnot json\n', r"q\.jsonl:2: not valid JSON"),
        ('["a"]\n', r"q\.jsonl:1: expected a JSON object"),
        ('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', r"q\.jsonl:2: duplicate id '1'"),
        ("\n", r"q\.jsonl: no questions"),
    ],
)
def test_bad_question_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_questions(path, workdir=tmp_path)


def test_questions_from_a_dataset_folder_and_the_projects_eval_set(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "proj", generator="extractive")
    with pytest.raises(ConfigError, match=r"no eval set at .*eval; pass --questions"):
        load_questions(None, project=project, workdir=tmp_path)
    with pytest.raises(ConfigError, match="--questions"):
        load_questions(None, workdir=tmp_path)
    ds = project.root / "eval"
    ds.mkdir()
    (ds / "corpus.jsonl").write_text('{"id": "d1", "text": "ten years"}\n')
    (ds / "queries.jsonl").write_text('{"id": "q1", "text": "How long?"}\n{"id": "q2", "text": "Who?"}\n')
    (ds / "qrels.jsonl").write_text('{"query_id": "q1", "doc_id": "d1"}\n')
    got = load_questions(None, project=project, workdir=tmp_path)  # unjudged questions are kept
    assert [q.id for q in got] == ["q1", "q2"]
    project.close()


# --- model specs ------------------------------------------------------------------------------------


def test_model_specs(tmp_path: Path) -> None:
    base = parse_spec("extractive").config.model_copy(update={"max_tokens": 33, "temperature": 0.0})
    smol = parse_spec("smollm2-135m", base)
    assert (smol.config.name, smol.config.model, smol.config.max_tokens) == ("llama-cpp", "smollm2-135m", 33)
    remote = parse_spec("openai:qwen@http://localhost:9/v1", base)
    assert (remote.config.name, remote.config.model, remote.config.base_url) == (
        "openai",
        "qwen",
        "http://localhost:9/v1",
    )
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert parse_spec(str(gguf)).config.model_path == str(gguf.resolve())
    (tmp_path / "judge.yaml").write_text(
        "generator:\n  name: llama-cpp\n  model_path: m.gguf\n  max_tokens: 9\n"
    )
    from_yaml = parse_spec(str(tmp_path / "judge.yaml"))
    assert from_yaml.config.model_path == str(gguf) and from_yaml.config.max_tokens == 9
    assert from_yaml.label == str(tmp_path / "judge.yaml")


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("gpt-17", ConfigError, "not a model spec; use a catalog model"),
        ("openai:qwen", ConfigError, "openai:MODEL@URL"),
        ("/nowhere/m.gguf", ModelNotAvailableError, "no such GGUF file"),
        ("/nowhere/j.yaml", ConfigError, "file not found"),
    ],
)
def test_bad_model_specs(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_spec(spec)


def test_a_yaml_spec_needs_a_generator_section(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("retrieval: {top_k: 3}\n")
    with pytest.raises(ConfigError, match="no `generator:` section"):
        parse_spec(str(tmp_path / "x.yaml"))


def test_split_models() -> None:
    assert split_models(" smollm2-135m , extractive ") == ("smollm2-135m", "extractive")
    for bad in ("smollm2-135m", "a,b,c", "a,", "x,x"):
        with pytest.raises(ConfigError, match="--models"):
            split_models(bad)


def test_cli_without_a_project_needs_a_judge(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(pairwise_command)
    q = tmp_path / "q.jsonl"
    q.write_text('{"text": "hi"}\n')
    args = ["--models", "extractive,smollm2-135m", "--questions", str(q), "--json", str(tmp_path / "o.json")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, ConfigError) and "--judge is needed" in str(result.exception)


def test_model_spec_label_is_what_the_user_wrote() -> None:
    assert parse_spec(" extractive ").label == "extractive"
    assert isinstance(parse_spec("extractive"), ModelSpec)


class EchoGenerator:
    """Repeats the question (registered for the CLI test below)."""

    model_id = "test-pairwise-echo"

    def __init__(self, cfg: object) -> None:
        pass

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        return f"You asked: {messages[-1]['content']}"

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


class LongerJudge(FakeJudge):
    def __init__(self, cfg: object) -> None:
        super().__init__(longer_is_better)


@pytest.fixture
def registered() -> Iterator[None]:
    from llmpilot import registry

    registry.generators.register("test-pairwise-echo")(EchoGenerator)
    registry.generators.register("test-pairwise-judge")(LongerJudge)
    yield
    registry.generators._factories.pop("test-pairwise-echo")
    registry.generators._factories.pop("test-pairwise-judge")


def test_cli_end_to_end_without_a_project(tmp_path: Path, registered: None) -> None:
    app = typer.Typer()
    app.command()(pairwise_command)
    q = tmp_path / "q.jsonl"
    q.write_text('{"id": "w", "text": "보증 기간은?"}\n{"id": "e", "text": "E07?"}\n{"text": "third"}\n')
    args = [
        "--models",
        "test-pairwise-echo,extractive",
        "--judge",
        "test-pairwise-judge",
        "--questions",
        str(q),
    ]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, [*args, "--limit", "2", "--json", str(tmp_path / "o.json"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "o.json").read_text())
    # The extractive answerer has no sources without a project: an empty answer, which loses.
    assert (data["n"], data["wins"], data["win_rate"], data["position_bias"]) == (2, 2, 1.0, 0.5)
    assert [r["question_id"] for r in data["records"]] == ["w", "e"]
    assert data["records"][0]["answer_a"]["text"] == "You asked: 보증 기간은?"
    assert "win rate of test-pairwise-echo: 1.000 [95% CI 1.000, 1.000]" in result.output
    assert (out / ANSWERS_FILE).is_file() and (out / JUDGEMENTS_FILE).is_file()
