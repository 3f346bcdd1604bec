"""Each plan op on Korean and English documents, edge cases included (the plan steps are built
through parse_plan, as a loaded plan would be)."""

from __future__ import annotations

from typing import Any

import pytest

from llmpilot.transforms.dates import normalize_dates
from llmpilot.transforms.ops import SPLIT_FROM, StepStats, apply_step, apply_steps, normalize_numbers
from llmpilot.transforms.plan import StepModel, parse_plan
from llmpilot.types import Document


def step(op: str, /, **fields: Any) -> StepModel:
    return parse_plan({"version": 1, "steps": [{"op": op, **fields}]}).steps[0]


def doc(text: str, id: str = "d", **kwargs: Any) -> Document:
    return Document(id=id, text=text, **kwargs)


def texts(op: str, text: str, /, **fields: Any) -> list[str]:
    return [d.text for d in apply_step(step(op, **fields), [doc(text)])]


def one_text(op: str, text: str, /, **fields: Any) -> str:
    (out,) = texts(op, text, **fields)
    return out


# ---- drop_lines ------------------------------------------------------------------------------------


def test_drop_lines_removes_page_numbers_and_keeps_the_rest() -> None:
    text = "Intro\nPage 1 of 3\nBody line\nPage 2 of 3\nEnd"
    assert one_text("drop_lines", text, pattern=r"^Page \d+ of \d+$") == "Intro\nBody line\nEnd"


def test_drop_lines_korean_and_ignore_case() -> None:
    text = "본문 첫 줄\n무단 전재 및 재배포 금지\n본문 둘째 줄"
    assert one_text("drop_lines", text, pattern="무단 전재") == "본문 첫 줄\n본문 둘째 줄"
    assert one_text(
        "drop_lines", "keep\nCONFIDENTIAL\nkeep too", pattern="confidential", ignore_case=True
    ) == ("keep\nkeep too")
    assert one_text("drop_lines", "keep\nCONFIDENTIAL", pattern="confidential") == "keep\nCONFIDENTIAL"


def test_drop_lines_keeps_a_trailing_newline() -> None:
    assert one_text("drop_lines", "a\nFOOTER\nb\n", pattern="FOOTER") == "a\nb\n"
    assert one_text("drop_lines", "body\nFOOTER\n", pattern="FOOTER") == "body\n"
    assert one_text("drop_lines", "FOOTER\n", pattern="FOOTER") == ""


def test_drop_lines_merges_blank_lines_around_a_removal() -> None:
    assert one_text("drop_lines", "a\n\nFOOTER\n\nb", pattern="FOOTER") == "a\n\nb"
    assert one_text("drop_lines", "a\n\nX\n\n\nY\n\nb", pattern="^[XY]$") == "a\n\nb"


def test_drop_lines_strips_blank_lines_left_at_the_edges() -> None:
    assert one_text("drop_lines", "Header\n\nbody", pattern="Header") == "body"
    assert one_text("drop_lines", "body\n\nFooter", pattern="Footer") == "body"
    assert one_text("drop_lines", "body\n\nFooter\n", pattern="Footer") == "body\n"


def test_drop_lines_leaves_blank_runs_away_from_removals() -> None:
    text = "\n\na\n\n\nb\nX\nc"
    assert one_text("drop_lines", text, pattern="^X$") == "\n\na\n\n\nb\nc"


def test_drop_lines_empty_document_and_no_match_return_the_same_object() -> None:
    for original in (doc(""), doc("nothing to see\n"), doc("가나다")):
        (out,) = apply_step(step("drop_lines", pattern="FOOTER"), [original])
        assert out is original


# ---- drop_block ------------------------------------------------------------------------------------

