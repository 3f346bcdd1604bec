"""Prompt formats of the multiple-choice benchmarks: hand-written prompts, the harness's own templates,
and few-shot selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmpilot.errors import ConfigError
from llmpilot.models.prompts import choice_labels, fewshot_for, requests_for
from llmpilot.models.types import MCItem

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
MMLU = SHARED / "mmlu-en" / "questions.jsonl"
KOBEST = SHARED / "kobest-hellaswag-ko" / "questions.jsonl"


def item(
    id: str = "q1",
    subject: str = "high_school_geography",
    question: str = "  Which is the largest ocean?\n",
    choices: tuple[str, ...] = ("Atlantic", "Pacific", "Indian", "Arctic"),
    answer: int = 1,
    lang: str = "en",
) -> MCItem:
    return MCItem(id=id, subject=subject, question=question, choices=choices, answer=answer, lang=lang)


def load(path: Path) -> list[MCItem]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [MCItem(**{**row, "choices": tuple(row["choices"])}) for row in rows]


def test_letters_zero_shot_by_hand() -> None:
    context, continuations = requests_for(item(), "letters", [])
    assert context == (
        "The following are multiple choice questions (with answers) about high school geography.\n\n"
        "Which is the largest ocean?\nA. Atlantic\nB. Pacific\nC. Indian\nD. Arctic\nAnswer:"
    )
    assert continuations == [" A", " B", " C", " D"]


def test_letters_with_shots_by_hand() -> None:
    shot1 = item(id="s1", question="2+2?", choices=("3", "4", "5"), answer=1)
    shot2 = item(id="s2", question="Capital of France?", choices=("Paris", "Rome"), answer=0)
    target = item(choices=("a", "b", "c", "d", "e"), answer=4)
    context, continuations = requests_for(target, "letters", [shot1, shot2])
    assert context == (
        "The following are multiple choice questions (with answers) about high school geography.\n\n"
        "2+2?\nA. 3\nB. 4\nC. 5\nAnswer: B\n\n"
        "Capital of France?\nA. Paris\nB. Rome\nAnswer: A\n\n"
        "Which is the largest ocean?\nA. a\nB. b\nC. c\nD. d\nE. e\nAnswer:"
    )
    assert continuations == [" A", " B", " C", " D", " E"]


def test_continuation_kobest_by_hand() -> None:
    ko = item(
        subject="kobest_hellaswag",
        question="남자가 문을 연다.",
        choices=("밖으로 나간다.", "잠을 잔다."),
        lang="ko",
    )
    shot = item(
        id="s",
        subject="kobest_hellaswag",
        question="비가 온다.",
        choices=("우산을 편다.", "웃는다."),
        answer=0,
    )
    context, continuations = requests_for(ko, "continuation", [shot])
    assert context == "문장: 비가 온다. 우산을 편다.\n\n문장: 남자가 문을 연다."
    assert continuations == [" 밖으로 나간다.", " 잠을 잔다."]


def test_continuation_other_subject_has_no_prefix() -> None:
    en = item(subject="story", question="She opened the door", choices=("and left.", "and slept."))
    assert requests_for(en, "continuation", []) == ("She opened the door", [" and left.", " and slept."])


def test_letters_match_the_harness_mmlu_template() -> None:
    """The installed harness's MMLU template, rendered with its own Jinja environment, gives our text."""
    pytest.importorskip("lm_eval")
    import lm_eval
    from lm_eval.utils import apply_template

    template = yaml.safe_load(
        (Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default" / "_default_template_yaml").read_text()
    )
    for mc in load(MMLU)[:40]:
        doc = {"question": mc.question, "choices": list(mc.choices), "answer": mc.answer}
        context, continuations = requests_for(mc, "letters", [])
        subject = mc.subject.replace("_", " ")
        description = f"The following are multiple choice questions (with answers) about {subject}.\n\n"
        assert context == description + apply_template(template["doc_to_text"], doc)
        assert continuations == [" " + choice for choice in template["doc_to_choice"]]


@pytest.mark.parametrize(("path", "fmt"), [(MMLU, "letters"), (KOBEST, "continuation")])
def test_every_item_matches_the_harness_task(path: Path, fmt: str) -> None:
    """The harness builds the same context and continuations (with one shot) for every shared item from
    `llmpilot.models.harness.task_config`, whose templates are written independently of prompts.py."""
    pytest.importorskip("lm_eval")
    from lm_eval.api.task import ConfigurableTask

    from llmpilot.models.harness import task_config

    task = ConfigurableTask(config=task_config(path, fmt))  # type: ignore[arg-type]
    items = load(path)
    docs = list(task.test_docs())
    assert len(docs) == len(items)
    for index in (0, 1, 7, len(items) - 1):
        mc, doc = items[index], docs[index]
        context = task.fewshot_context(doc, 1)
        requests = task.construct_requests(doc, context, metadata=("t", index, 1))
        harness_pairs = [request.args for request in requests]
        # The harness's first_n sampler: the file's first item other than this one (fewshot_for prefers
        # the same subject, so on a multi-subject file the two pick different shots; the text must agree).
        shots = [other for other in items if other.id != mc.id][:1]
        ours_context, ours_continuations = requests_for(mc, fmt, shots)  # type: ignore[arg-type]
        assert harness_pairs == [(ours_context, continuation) for continuation in ours_continuations]


def test_fewshot_same_subject_first_never_the_item() -> None:
    pool = [
        item(id="a1", subject="a"),
        item(id="b1", subject="b"),
        item(id="a2", subject="a"),
        item(id="b2", subject="b"),
        item(id="a3", subject="a"),
    ]
    assert [s.id for s in fewshot_for(pool[2], pool, 3)] == ["a1", "a3", "b1"]
    assert [s.id for s in fewshot_for(pool[0], pool, 10)] == ["a2", "a3", "b1", "b2"]
    assert fewshot_for(pool[0], pool, 0) == []
    # deterministic: the same call, the same shots
    assert fewshot_for(pool[1], pool, 2) == fewshot_for(pool[1], pool, 2)


def test_choice_labels_and_errors() -> None:
    assert choice_labels(item(choices=("x", "y")), "letters") == ["A", "B"]
    assert choice_labels(item(choices=("x", "y")), "continuation") == ["x", "y"]
    with pytest.raises(ConfigError, match="27 choices"):
        requests_for(item(choices=tuple(str(i) for i in range(27))), "letters", [])
    with pytest.raises(ConfigError, match="no choices"):
        requests_for(item(choices=()), "letters", [])
    with pytest.raises(ConfigError, match="unknown prompt format"):
        requests_for(item(), "cloze", [])  # type: ignore[arg-type]
