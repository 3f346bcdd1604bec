"""The exact-cache key: typing differences merge, meaning differences never do."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from llmpilot.cache.normalize import normalize_question


def test_width_case_spacing_and_closing_punctuation_merge() -> None:
    assert normalize_question("  How do I  reset my PASSWORD? ") == "how do i reset my password"
    assert normalize_question('"SolBox 보증 기간은?!"') == "solbox 보증 기간은"
    # NFKC: fullwidth letters and digits are the ASCII ones.
    assert normalize_question("ＳｏｌＢｏｘ　１０") == normalize_question("SolBox 10")
    assert normalize_question("「환불 규정」") == "환불 규정"


def test_digits_particles_signs_and_words_are_kept() -> None:
    assert normalize_question("3일 안에 환불되나요?") != normalize_question("5일 안에 환불되나요?")
    assert normalize_question("서울에서 부산으로") != normalize_question("서울로 부산에서")
    assert normalize_question("-10 °C에서 작동하나요?") != normalize_question("10 °C에서 작동하나요?")
    assert normalize_question("Is version 3.5 supported?") == "is version 3.5 supported"
    assert normalize_question("Can I return it?") != normalize_question("Can I not return it?")


_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ?.!'\"가나다에서으로", max_size=40)


@given(_TEXT)
def test_a_question_always_matches_itself_and_its_retyping(text: str) -> None:
    key = normalize_question(text)
    assert key == normalize_question(text)
    assert normalize_question(f"  {text.upper()}?? ") == normalize_question(text.upper())
    assert normalize_question(key) == key  # idempotent: a stored key looks itself up


@given(_TEXT, _TEXT, st.integers(0, 9), st.integers(0, 9))
def test_texts_differing_in_one_digit_never_match(prefix: str, suffix: str, a: int, b: int) -> None:
    if a == b:
        return
    assert normalize_question(f"{prefix}{a}{suffix}") != normalize_question(f"{prefix}{b}{suffix}")