BLOCK = "Copyright 2024 ACME\nAll rights reserved."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{BLOCK}\nbody", "body"),  # at the start
        (f"body\n{BLOCK}", "body"),  # at the end
        (f"body\n{BLOCK}\n", "body\n"),  # at the end, trailing newline kept
        (f"one\n{BLOCK}\ntwo", "one\ntwo"),  # in the middle
        (f"one\n\n{BLOCK}\n\ntwo", "one\n\ntwo"),  # between paragraphs: one blank line stays
        (f"{BLOCK}\nmid\n{BLOCK}", "mid"),  # every occurrence
        (f"x {BLOCK}\nbody", f"x {BLOCK}\nbody"),  # not at a line start: untouched
        (f"{BLOCK} more\nbody", f"{BLOCK} more\nbody"),  # not at a line end: untouched
    ],
)
def test_drop_block_removes_whole_line_occurrences(text: str, expected: str) -> None:
    assert one_text("drop_block", text, text=BLOCK) == expected


def test_drop_block_overlapping_occurrences_first_wins() -> None:
    assert one_text("drop_block", "A\nA\nA", text="A\nA") == "A"
    assert one_text("drop_block", "A\nA\nA\nA", text="A\nA") == ""


def test_drop_block_korean_and_surrounding_newlines_in_the_plan() -> None:
    block = "본 자료는 사내용입니다.\n외부 유출을 금합니다."
    text = f"회의록\n{block}\n결정 사항"
    assert one_text("drop_block", text, text=f"\n{block}\n") == "회의록\n결정 사항"


def test_drop_block_no_match_is_the_same_object() -> None:
    original = doc("Copyright 2024 ACME\nsomething else")
    assert apply_step(step("drop_block", text=BLOCK), [original])[0] is original


# ---- drop_section / keep_section -------------------------------------------------------------------

TOC = "제목\n\n목차\n1. 개요\n2. 본론\n\n1. 개요\n내용"


def test_drop_section_up_to_the_next_blank_line() -> None:
    assert one_text("drop_section", TOC, start="^목차$") == "제목\n\n1. 개요\n내용"


def test_drop_section_up_to_end_pattern_which_is_kept() -> None:
    text = "Title\nContents\nIntro .... 1\nUsage .... 2\nIntroduction\nText"
    assert one_text("drop_section", text, start="^contents$", end="^Introduction$", ignore_case=True) == (
        "Title\nIntroduction\nText"
    )


def test_drop_section_unchanged_without_start_or_end_and_only_first_section() -> None:
    original = doc("Title\nContents\nIntro")
    assert apply_step(step("drop_section", start="^Index$"), [original])[0] is original
    assert apply_step(step("drop_section", start="^Contents$", end="^Chapter"), [original])[0] is original
    assert one_text("drop_section", "A\nX\nx1\n\nB\nX\nx2", start="^X$") == "A\n\nB\nX\nx2"


def test_drop_section_at_the_end_of_the_text() -> None:
    assert one_text("drop_section", "body\n\nReferences\n[1] a\n[2] b\n", start="^References$") == "body\n"


def test_keep_section_between_start_and_end() -> None:
    text = "header\nAbstract\nWe study X.\n\nReferences\n[1]"
    assert one_text("keep_section", text, start="^Abstract$", end="^References$") == "Abstract\nWe study X."
    assert one_text("keep_section", "머리말\n본문\n내용\n", start="^본문$") == "본문\n내용\n"


def test_keep_section_if_missing() -> None:
    original = doc("no heading here")
    assert apply_step(step("keep_section", start="^본문$"), [original])[0] is original
    assert apply_step(step("keep_section", start="^본문$", if_missing="drop"), [original]) == []


def test_keep_section_end_not_found_keeps_to_the_end() -> None:
    assert one_text("keep_section", "a\nStart\nb\nc", start="^Start$", end="^Stop$") == "Start\nb\nc"


# ---- regex_replace ---------------------------------------------------------------------------------


def test_regex_replace_with_groups_korean_and_ignore_case() -> None:
    assert one_text(
        "regex_replace", "담당: 김철수 (내선 123)", pattern=r"\(내선 (\d+)\)", replacement=r"[ext \1]"
    ) == ("담당: 김철수 [ext 123]")
    assert (
        one_text(
            "regex_replace",
            "See HTTP://x.io and http://y.io",
            pattern=r"http://\S+",
            replacement="<url>",
            ignore_case=True,
        )
        == "See <url> and <url>"
    )
    assert one_text("regex_replace", "2 + 2", pattern=r"(?P<n>\d)", replacement=r"<\g<n>>") == "<2> + <2>"


