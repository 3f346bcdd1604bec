from __future__ import annotations

import pytest

from llmpilot.config import TransformsConfig
from llmpilot.transforms import Deduplicator, TransformPipeline, detect_language, redact
from llmpilot.transforms.dedup import MinHasher, lsh_params
from llmpilot.transforms.normalize import normalize_unicode, normalize_whitespace
from llmpilot.transforms.pii import luhn_valid
from llmpilot.types import Document

ALL = ["email", "phone", "rrn", "card"]

KO_PARAGRAPH = (
    "한울에너지의 솔박스 10 가정용 배터리는 구매일로부터 10년 동안 보증됩니다. 보증 기간 중 배터리 용량이 "
    "정격 용량의 70% 미만으로 떨어지면 무상으로 교체해 드립니다. 보증을 받으려면 설치 후 30일 이내에 제품을 "
    "등록해야 하며, 공인 설치 기사가 설치하지 않은 제품과 침수 또는 화재로 손상된 제품은 보증 대상에서 "
    "제외됩니다. 보증 수리를 신청할 때에는 제품 일련번호와 구매 영수증을 함께 준비해 주세요."
)
EN_PARAGRAPH = (
    "The SolBox 10 home battery is covered for ten years from the date of purchase. If the usable capacity "
    "drops below 70 percent of the rated capacity during the warranty period, we replace the battery free of "
    "charge. Register the product within 30 days of installation to activate the warranty. Units installed "
    "by anyone other than a certified installer, and units damaged by flooding or fire, are not covered."
)


# --- PII ---------------------------------------------------------------------------------------------


def test_email_and_korean_phones() -> None:
    text = (
        "담당자 hong.gildong@haneul-energy.example로 메일 주시거나 010-1234-5678, 02-123-4567로 전화하세요."
    )
    out, counts = redact(text, ALL)
    assert out == "담당자 [email]로 메일 주시거나 [phone], [phone]로 전화하세요."
    assert counts == {"email": 1, "phone": 2}


@pytest.mark.parametrize(
    "phone",
    [
        "010-1234-5678",
        "010 1234 5678",
        "01012345678",
        "010.1234.5678",
        "02-123-4567",
        "031-987-6543",
        "(02) 1234-5678",
        "070-1234-5678",
        "+82 10-1234-5678",
        "+82-2-123-4567",
        "+82 (0)10 1234 5678",
        "(555) 123-4567",
        "555-123-4567",
        "1-800-555-0199",
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
    ],
)
def test_phone_formats_are_redacted(phone: str) -> None:
    assert redact(f"연락처: {phone}.", ["phone"]) == ("연락처: [phone].", {"phone": 1})


@pytest.mark.parametrize(
    "kept",
    [
        "2024-01-15",
        "2024.02.15",
        "15/01/2024",
        "가격은 1,234,500원입니다",
        "$1,299.00",
        "order 202401151234567890",
        "version 2.4.10",
        "ISBN 978-3-16-148410-0",
        "2019-2020-2021 season",
        "12:30-18:00",
        "고객센터 1588-1234",
    ],
)
def test_dates_prices_and_ids_are_not_phones(kept: str) -> None:
    assert redact(kept, ALL) == (kept, {})


def test_rrn_needs_a_valid_date_with_or_without_hyphen() -> None:
    out, counts = redact("주민번호 900101-1234567, 0402291234567 (2004년 윤일), 010203-3234567", ["rrn"])
    assert out == "주민번호 [rrn], [rrn] (2004년 윤일), [rrn]"
    assert counts == {"rrn": 3}
    for invalid in ("901301-1234567", "900230-1234567", "900101-9234567", "900101-0234567", "0502291234567"):
        assert redact(invalid, ["rrn"]) == (invalid, {}), invalid


def test_cards_must_pass_luhn() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    text = "카드 4111 1111 1111 1111, 5500-0000-0000-0004, 378282246310005; random 1234567812345678"
    out, counts = redact(text, ["card"])
    assert out == "카드 [card], [card], [card]; random 1234567812345678"
    assert counts == {"card": 3}


