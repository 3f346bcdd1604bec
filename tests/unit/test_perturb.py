"""Robustness perturbations: deterministic, exact share of edits, ids and answers untouched."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmpilot.errors import LlmpilotError
from llmpilot.models.perturb import (
    PERTURBATIONS,
    compose,
    decompose,
    is_syllable,
    jamo,
    perturb_benchmark,
    perturb_item,
    spacing,
    typos,
)
from llmpilot.models.types import Benchmark, MCItem

HANGUL = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
LATIN_WORDS = st.lists(st.from_regex(r"[A-Za-z]{1,9}", fullmatch=True), min_size=1, max_size=25)
RATES = st.floats(min_value=0.0, max_value=1.0)
#: Mixed Korean/English text with spaces and the odd line break.
TEXT = st.text(alphabet=st.one_of(HANGUL, st.sampled_from("abcdXYZ .,\n가")), min_size=1, max_size=60)


def within(changed: int, n: int, rate: float) -> bool:
    return math.floor(rate * n) <= changed <= math.ceil(rate * n)


def item(n: int, question: str, choices: tuple[str, ...]) -> MCItem:
    return MCItem(f"q{n}", "s", question, choices, n % len(choices), "ko")


@given(st.lists(TEXT, min_size=2, max_size=5), st.sampled_from(sorted(PERTURBATIONS)), st.integers(0, 9))
def test_deterministic_for_a_seed_and_keeps_ids_answers_and_non_empty_text(
    texts: list[str], kind: str, seed: int
) -> None:
    bench = Benchmark("b", tuple(item(n, t, tuple(texts)) for n, t in enumerate(texts)), "letters", "here")
    once = perturb_benchmark(bench, kind, seed=seed)
    again = perturb_benchmark(bench, kind, seed=seed)
    assert once == again
    assert [i.id for i in once.items] == [i.id for i in bench.items]
    assert [i.answer for i in once.items] == [i.answer for i in bench.items]
    assert [(i.subject, i.lang, len(i.choices)) for i in once.items] == [
        (i.subject, i.lang, len(i.choices)) for i in bench.items
    ]
    for new in once.items:
        assert new.question and all(new.choices)


@given(TEXT, st.sampled_from(sorted(PERTURBATIONS)))
def test_an_item_is_perturbed_the_same_whatever_else_is_in_the_benchmark(text: str, kind: str) -> None:
    alone = perturb_item(item(0, text, (text, "다른 선택지")), kind, seed=3)
    bench = Benchmark(
        "b", (item(9, "다른 질문입니다", ("x",)), item(0, text, (text, "다른 선택지"))), "letters", ""
    )
    assert perturb_benchmark(bench, kind, seed=3).items[1] == alone


def test_different_seeds_perturb_differently() -> None:
    text = "세종대왕은 조선의 네 번째 임금으로 훈민정음을 창제하였다"
    outs = {jamo(text, random.Random(seed), 0.3) for seed in range(5)}
    assert len(outs) > 1


@given(st.text(alphabet=st.characters(max_codepoint=0xABFF), max_size=80), RATES, st.integers(0, 99))
def test_jamo_leaves_text_without_hangul_syllables_unchanged(text: str, rate: float, seed: int) -> None:
    assert jamo(text, random.Random(seed), rate) == text


def _changed_syllables(before: str, after: str) -> int:
    """Align a jamo-perturbed text with its original (only Hangul syllables and ASCII in `before`):
    each syllable became one syllable or 2-3 compatibility jamo."""
    changed, j = 0, 0
    for char in before:
        if not is_syllable(char):
            assert after[j] == char
            j += 1
        elif is_syllable(after[j]):
            changed += after[j] != char
            j += 1
        else:  # split into compatibility jamo: initial, medial and, when there is one, the final
            size = 3 if decompose(char)[2] else 2
            assert all(0x3131 <= ord(c) <= 0x3163 for c in after[j : j + size])
            changed += 1
            j += size
    assert j == len(after)
    return changed


@given(st.text(alphabet=st.one_of(HANGUL, st.sampled_from("ab ?")), max_size=60), RATES, st.integers(0, 99))
def test_jamo_edits_the_stated_share_of_syllables(text: str, rate: float, seed: int) -> None:
    out = jamo(text, random.Random(seed), rate)
    n = sum(map(is_syllable, text))
    assert within(_changed_syllables(text, out), n, rate)


@given(LATIN_WORDS, RATES, st.integers(0, 99))
def test_typos_edit_the_stated_share_of_long_latin_words_only(
    words: list[str], rate: float, seed: int
) -> None:
    text = " ".join(words) + " 한국어는 그대로."
    out = typos(text, random.Random(seed), rate)
    new_words, old_words = out.split(" 한국어")[0].split(" "), text.split(" 한국어")[0].split(" ")
    assert out.endswith(" 한국어는 그대로.")
    changed = 0
    for old, new in zip(old_words, new_words, strict=True):
        if len(old) < 4:
            assert new == old  # short words are never touched
        elif new != old:
            changed += 1
            assert len(old) - 1 <= len(new) <= len(old) and re.fullmatch(r"[A-Za-z]+", new)
    assert within(changed, sum(len(w) >= 4 for w in words), rate)


def _gaps(text: str) -> set[int]:
    """Positions (in the text without whitespace) after which whitespace follows."""
    spots, seen = set(), 0
    for char in text:
        if char.isspace():
            if seen:
                spots.add(seen)
        else:
            seen += 1
    return spots


@given(TEXT, RATES, st.integers(0, 99))
def test_spacing_only_moves_spaces_and_edits_the_stated_share_of_words(
    text: str, rate: float, seed: int
) -> None:
    out = spacing(text, random.Random(seed), rate)
    assert re.sub(r"\s", "", out) == re.sub(r"\s", "", text)
    words = list(re.finditer(r"\S+", text))
    eligible = sum(
        1
        for w, nxt in zip(words, [*words[1:], None][: len(words)], strict=True)
        if len(w.group()) >= 2 or (nxt is not None and set(text[w.end() : nxt.start()]) == {" "})
    )
    # each edit flips one "whitespace after this character" spot, a different one per edited word
    assert within(len(_gaps(text) ^ _gaps(out)), eligible, rate)


def test_spacing_examples_join_or_split_eojeol() -> None:
    text = "나는 학교에 간다"
    outs = {spacing(text, random.Random(seed), 1.0) for seed in range(30)}
    assert any("나는학교에" in o or "학교에간다" in o for o in outs)  # a join
    assert any(len(o.split()) > 3 for o in outs)  # a split


def test_jamo_operations_are_those_described() -> None:
    seen = set()
    for seed in range(60):
        out = jamo("한", random.Random(seed), 1.0)
        assert out != "한"
        seen.add(out)
    assert "ㅎㅏㄴ" in seen  # unjoined jamo
    assert compose(*decompose("한")) == "한"
    assert "항" in seen or "함" in seen or "하" in seen  # final consonant sound-alike or dropped
    assert "햔" in seen or "헌" in seen  # vowel neighbour


def test_full_rate_perturbs_every_eligible_unit() -> None:
    assert typos("abc", random.Random(0), 1.0) == "abc"
    out = typos("Seoul Busan", random.Random(0), 1.0)
    assert out.split()[0] != "Seoul" and out.split()[1] != "Busan"
    assert jamo("", random.Random(0), 1.0) == ""


@settings(max_examples=30)
@given(st.sampled_from(sorted(PERTURBATIONS)))
def test_zero_rate_changes_nothing(kind: str) -> None:
    bench = Benchmark(
        "b", (item(0, "세종대왕은 훈민정음 created Hangul", ("가나다", "letters")),), "letters", ""
    )
    assert perturb_benchmark(bench, kind, rate=0.0).items == bench.items


def test_unknown_kind_and_bad_rate_are_errors_naming_the_kinds() -> None:
    bench = Benchmark("b", (), "letters", "")
    with pytest.raises(LlmpilotError, match="typos, spacing, jamo"):
        perturb_benchmark(bench, "emoji")
    with pytest.raises(LlmpilotError, match=r"outside 0\.\.1"):
        perturb_benchmark(bench, "typos", rate=1.5)


def test_source_says_how_it_was_perturbed() -> None:
    bench = Benchmark(
        "mmlu-en", (item(0, "What is the capital", ("Paris", "Berlin")),), "letters", "data.jsonl"
    )
    out = perturb_benchmark(bench, "typos", seed=4)
    assert out.name == "mmlu-en" and out.source == "data.jsonl (perturbed: typos, seed 4)"
