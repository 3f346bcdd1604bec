"""The answer policy (llmpilot.answering) with fakes: abstention before generation, citation checks
against the stored text, post-hoc attribution, follow-ups, question language."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from llmpilot.answering import (
    MESSAGES,
    Responder,
    cited_markers,
    question_language,
    source_is_verifiable,
    strip_markers,
    suggest_followups,
    verify_citations,
)
from llmpilot.config import AnswerConfig, PipelineConfig
from llmpilot.generation.prompting import PromptTemplate
from llmpilot.pipeline import AnswerStream, Sampling
from llmpilot.types import Chunk, Hit

DOCS = {
    "warranty.md": "# Warranty\n\n## What is covered\n\nThe battery is covered for 10 years or 6,000 cycles.",
    "support.txt": "Support\n\nPhone support is open on Saturday from 10:00 to 14:00.",
    "faq.csv#1": "question: Can I install it myself?\nanswer: No, only certified installers may.",
    "returns_ko.txt": "반품 정책\n\n단순 변심으로 반품하면 왕복 운송비 15만 원을 고객이 부담합니다.",
}


def hit(doc_id: str, rank: int, dense: float = 0.9, title: str = "", start: int = 0) -> Hit:
    text = DOCS[doc_id][start:]
    chunk = Chunk(id=f"{doc_id}:0", doc_id=doc_id, text=text, start=start, end=start + len(text), index=0)
    return Hit(chunk=chunk, score=1.0 / rank, rank=rank, scores={"dense": dense}, title=title)


def words(texts: Sequence[str]) -> list[list[str]]:
    return [[w.strip(".,:?").lower() for w in t.split() if w.strip(".,:?")] for t in texts]


SOURCES = [
    hit("support.txt", 1, title="support"),
    hit("warranty.md", 2, title="SolBox Warranty"),
    hit("faq.csv#1", 3),
]


def test_markers_include_out_of_range_numbers_in_order() -> None:
    assert cited_markers("a [2] b [1, 7] c [2][3]") == [2, 1, 7, 3]


def test_strip_markers_removes_only_the_dropped_numbers() -> None:
    assert strip_markers("Open at 10 [1, 7]. Closed [7].", {7}) == "Open at 10 [1]. Closed."


def test_valid_markers_are_kept_and_invalid_ones_dropped_and_counted() -> None:
    text, citations, invalid = verify_citations(
        "Saturday 10:00 to 14:00 [1][5]. Ten years [2].", SOURCES, DOCS
    )
    assert [c.n for c in citations] == [1, 2]
    assert invalid == 1 and "[5]" not in text and "[1]" in text
    assert not any(c.attributed for c in citations)
    assert citations[0].doc_id == "support.txt" and citations[0].end == len(DOCS["support.txt"])


def test_a_citation_whose_chunk_is_not_in_the_stored_document_is_invalid() -> None:
    changed = dict(DOCS, **{"support.txt": "Support was rewritten since the index was built."})
    assert not source_is_verifiable(SOURCES[0], changed)
    assert not source_is_verifiable(SOURCES[0], {})  # document gone
    _, citations, invalid = verify_citations("It opens at 10 [1].", SOURCES, changed)
    assert citations == [] and invalid == 1


def test_a_chunk_with_an_offset_is_checked_at_its_offset() -> None:
    shifted = hit("warranty.md", 1, start=11)
    assert source_is_verifiable(shifted, DOCS)
    moved = Hit(
        chunk=Chunk("x", "warranty.md", shifted.chunk.text, 0, len(shifted.chunk.text), 0), score=1, rank=1
    )
    assert not source_is_verifiable(moved, DOCS)  # same text, wrong [start:end]


def test_followups_come_from_unused_sources_faq_question_first_then_headings() -> None:
    got = suggest_followups("When is support open?", SOURCES, used={1}, lang="en", limit=3)
    assert got == ["Tell me more about “What is covered”.", "Can I install it myself?"]
    ko = suggest_followups("보증 기간은?", [hit("returns_ko.txt", 1, title="returns_ko")], set(), "ko", 3)
    assert ko == []  # a bare file stem is not offered as a topic
    titled = suggest_followups("보증 기간은?", [hit("returns_ko.txt", 1, title="반품 정책")], set(), "ko", 3)
    assert titled == ["반품 정책에 대해 더 알려 주세요."]
    assert suggest_followups("q", SOURCES, set(), "en", 0) == []


def test_followups_skip_the_question_itself_and_duplicates() -> None:
    got = suggest_followups("Can I install it myself?", [SOURCES[2], SOURCES[2]], set(), "en", 3)
    assert got == []


@pytest.mark.parametrize(
    ("question", "override", "expected"),
    [
        ("배터리 보증 기간은?", None, "ko"),
        ("How long is the warranty?", None, "en"),
        ("SolBox 10?", "ko", "ko"),
    ],
)
def test_question_language(question: str, override: str | None, expected: str) -> None:
    assert question_language(question, override) == expected


# --- Responder with a fake pipeline ---------------------------------------------------------


@dataclass
class FakePipeline:
    hits: list[Hit]
    answer: str
    #: The answer policy alone: the cache and the guardrails have their own tests.
    cfg: PipelineConfig = field(
        default_factory=lambda: PipelineConfig(cache={"enabled": False}, guardrails={"enabled": False})
    )
    embedder: None = None
    generated: int = 0
    #: What the strict retry writes (None: the same answer again); the templates it was asked with.
    retry_answer: str | None = None
    templates: list[str] = field(default_factory=list)

    def search(self, question: str, k: int | None = None, *, vector: object = None) -> list[Hit]:
        return self.hits

    def stream(
        self,
        question: str,
        k: int | None = None,
        *,
        hits: Sequence[Hit] | None = None,
        sampling: Sampling | None = None,
        template: PromptTemplate | None = None,
    ) -> AnswerStream:
        self.generated += 1
        self.templates.append(template.name if template else "default")
        used = list(hits or self.hits)
        text = self.answer if template is None or self.retry_answer is None else self.retry_answer

        def deltas() -> Iterator[str]:
            yield from (w + " " for w in text.split(" ") if w)

        return AnswerStream(question, used, deltas(), stop=sampling.stop if sampling else ())


def responder(pipeline: FakePipeline, **policy: Any) -> Responder:
    return Responder(
        pipeline,  # type: ignore[arg-type]
        AnswerConfig(**policy),
        texts=lambda ids: {i: DOCS[i] for i in ids if i in DOCS},
        tokenize=words,
    )


def test_low_support_abstains_without_calling_the_generator_in_the_question_language() -> None:
    weak = [hit("support.txt", 1, dense=0.5)]
    pipeline = FakePipeline(weak, "never generated")
    en = responder(pipeline, abstain_below=0.8).ask("What is the capital of France?")
    ko = responder(pipeline, abstain_below=0.8).ask("프랑스의 수도는 어디인가요?")
    assert pipeline.generated == 0
    assert en.abstained and en.text.startswith("Sorry") and "0.500" in en.reason and "0.800" in en.reason
    assert ko.abstained and "죄송합니다" in ko.text and "신뢰도" in ko.reason
    assert en.citations == [] and [s.n for s in en.sources] == [1]


def test_no_hits_abstains() -> None:
    answer = responder(FakePipeline([], "x")).ask("anything")
    assert answer.abstained and answer.confidence == 0.0 and answer.sources == []


def test_supported_answer_streams_and_is_verified() -> None:
    pipeline = FakePipeline(SOURCES, "Saturday from 10:00 to 14:00 [1] [4].")
    run = responder(pipeline, abstain_below=0.5).start("When is support open on Saturday?")
    assert [s.n for s in run.sources] == [1, 2, 3]  # known before the first delta
    deltas = list(run)
    answer = run.finish()
    assert "".join(deltas).strip() == "Saturday from 10:00 to 14:00 [1] [4]."
    assert answer.text == "Saturday from 10:00 to 14:00 [1]." and answer.invalid_citations == 1
    assert [c.n for c in answer.citations] == [1] and not answer.citations[0].attributed
    assert not answer.abstained and answer.generated
    assert set(answer.latency_ms) == {"retrieve", "generate", "total"}
    assert answer.followups[0] == "Tell me more about “What is covered”."


def test_answer_without_markers_is_attributed() -> None:
    pipeline = FakePipeline(SOURCES, "The battery is covered for 10 years or 6,000 cycles.")
    answer = responder(pipeline, abstain_below=0.5).ask("How long is the warranty?")
    assert [(c.n, c.attributed) for c in answer.citations] == [(2, True)]
    assert answer.invalid_citations == 0


def test_empty_generation_abstains_with_a_reason() -> None:
    answer = responder(FakePipeline(SOURCES, ""), abstain_below=0.5).ask("When is support open?")
    assert answer.abstained and answer.generated and "empty" in answer.reason


def test_retrieval_only_does_not_generate() -> None:
    pipeline = FakePipeline(SOURCES, "unused")
    answer = responder(pipeline, abstain_below=0.5).ask("When is support open?", generate=False)
    assert pipeline.generated == 0 and answer.text == "" and not answer.abstained
    assert len(answer.sources) == 3 and answer.citations == []


# --- figures the sources do not contain ----------------------------------------------------------


def test_figures_skip_markers_and_list_numbering_and_merge_thousands() -> None:
    from llmpilot.answering import figures

    text = "1. The warranty lasts 10 years [1].\n2) It covers 6,000 cycles, or 6000 [2][3]. Version 3.2."
    assert figures(text) == ["10", "6000", "3.2"]


def test_invented_figures_are_listed_and_lower_confidence() -> None:
    from llmpilot.answering import figure_support, unsupported_numbers
    from llmpilot.types import Chunk, Hit

    source = "SolBox 10 is warranted for 10 years or 6,000 full charge cycles (policy 3.2, 2024)."
    chunk = Chunk("c1", "warranty.md", source, 0, len(source), 0)
    hit = Hit(chunk=chunk, score=1.0, rank=1, title="Warranty")
    answer = "1. The SolBox 10 warranty lasts 3 years, until January 2025.\n2. It covers 6000 cycles."
    missing = unsupported_numbers(answer, [hit])
    # "3" alone is in the source (policy 3.2 is one figure; a bare 3 would pass), "3 years" is not.
    assert missing == ["3 year", "2025"]
    assert figure_support(answer, missing) == 0.5  # 10 and 6000 cycles are in the source
    assert unsupported_numbers("It lasts 10 years.", [hit]) == []
    ko = "SolBox 10의 보증 기간은 10년입니다."
    ko_chunk = Chunk("c2", "warranty_ko.md", ko, 0, len(ko), 0)
    ko_hit = Hit(chunk=ko_chunk, score=1.0, rank=1, title="보증")
    assert unsupported_numbers("보증 기간은 10년간입니다.", [ko_hit]) == []
    assert unsupported_numbers("보증 기간은 3년입니다.", [ko_hit]) == ["3 년"]
    assert figure_support("No figures here.", []) == 1.0


# --- the one strict retry before the fallback -------------------------------------------------

WORD_SALAD = "Turtles enjoy purple mountains while reciting the alphabet backwards slowly."
SUPPORTED = "Phone support is open on Saturday from 10:00 to 14:00 [1]."


def test_a_weak_answer_is_retried_once_with_the_strict_prompt_and_kept_when_supported() -> None:
    pipeline = FakePipeline(SOURCES, WORD_SALAD, retry_answer=SUPPORTED)
    answer = responder(pipeline, abstain_below=0.5).ask("When is phone support open on Saturday?")
    assert pipeline.templates == ["default", "extractive"]
    assert answer.retried and not answer.fallback and not answer.abstained
    assert "10:00 to 14:00" in answer.text and [c.n for c in answer.citations] == [1]
    assert answer.usage.completion_tokens == len(WORD_SALAD.split()) + len(SUPPORTED.split())


def test_a_retry_that_is_weak_too_falls_back_to_quoting_the_sources() -> None:
    pipeline = FakePipeline(SOURCES, WORD_SALAD, retry_answer="Bananas are yellow and curved fruit.")
    answer = responder(pipeline, abstain_below=0.5).ask("When is phone support open on Saturday?")
    assert pipeline.generated == 2
    assert answer.retried and answer.fallback == "extractive"
    assert "10:00" in answer.text and "Bananas" in answer.unsupported_text


def test_no_retry_when_the_first_answer_is_supported_or_retry_is_off() -> None:
    supported = FakePipeline(SOURCES, SUPPORTED, retry_answer=WORD_SALAD)
    answer = responder(supported, abstain_below=0.5).ask("When is phone support open on Saturday?")
    assert supported.generated == 1 and not answer.retried
    off = FakePipeline(SOURCES, WORD_SALAD, retry_answer=SUPPORTED)
    answer = responder(off, abstain_below=0.5, retry=False).ask("When is phone support open on Saturday?")
    assert off.generated == 1 and not answer.retried and answer.fallback == "extractive"


def test_a_question_naming_a_code_a_source_holds_is_not_abstained_on_weak_cosine() -> None:
    table = "Error codes\n\nE07 | Overheating | the temperature is above 60 °C."
    DOCS["errors.html"] = table
    try:
        weak_cosine = [hit("support.txt", 1, dense=0.79), hit("errors.html", 2, dense=0.7)]
        policy = responder(FakePipeline(weak_cosine, "E07 means overheating [1]."), abstain_below=0.81)
        assert policy.abstain_reason(weak_cosine, 0.79, "ko", question="에러 코드 E07은 무슨 뜻인가요?") == ""
        # No code in the question, or a code the source lacks: the cosine decides as before.
        assert policy.abstain_reason(weak_cosine, 0.79, "ko", question="에러 코드는 무슨 뜻인가요?")
        # A code no retrieved source holds: abstain whatever the cosine, naming it.
        strong = [hit("support.txt", 1, dense=0.95), hit("errors.html", 2, dense=0.9)]
        reason = policy.abstain_reason(strong, 0.95, "en", question="What does E12 mean?")
        assert reason == MESSAGES["unknown_code"]["en"].format(codes="E12")
        ko = policy.abstain_reason(strong, 0.95, "ko", question="세탁기 에러 코드 F12는 무슨 뜻인가요?")
        assert "F12" in ko
    finally:
        del DOCS["errors.html"]


def test_generation_stops_where_the_model_echoes_the_prompts_source_fence() -> None:
    from llmpilot.pipeline import PROMPT_ECHO, cut_prompt_echo

    echoed = "The warranty is 10 years [2].\n<source>\nquestion: How long is the warranty?"
    assert cut_prompt_echo(echoed) == "The warranty is 10 years [2].\n"
    assert cut_prompt_echo("No fence here.") == "No fence here."
    deltas = iter(["The warranty is 10 ", "years [2].\n<sou", "rce>\nquestion: How long"])
    stream = AnswerStream("q", SOURCES, deltas, stop=list(PROMPT_ECHO))
    assert (
        "".join(stream) == "The warranty is 10 years [2].\n"
        and stream.text == "The warranty is 10 years [2]."
    )