def test_only_requested_kinds_and_custom_replacement() -> None:
    text = "mail kim@example.com, call 010-1234-5678"
    assert redact(text, ["email"], "<{kind} removed>") == (
        "mail <email removed>, call 010-1234-5678",
        {"email": 1},
    )
    with pytest.raises(ValueError, match="unknown PII kind"):
        redact(text, ["ssn"])


def test_card_digits_are_not_counted_as_phone() -> None:
    out, counts = redact("card 4111-1111-1111-1111", ALL)
    assert (out, counts) == ("card [card]", {"card": 1})


# --- normalization ----------------------------------------------------------------------------------


def test_whitespace_normalization_keeps_paragraph_breaks() -> None:
    raw = (
        "  제목\t\t입니다  \r\n\r\n\r\n\n첫  문단\u00a0입니다.   \n둘째 줄\u200b.\n\n\n\n"
        "Second\u3000paragraph.  \n\n"
    )
    assert normalize_whitespace(raw) == "제목 입니다\n\n첫 문단 입니다.\n둘째 줄.\n\nSecond paragraph."


def test_unicode_forms() -> None:
    decomposed = "\u1112\u1161\u11ab"  # 한 as jamo, as macOS writes it
    assert normalize_unicode(decomposed, "NFC") == "한"
    assert normalize_unicode("ＡＢＣ１２３", "NFKC") == "ABC123"
    assert normalize_unicode("ＡＢＣ", "none") == "ＡＢＣ"


def test_pipeline_applies_everything() -> None:
    pipeline = TransformPipeline(TransformsConfig())
    doc = Document(
        id="d1",
        title="  설치\u1100\u1161  안내 ",
        text="설치 담당자:  김민준 과장\n\n\n\n"
        "연락처 010-1234-5678, kim@haneul-energy.example, min@x.example\n"
        "설치는 평균 4시간이 걸립니다.",
        metadata={"type": "text"},
    )
    out = pipeline.apply(doc)
    assert out.title == "설치가 안내"
    assert (
        out.text
        == "설치 담당자: 김민준 과장\n\n연락처 [phone], [email], [email]\n설치는 평균 4시간이 걸립니다."
    )
    assert out.language == "ko"
    assert out.metadata == {"type": "text", "pii_redacted": "email:2,phone:1"}
    assert doc.metadata == {"type": "text"}  # the input is not mutated


def test_pipeline_with_everything_off() -> None:
    cfg = TransformsConfig(unicode="none", whitespace=False, pii=[], detect_language=False)
    doc = Document(id="d", text="a  b\n\n\n\nkim@example.com", language="xx")
    assert TransformPipeline(cfg).apply(doc) == doc