def test_regex_replace_no_match_or_identical_result_is_the_same_object() -> None:
    original = doc("abc")
    assert apply_step(step("regex_replace", pattern="x", replacement="y"), [original])[0] is original
    assert apply_step(step("regex_replace", pattern="b", replacement="b"), [original])[0] is original


# ---- split_documents -------------------------------------------------------------------------------


def test_split_documents_ids_titles_metadata_and_prefix() -> None:
    original = doc(
        "머리말\n제1장 총칙\n조항 1\n제2장 운영\n조항 2\n",
        id="rules.txt",
        title="규정",
        source="docs/rules.txt",
        metadata={"author": "kim"},
    )
    parts = apply_step(step("split_documents", pattern=r"^제\d+장"), [original])
    assert [p.id for p in parts] == ["rules.txt#0", "rules.txt#1", "rules.txt#2"]
    assert [p.title for p in parts] == ["규정", "제1장 총칙", "제2장 운영"]
    assert [p.text for p in parts] == ["머리말", "제1장 총칙\n조항 1", "제2장 운영\n조항 2\n"]
    assert all(p.metadata == {"author": "kim", SPLIT_FROM: "rules.txt"} for p in parts)
    assert all(p.source == "docs/rules.txt" for p in parts)
    assert "\n".join(p.text for p in parts) == original.text


def test_split_documents_blank_prefix_dropped_and_title_from_match_false() -> None:
    original = doc("\n\nChapter 1\none\nChapter 2\ntwo", title="Book")
    parts = apply_step(step("split_documents", pattern="^Chapter", title_from_match=False), [original])
    assert [(p.id, p.title, p.text) for p in parts] == [
        ("d#1", "Book", "Chapter 1\none"),
        ("d#2", "Book", "Chapter 2\ntwo"),
    ]


def test_split_documents_keeps_document_order_and_unmatched_documents() -> None:
    docs = [doc("before", id="a"), doc("# A\nx\n# B\ny", id="b"), doc("after", id="c")]
    out = apply_step(step("split_documents", pattern="^# "), docs)
    assert [d.id for d in out] == ["a", "b#1", "b#2", "c"]
    assert out[0] is docs[0] and out[3] is docs[2]


# ---- extract_field ---------------------------------------------------------------------------------


def test_extract_field_sets_stripped_metadata() -> None:
    original = doc("작성자:  홍길동 \n본문", metadata={"lang": "ko"})
    (out,) = apply_step(step("extract_field", field="author", pattern=r"작성자:(.*)"), [original])
    assert out.metadata == {"lang": "ko", "author": "홍길동"}
    assert out.text == original.text


def test_extract_field_remove_deletes_the_whole_match() -> None:
    original = doc("Body text.\nAuthor: Jane Doe\nMore.")
    (out,) = apply_step(
        step("extract_field", field="author", pattern=r"Author: (.+)\n", remove=True), [original]
    )
    assert out.metadata == {"author": "Jane Doe"}
    assert out.text == "Body text.\nMore."


def test_extract_field_no_match_is_the_same_object() -> None:
    original = doc("nothing")
    assert (
        apply_step(step("extract_field", field="author", pattern=r"Author: (.+)"), [original])[0] is original
    )


# ---- redact_pii ------------------------------------------------------------------------------------


def test_redact_pii_text_and_title() -> None:
    original = doc("문의: hong@example.com, 010-1234-5678 로 연락", title="hong@example.com 의 메모")
    (out,) = apply_step(step("redact_pii", kinds=["email", "phone"]), [original])
    assert out.text == "문의: [email], [phone] 로 연락"
    assert out.title == "[email] 의 메모"
    (only_email,) = apply_step(step("redact_pii", kinds=["email"], replacement="<{kind}>"), [original])
    assert only_email.text == "문의: <email>, 010-1234-5678 로 연락"


