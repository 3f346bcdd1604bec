from pathlib import Path

import pytest

from llmpilot.errors import ConfigError
from llmpilot.generation.prompting import (
    PromptTemplate,
    build_citations,
    cited_numbers,
    fit_context,
    format_context,
    load_template,
)
from llmpilot.types import Chunk, Hit


def hit(i: int, text: str, title: str = "") -> Hit:
    return Hit(chunk=Chunk(f"d{i}#0", f"d{i}", text, 0, len(text), 0), score=1.0 / i, rank=i, title=title)


def test_cited_numbers_forms_and_range() -> None:
    assert cited_numbers("보증은 10년입니다 [2]. Also [1, 3] and [3][1] and [9].", 3) == [2, 1, 3]
    assert cited_numbers("no citations", 3) == []


def test_build_citations_points_at_the_cited_chunks() -> None:
    hits = [hit(1, "first text"), hit(2, "배터리 보증은 10년입니다.", "보증")]
    cites = build_citations("10년입니다 [2]", hits)
    assert len(cites) == 1
    c = cites[0]
    assert (c.n, c.doc_id, c.title, c.start, c.end) == (2, "d2", "보증", 0, len("배터리 보증은 10년입니다."))


def test_builtin_template_and_braces_in_documents() -> None:
    template = load_template("default", Path("."))
    context, _used = format_context([hit(1, "a {weird} {question} text")], 1000)
    messages = template.messages("What?", context)
    assert messages[0]["role"] == "system"
    assert "{weird}" in messages[-1]["content"] and messages[-1]["content"].rstrip().endswith("What?")


def test_template_file_must_have_placeholders(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("system\n---\nonly {question}", encoding="utf-8")
    with pytest.raises(ConfigError, match="context"):
        load_template("t.txt", tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_template("missing.txt", tmp_path)
    (tmp_path / "ok.txt").write_text("{context}\nQ: {question}", encoding="utf-8")
    assert load_template("ok.txt", tmp_path).system == ""


def test_context_is_trimmed_to_the_token_budget() -> None:
    template = PromptTemplate.parse("t", "sys\n---\n{context}\n{question}")
    hits = [hit(i, "단어 " * 200) for i in range(1, 6)]
    count = lambda text: len(text.split())  # noqa: E731  (a word-count tokenizer for the test)
    messages, used = fit_context(template, "q", hits, 100_000, budget_tokens=450, count_tokens=count)
    assert 1 <= len(used) < 5
    assert count("\n".join(m["content"] for m in messages)) <= 450
    _all_messages, all_used = fit_context(template, "q", hits, 100_000, budget_tokens=None, count_tokens=None)
    assert len(all_used) == 5
