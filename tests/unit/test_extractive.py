"""The extractive answerer (llmpilot.generation.extractive) on the real sample corpus: the files are
loaded by the real loaders (HTML tables become "a | b" lines, CSV rows "question: …\\nanswer: …"),
and each test hands it real `Hit`s in a chosen rank order."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from llmpilot import factory
from llmpilot.config import GeneratorConfig
from llmpilot.generation.extractive import NO_ANSWER, ExtractiveAnswerer, parse_prompt, split_units
from llmpilot.generation.prompting import format_context, load_template
from llmpilot.protocols import Generator, SourceAnswerer
from llmpilot.sources.files import load_file
from llmpilot.types import Chunk, Hit


def _load(name: str) -> dict[str, tuple[str, str]]:
    """doc id -> (text, title) for one sample_corpus file, read by the real loader."""
    with resources.as_file(resources.files("llmpilot") / "sample_corpus" / name) as path:
        result = load_file(Path(path), name)
    return {doc.id: (doc.text, doc.title) for doc in result.documents}


@pytest.fixture(scope="module")
def docs() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for name in ("warranty.md", "support.txt", "safety.html", "specs_ko.html", "faq.csv", "returns_ko.txt"):
        out.update(_load(name))
    return out


def hits(docs: dict[str, tuple[str, str]], *doc_ids: str) -> list[Hit]:
    """Whole documents as single-chunk hits, ranked in the order given."""
    out = []
    for rank, doc_id in enumerate(doc_ids, start=1):
        text, title = docs[doc_id]
        chunk = Chunk(id=f"{doc_id}:0", doc_id=doc_id, text=text, start=0, end=len(text), index=0)
        out.append(Hit(chunk=chunk, score=1.0 / rank, rank=rank, scores={"keyword": 1.0 / rank}, title=title))
    return out


@pytest.fixture(scope="module")
def answerer() -> ExtractiveAnswerer:
    return ExtractiveAnswerer()


def test_english_prose_quotes_the_warranty_term_without_markdown(
    answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]]
) -> None:
    answer = answerer.answer_sources(
        "How long is the battery warranty?", hits(docs, "warranty.md", "support.txt")
    )
    assert "10 years from the installation date" in answer
    assert answer.endswith("[1].")
    assert "**" not in answer and "#" not in answer  # the source has "**10 years … first**"


def test_korean_question_picks_the_korean_unit_with_10_years(
    answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]]
) -> None:
    # The English warranty page ranks first, but only the Korean FAQ row shares the question's terms.
    answer = answerer.answer_sources(
        "배터리 보증 기간은 몇 년인가요?", hits(docs, "warranty.md", "faq.csv#faq-09")
    )
    assert "10년" in answer
    assert answer.startswith("배터리 모듈은 설치일로부터 10년")
    assert "[2]" in answer and "[1]" not in answer


def test_support_hours_on_saturday(answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]]) -> None:
    answer = answerer.answer_sources(
        "When is phone support open on Saturday?", hits(docs, "support.txt", "warranty.md")
    )
    assert "on Saturday from 10:00 to 14:00" in answer
    assert "[1]" in answer and "Live chat" not in answer


@pytest.mark.parametrize("max_sentences", [1, 3])
def test_error_code_question_picks_that_code_not_its_neighbour(
    answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]], max_sentences: int
) -> None:
    # One chunk lists E03, E07, E12 and E21 in a table, and support.txt mentions E12 too.
    answer = answerer.answer_sources(
        "What does error code E07 mean?",
        hits(docs, "safety.html", "support.txt"),
        max_sentences=max_sentences,
    )
    assert answer.startswith("E07 | Overheating: internal temperature above 60 °C")
    assert "E12" not in answer and "E03" not in answer


def test_table_row_from_the_specs_page(
    answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]]
) -> None:
    answer = answerer.answer_sources("솔박스 10의 무게는 얼마인가요?", hits(docs, "specs_ko.html"))
    assert answer == "무게 | 98 kg [1]"


def test_table_header_row_is_context_not_an_answer(docs: dict[str, tuple[str, str]]) -> None:
    units = split_units(docs["specs_ko.html"][0], 1)
    row = next(u for u in units if u.text.startswith("무게"))
    assert (row.kind, row.context) == ("row", "주요 사양 항목 | 값")
    assert next(u for u in units if u.text == "항목 | 값").kind == "header"


def test_faq_row_quotes_the_answer_without_its_labels(
    answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]]
) -> None:
    answer = answerer.answer_sources(
        "Can I install the SolBox 10 myself?", hits(docs, "faq.csv#faq-01", "warranty.md")
    )
    assert answer.startswith("No. Only Haneul Energy certified installers may install it")
    assert "question:" not in answer.lower() and "answer:" not in answer.lower()
    assert answer.endswith("[1].")


@pytest.mark.parametrize("question", ["What is the capital of France?", "프랑스의 수도는 어디인가요?"])
def test_off_topic_question_gets_no_answer(
    answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]], question: str
) -> None:
    assert answerer.answer_sources(question, hits(docs, "warranty.md", "returns_ko.txt")) == ""


def test_max_sentences_adds_only_close_units_with_new_terms(
    answerer: ExtractiveAnswerer, docs: dict[str, tuple[str, str]]
) -> None:
    # A two-part question: the best unit answers "how long is the wait", a second one "before
    # contacting"; the opening-hours sentence (it says "phone" too) brings no new term.
    question = "What should I prepare before contacting support, and how long is the phone wait?"
    source = hits(docs, "support.txt")
    one = answerer.answer_sources(question, source, max_sentences=1)
    assert one == "Average waiting time on the phone in 2024 was 4 minutes [1]."
    three = answerer.answer_sources(question, source, max_sentences=3)
    assert three == "Before you contact us, have ready: [1] " + one
    claim = "How is a warranty claim handled and what do replaced modules carry?"
    # The runner-up ("If the claim is approved, a replacement module …") adds no term: left out.
    assert answerer.answer_sources(claim, hits(docs, "warranty.md"), max_sentences=3).count("[1]") == 1


def _prompt(
    docs: dict[str, tuple[str, str]], template: str, question: str, *ids: str
) -> list[dict[str, str]]:
    context, used = format_context(hits(docs, *ids), 3000)
    assert len(used) == len(ids)
    return load_template(template, Path(".")).messages(question, context)


@pytest.mark.parametrize("template", ["default", "extractive"])
def test_generator_reads_the_prompt_llmpilot_builds(docs: dict[str, tuple[str, str]], template: str) -> None:
    generator = factory.generator(GeneratorConfig(name="extractive"))
    assert isinstance(generator, Generator) and isinstance(generator, SourceAnswerer)
    question = "When is phone support open on Saturday?"
    messages = _prompt(docs, template, question, "warranty.md", "support.txt")
    parsed_question, sources = parse_prompt(messages)
    assert parsed_question == question
    assert sources[1] == (docs["warranty.md"][1], docs["warranty.md"][0])
    assert sources[2][1] == docs["support.txt"][0]

    text = generator.generate(messages, max_tokens=256, temperature=0.2)
    expected = ExtractiveAnswerer().answer_sources(question, hits(docs, "warranty.md", "support.txt"))
    assert text == expected and "10:00 to 14:00 (Korea Standard Time) [2]." in text
    pieces = list(generator.stream(messages, max_tokens=256, temperature=0.2))
    assert len(pieces) > 1 and "".join(pieces) == text


def test_generator_answers_korean_prompts_and_cuts_at_max_tokens(docs: dict[str, tuple[str, str]]) -> None:
    generator = ExtractiveAnswerer()
    messages = _prompt(docs, "default", "단순 변심으로 반품하면 운송비는 얼마인가요?", "returns_ko.txt")
    full = generator.generate(messages, max_tokens=256, temperature=0.0)
    assert full == "단순 변심으로 반품하는 경우 왕복 운송비 15만 원을 고객이 부담합니다 [1]."
    assert generator.generate(messages, max_tokens=3, temperature=0.0) == "단순 변심으로 반품하는"


@pytest.mark.parametrize(
    ("content", "lang"), [("What is the capital of France?", "en"), ("프랑스의 수도는 어디인가요?", "ko")]
)
def test_generator_says_so_when_nothing_answers(content: str, lang: str) -> None:
    messages = [{"role": "user", "content": content}]
    assert ExtractiveAnswerer().generate(messages, max_tokens=64, temperature=0.0) == NO_ANSWER[lang]