def test_redact_pii_no_pii_is_the_same_object() -> None:
    original = doc("version 1.2.3 released on 2024-03-05")
    assert (
        apply_step(step("redact_pii", kinds=list(("email", "rrn", "card", "phone"))), [original])[0]
        is original
    )


# ---- filters ---------------------------------------------------------------------------------------

KOREAN = doc("이 문서는 한국어로 작성된 안내문입니다. 자세한 내용은 아래를 참고하세요.", id="ko")
ENGLISH = doc("This document is written in English and it is one of the guides for the team.", id="en")
UNKNOWN = doc("12345 !!!", id="und")


def test_filter_language_keeps_listed_and_undetectable() -> None:
    out = apply_step(step("filter_language", keep=["ko"]), [KOREAN, ENGLISH, UNKNOWN])
    assert [d.id for d in out] == ["ko", "und"]
    assert out[0] is KOREAN
    assert [d.id for d in apply_step(step("filter_language", keep=["en", "ko"]), [KOREAN, ENGLISH])] == [
        "ko",
        "en",
    ]


def test_filter_length_bounds_are_inclusive_and_use_stripped_text() -> None:
    docs = [doc("", id="empty"), doc("  abc  ", id="3"), doc("abcdef", id="6"), doc("a" * 10, id="10")]
    assert [d.id for d in apply_step(step("filter_length", min_chars=3), docs)] == ["3", "6", "10"]
    assert [d.id for d in apply_step(step("filter_length", max_chars=6), docs)] == ["empty", "3", "6"]
    assert [d.id for d in apply_step(step("filter_length", min_chars=3, max_chars=6), docs)] == ["3", "6"]


def test_drop_documents_matches_text_or_title() -> None:
    docs = [doc("본문", id="a", title="[임시] 초안"), doc("DRAFT - do not use", id="b"), doc("final", id="c")]
    assert [d.id for d in apply_step(step("drop_documents", pattern=r"\[임시\]"), docs)] == ["b", "c"]
    assert [d.id for d in apply_step(step("drop_documents", pattern="draft", ignore_case=True), docs)] == [
        "a",
        "c",
    ]


def test_deduplicate_exact_after_whitespace_normalisation_keeps_the_first() -> None:
    docs = [doc("같은  내용\n입니다", id="a"), doc("other", id="b"), doc("같은 내용 입니다", id="c")]
    out = apply_step(step("deduplicate"), docs)
    assert [d.id for d in out] == ["a", "b"]


def test_deduplicate_near() -> None:
    base = "The quarterly report describes revenue growth across all regions and the outlook for next year. "
    docs = [
        doc(base * 3, id="a"),
        doc(base * 3 + "Minor edit.", id="b"),
        doc("Completely different text " * 8, id="c"),
    ]
    assert [d.id for d in apply_step(step("deduplicate", near=True, threshold=0.8), docs)] == ["a", "c"]
    assert [d.id for d in apply_step(step("deduplicate"), docs)] == ["a", "b", "c"]


# ---- normalisers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024년 3월 5일 회의", "2024-03-05 회의"),
        ("2024년3월5일", "2024-03-05"),
        ("시행일: 2024. 3. 5. 부터", "시행일: 2024-03-05 부터"),
        ("2024. 3. 5.", "2024-03-05"),
        ("2024.03.05 개정", "2024-03-05 개정"),
        ("2024/3/5 10:00", "2024-03-05 10:00"),
        ("2024-3-5", "2024-03-05"),
        ("on March 5, 2024.", "on 2024-03-05."),
        ("Mar 5 2024", "2024-03-05"),
        ("Mar. 5, 2024", "2024-03-05"),
        ("5 March 2024", "2024-03-05"),
        ("September 30th, 2023", "2023-09-30"),
        ("2024-02-30", "2024-02-30"),  # no such day
        ("2024년 13월 1일", "2024년 13월 1일"),
        ("version 1.2.3", "version 1.2.3"),
        ("release 2024.1.2.3", "release 2024.1.2.3"),  # a version, not a date
        ("id 12024-03-05", "id 12024-03-05"),  # digits glued to the year
        ("2024-03-051", "2024-03-051"),
        ("05/03/2024", "05/03/2024"),  # day_first unknown: left alone
        ("Marching 5 2024", "Marching 5 2024"),
    ],
)
def test_normalize_dates(text: str, expected: str) -> None:
    assert normalize_dates(text, None)[0] == expected
    assert one_text("normalize_dates", text) == expected