# --- language ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (KO_PARAGRAPH, "ko"),
        (EN_PARAGRAPH, "en"),
        ("SolBox 10 배터리의 LFP 셀은 6,000 cycle 이후에도 70% 용량을 유지합니다.", "ko"),
        ("Please contact 김민준 at the Seoul office about the installation schedule.", "en"),
        ("", "und"),
        ("   12345 !!! ", "und"),
        ("OK", "und"),
        ("안녕", "ko"),
        ("La garantie couvre la batterie pendant dix ans à partir de la date d'achat.", "fr"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_detect_language_is_deterministic() -> None:
    text = "Garantie und Rückgabe der Batterie innerhalb von vierzehn Tagen."
    assert len({detect_language(text) for _ in range(5)}) == 1


# --- dedup ------------------------------------------------------------------------------------------


def korean_light_edit() -> str:
    # Spacing changes (common in Korean) and one word swapped.
    return (
        KO_PARAGRAPH.replace("보증 기간 중", "보증기간 중")
        .replace("준비해 주세요", "준비해주세요")
        .replace("무상으로", "무료로")
    )


def english_light_edit() -> str:
    return (
        EN_PARAGRAPH.replace("free of charge", "free of charge,")
        .replace("  ", " ")
        .replace("anyone", "someone")
    )


def test_near_duplicates_are_found_in_korean_and_english() -> None:
    dedup = Deduplicator(exact=True, near=True, threshold=0.9)
    dedup.add("ko", KO_PARAGRAPH)
    dedup.add("en", EN_PARAGRAPH)
    assert dedup.find_duplicate(korean_light_edit()) == "ko"
    assert dedup.find_duplicate(english_light_edit()) == "en"


def test_different_texts_are_not_flagged() -> None:
    dedup = Deduplicator(exact=True, near=True, threshold=0.9)
    dedup.add("ko", KO_PARAGRAPH)
    dedup.add("en", EN_PARAGRAPH)
    other_ko = (
        "설치 기사는 방문 전날 오후 6시까지 고객에게 전화로 방문 시간을 안내합니다. "
        "설치에는 보통 4시간이 걸리며, "
        "분전반 교체가 필요한 경우 하루가 더 걸릴 수 있습니다. 설치 비용은 기본 35만 원입니다."
    )
    other_en = (
        "Our support team answers calls on weekdays from nine to six. During the weekend the team is "
        "reachable by email only, and replies are sent within one business day."
    )
    half = KO_PARAGRAPH[: len(KO_PARAGRAPH) // 2] + other_ko
    for text in (other_ko, other_en, half):
        assert dedup.find_duplicate(text) is None


def test_exact_duplicates_ignore_whitespace_and_short_texts_are_exact_only() -> None:
    dedup = Deduplicator(exact=True, near=True, threshold=0.9)
    dedup.add("a", "네, 가능합니다.")
    assert dedup.find_duplicate("네,  가능합니다.\n") == "a"
    assert (
        dedup.find_duplicate("네, 가능합니다!") is None
    )  # short: a one-character change is a different answer


def test_remove_and_readd() -> None:
    dedup = Deduplicator(exact=True, near=True, threshold=0.9)
    dedup.add("ko", KO_PARAGRAPH)
    dedup.remove("ko")
    dedup.remove("never-added")
    assert dedup.find_duplicate(KO_PARAGRAPH) is None
    assert len(dedup) == 0
    dedup.add("ko2", KO_PARAGRAPH)
    assert dedup.find_duplicate(korean_light_edit()) == "ko2"


def test_disabled_dedup_finds_nothing() -> None:
    dedup = Deduplicator(exact=False, near=False, threshold=0.9)
    dedup.add("a", EN_PARAGRAPH)
    assert dedup.find_duplicate(EN_PARAGRAPH) is None


def test_near_only_still_catches_identical_text() -> None:
    dedup = Deduplicator(exact=False, near=True, threshold=0.95)
    dedup.add("a", EN_PARAGRAPH)
    assert dedup.find_duplicate(EN_PARAGRAPH) == "a"


def test_minhash_estimates_jaccard() -> None:
    hasher = MinHasher()
    a, b = hasher.signature(KO_PARAGRAPH), hasher.signature(korean_light_edit())
    assert (a == hasher.signature(KO_PARAGRAPH)).all()  # deterministic
    assert 0.85 <= float((a == b).mean()) < 1.0
    bands, rows = lsh_params(0.9, 128)
    assert bands * rows <= 128 and bands > 1


def test_threshold_is_validated() -> None:
    with pytest.raises(ValueError, match="threshold"):
        Deduplicator(exact=True, near=True, threshold=0.0)


def test_english_fast_path_agrees_with_langdetect_and_leaves_other_languages_alone() -> None:
    from llmpilot.transforms.language import _langdetect, detect_language

    english = (
        "The results of this study show that the treatment was effective for patients with the disease, "
        "and that the effect is larger in those who are treated early by their doctors."
    )
    assert detect_language(english) == "en" == _langdetect(english)
    german = "Der Hund ist in dem Haus und das war gut für die Kinder, die dort spielen und lachen."
    assert detect_language(german) == "de"
