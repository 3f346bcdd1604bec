"""Property tests: a plan step changes only what it matches (hypothesis, modest example counts)."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmpilot.transforms.ops import apply_step, normalize_numbers
from llmpilot.transforms.plan import StepModel, parse_plan
from llmpilot.types import Document

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, database=None)

# A small alphabet so patterns hit often; no "Q", "~" or digits, which the "no match" patterns use.
ALPHABET = "abAB 가나#-.\t"
LINE = st.text(ALPHABET, max_size=8)
LINE_PATTERNS = st.sampled_from(["a", "가", "^#", "b$", "A.B", "^ *$|가나", "a b", "^-", r"\.", "[bB]{2}"])


def _join(lines: list[str], trailing_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if lines and trailing_newline else "")


def texts() -> st.SearchStrategy[str]:
    """Documents of a few short lines, with or without a trailing newline."""
    return st.builds(_join, st.lists(LINE, max_size=10), st.booleans())


def step(op: str, /, **fields: Any) -> StepModel:
    return parse_plan({"steps": [{"op": op, **fields}]}).steps[0]


def body_lines(text: str) -> list[str]:
    return (text[:-1] if text.endswith("\n") else text).split("\n")


def non_blank(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(any(item == other for other in remaining) for item in short)


def pieces_in_order(pieces: list[str], original: str) -> bool:
    """original == pieces[0] + s1 + pieces[1] + s2 + ... with each s_i non-empty."""
    if len(pieces) == 1:
        return pieces[0] == original
    if not original.startswith(pieces[0]) or not original.endswith(pieces[-1]):
        return False
    position = len(pieces[0])
    for piece in pieces[1:-1]:
        found = original.find(piece, position + 1)
        if found < 0:
            return False
        position = found + len(piece)
    return position < len(original) - len(pieces[-1])


@PROPERTY_SETTINGS
@given(texts(), LINE_PATTERNS)
def test_drop_lines_removes_exactly_the_matching_lines(text: str, pattern: str) -> None:
    original = Document(id="d", text=text)
    (out,) = apply_step(step("drop_lines", pattern=pattern), [original])
    regex = re.compile(pattern)
    lines = body_lines(text)
    kept = [line for line in lines if not regex.search(line)]
    result = body_lines(out.text)
    assert not any(regex.search(line) for line in non_blank(result))
    assert non_blank(result) == non_blank(kept)  # every non-matching line, in order
    assert is_subsequence(result, kept) or out.text == ""  # only blank lines around removals go
    if kept == lines:
        assert out is original


@PROPERTY_SETTINGS
@given(texts(), LINE_PATTERNS)
def test_regex_replace_leaves_text_between_matches_identical(text: str, pattern: str) -> None:
    (out,) = apply_step(
        step("regex_replace", pattern=pattern, replacement="\0"), [Document(id="d", text=text)]
    )
    assert out.text.split("\0") == re.split(pattern, text)


@PROPERTY_SETTINGS
@given(st.data(), st.lists(LINE, min_size=1, max_size=10))
def test_drop_block_leaves_other_lines_untouched_and_in_order(data: st.DataObject, lines: list[str]) -> None:
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, min(len(lines), start + 3)))
    block = lines[start:stop]
    drawn = bool("\n".join(block).strip())
    if not drawn:
        block = ["a#"]  # blank blocks are invalid plans
    original = Document(id="d", text="\n".join(lines))
    (out,) = apply_step(step("drop_block", text="\n".join(block)), [original])
    result = body_lines(out.text)
    assert is_subsequence(non_blank(result), non_blank(lines))
    removed = list(non_blank(lines))
    for line in non_blank(result):
        removed.remove(line)
    # What went is whole copies of the block (blank lines aside).
    copies, rest = divmod(len(removed), max(1, len(non_blank(block))))
    assert rest == 0 and sorted(removed) == sorted(non_blank(block) * copies)
    if drawn:  # the block occurs where it was drawn from, so something went
        assert out is not original and copies >= 1


PII_PIECES = st.sampled_from(
    [
        "hong@example.com",
        "010-1234-5678",
        "02-123-4567",
        "900101-1234568",
        "4111 1111 1111 1111",
        "v1.2.3",
        "12,345",
    ]
)
WORDS = st.text("abc 가나다,.-", max_size=6)


@PROPERTY_SETTINGS
@given(st.lists(st.one_of(PII_PIECES, WORDS), max_size=8), st.sampled_from([" ", "\n", " / "]))
def test_redact_pii_changes_only_matched_spans(parts: list[str], separator: str) -> None:
    text = separator.join(parts)
    original = Document(id="d", text=text)
    (out,) = apply_step(
        step("redact_pii", kinds=["email", "rrn", "card", "phone"], replacement="\0"), [original]
    )
    pieces = out.text.split("\0")
    assert pieces_in_order(pieces, text)
    if len(pieces) == 1:
        assert out is original


@PROPERTY_SETTINGS
@given(st.lists(texts(), max_size=6), st.integers(0, 12), LINE_PATTERNS)
def test_filters_never_alter_kept_documents(bodies: list[str], bound: int, pattern: str) -> None:
    docs = [Document(id=str(i), text=body) for i, body in enumerate(bodies)]
    steps = [
        step("filter_length", min_chars=bound),
        step("filter_length", max_chars=bound),
        step("filter_language", keep=["ko"]),
        step("drop_documents", pattern=pattern),
        step("deduplicate"),
    ]
    for filter_step in steps:
        out = apply_step(filter_step, docs)
        kept_ids = [id(doc) for doc in out]
        assert kept_ids == [id(doc) for doc in docs if id(doc) in set(kept_ids)]  # same objects, same order


@PROPERTY_SETTINGS
@given(texts(), LINE_PATTERNS)
def test_split_parts_reassemble_the_original_lines(text: str, pattern: str) -> None:
    original = Document(id="d", text=text, title="T")
    parts = apply_step(step("split_documents", pattern=pattern), [original])
    regex = re.compile(pattern)
    if not any(regex.search(line) for line in body_lines(text)):
        assert parts == [original] and parts[0] is original
        return
    # Every non-blank line survives, in order; only blank lines between parts (or before the first) go.
    kept = [line for part in parts for line in part.text.split("\n") if line.strip()]
    assert kept == [line for line in text.split("\n") if line.strip()]
    assert all(part.text.split("\n")[-1].strip() or part.text.endswith("\n") for part in parts if part.text)
    for part in parts:
        assert part.metadata["split_from"] == "d"
        if part.id.endswith("#0"):
            assert not any(regex.search(line) for line in body_lines(part.text))
            continue
        first, *rest = body_lines(part.text)
        assert regex.search(first)
        assert not any(regex.search(line) for line in rest)


NO_MATCH_TEXT = st.text("abc 가나다\t#-.\n", max_size=60)  # no digits, no "@", no "Q"
NO_MATCH_STEPS: list[dict[str, Any]] = [
    {"op": "drop_lines", "pattern": "Q+"},
    {"op": "drop_block", "text": "Q\nQ"},
    {"op": "drop_section", "start": "^Q", "end": None},
    {"op": "drop_section", "start": "^Q", "end": "a"},
    {"op": "keep_section", "start": "^Q"},
    {"op": "regex_replace", "pattern": "Q|~", "replacement": "x"},
    {"op": "split_documents", "pattern": "^Q"},
    {"op": "extract_field", "field": "f", "pattern": "Q(.*)"},
    {"op": "extract_field", "field": "f", "pattern": "Q(.*)", "remove": True},
    {"op": "redact_pii", "kinds": ["email", "rrn", "card", "phone"]},
    {"op": "drop_documents", "pattern": "Q"},
    {"op": "normalize_dates", "day_first": True},
    {"op": "normalize_numbers"},
    {"op": "filter_length", "min_chars": 0, "max_chars": 100},
]


@PROPERTY_SETTINGS
@given(NO_MATCH_TEXT, st.sampled_from(NO_MATCH_STEPS))
def test_every_op_leaves_a_document_without_a_match_unchanged(text: str, raw_step: dict[str, Any]) -> None:
    original = Document(id="d", text=text, title="t", source="s", language="ko", metadata={"k": "v"})
    out = apply_step(parse_plan({"steps": [raw_step]}).steps[0], [original])
    assert out == [original]
    assert out[0] is original


@PROPERTY_SETTINGS
@given(st.lists(st.one_of(st.integers(0, 10**9).map(lambda n: f"{n:,}"), WORDS), max_size=6))
def test_normalize_numbers_only_removes_thousands_commas(parts: list[str]) -> None:
    text = " ".join(parts)
    result = normalize_numbers(text, fullwidth=False)
    assert result.replace(",", "") == text.replace(",", "")
    assert all(f"{int(p.replace(',', ''))}" in result.split(" ") for p in parts if p[:1].isdigit())