def test_normalize_dates_day_first_and_counts() -> None:
    assert normalize_dates("05/03/2024 and 2024-03-05", True) == ("2024-03-05 and 2024-03-05", 1)
    assert normalize_dates("05/03/2024", False) == ("2024-05-03", 1)
    assert normalize_dates("31/12/2024", False) == ("31/12/2024", 0)
    assert one_text("normalize_dates", "5.3.2024", day_first=True) == "2024-03-05"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("총 1,234,567원", "총 1234567원"),
        ("1,234.5", "1234.5"),
        ("12,345 and 999", "12345 and 999"),
        ("1,23,456", "1,23,456"),  # not groups of three
        ("1,2,3", "1,2,3"),
        ("1,234,56", "1,234,56"),
        ("0.123,456", "0.123,456"),  # digits after a decimal point
        ("１，２３４ ０１２", "1，234 012"),  # full-width comma is not a thousands separator
        ("１２,３４５", "12345"),
    ],
)
def test_normalize_numbers(text: str, expected: str) -> None:
    assert normalize_numbers(text) == expected
    assert one_text("normalize_numbers", text) == expected


def test_normalize_numbers_switches() -> None:
    assert one_text("normalize_numbers", "１,２３４", thousands=False) == "1,234"
    assert one_text("normalize_numbers", "１,２３４", fullwidth=False) == "１,２３４"


# ---- sources, order and stats ----------------------------------------------------------------------


def test_sources_glob_limits_which_documents_a_step_touches() -> None:
    docs = [doc("FOOTER\nbody", id="a", source="web/a.html"), doc("FOOTER\nbody", id="b", source="docs/b.md")]
    out = apply_step(step("drop_lines", pattern="FOOTER", sources="web/*"), docs)
    assert [d.text for d in out] == ["body", "FOOTER\nbody"]
    assert out[1] is docs[1]
    assert [d.id for d in apply_step(step("deduplicate", sources="docs/*"), [*docs, docs[0]])] == [
        "a",
        "b",
        "a",
    ]


def test_unchanged_fields_are_kept() -> None:
    original = doc("a\nFOOTER", id="x", title="T", source="s", language="en", metadata={"k": "v"})
    (out,) = apply_step(step("drop_lines", pattern="FOOTER"), [original])
    assert (out.id, out.title, out.source, out.language, out.metadata) == ("x", "T", "s", "en", {"k": "v"})


def test_apply_steps_reports_stats_per_step() -> None:
    plan = parse_plan(
        {
            "steps": [
                {"op": "drop_lines", "pattern": "^FOOTER$"},
                {"op": "split_documents", "pattern": "^# "},
                {"op": "filter_length", "min_chars": 5},
                {"op": "regex_replace", "pattern": "x", "replacement": "xyz"},
            ]
        }
    )
    docs = [doc("# A\nalpha\n# B\nbeta\nFOOTER", id="a"), doc("tiny", id="b"), doc("xxxxx", id="c")]
    out, stats = apply_steps(plan, docs)
    assert [d.id for d in out] == ["a#1", "a#2", "c"]
    assert out[2].text == "xyz" * 5
    assert stats == [
        StepStats("drop_lines", 1, documents_changed=1, chars_removed=7),
        StepStats("split_documents", 2, documents_changed=1, documents_added=1),
        StepStats("filter_length", 3, documents_dropped=1, chars_removed=4),
        StepStats("regex_replace", 4, documents_changed=1, chars_added=10),
    ]
    assert apply_steps(plan.steps, docs)[0] == out
