"""PII rail: the transform module's validated patterns plus Korean bank accounts; redaction never
leaves the number behind (hypothesis), and decisions never carry it."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from llmpilot.config import GuardrailsConfig
from llmpilot.guardrails import Guardrails
from llmpilot.guardrails.pii import find_pii, redact_spans
from llmpilot.transforms.pii import luhn_valid


def kinds(text: str) -> list[str]:
    return [s.kind for s in find_pii(text)]


def test_accounts_need_a_bank_layout_and_an_account_word() -> None:
    assert kinds("환불은 신한은행 110-123-456789 계좌로 보내 주세요") == ["account"]
    assert kinds("Send it to account 3333-01-1234567 (Kakao Bank).") == ["account"]
    assert kinds("국민은행 123456-12-123456") == ["account"]
    # 13 digits that also read as an RRN (YYMMDD + 7) are claimed as an RRN: redacted either way.
    assert kinds("입금 계좌: 1002993456789") == ["account"]
    # Same digits, no account word: an order number, a serial, a date range.
    assert kinds("주문번호 110-123-456789 배송 조회") == []
    assert kinds("Serial 3333-01-1234567 on the label") == []
    # Ordinary words that are also bank names (하나 "one", 우리 "we") are no account word.
    assert kinds("우리 제품 하나 1234567890") == []


def test_phone_email_rrn_card_and_their_near_misses() -> None:
    assert kinds("연락처 010-1234-5678, 메일 kim@example.co.kr") == ["phone", "email"]
    assert kinds("주민번호 900101-1234567") == ["rrn"]
    assert kinds("주민번호 901301-1234567") == []  # month 13: not a date
    assert kinds("card 4111 1111 1111 1111") == ["card"]
    assert kinds("card 4111 1111 1111 1112") == []  # fails Luhn
    assert kinds("Version 2.4.1 released 2024-05-01, price 1,299,000 won") == []


def test_redaction_keeps_the_rest_of_the_text() -> None:
    text = "메일 a@b.com 으로 연락"
    assert redact_spans(text, find_pii(text)) == "메일 [email] 으로 연락"


def test_input_rail_redacts_and_details_hold_only_counts() -> None:
    guard = Guardrails(GuardrailsConfig())
    question = "제 번호 010-9876-5432 로 연락 주시고 계좌 110-555-123456 확인해 주세요"
    verdict = guard.check_input(question, "ko")
    assert not verdict.blocked
    assert "010-9876-5432" not in verdict.text and "110-555-123456" not in verdict.text
    assert "[phone]" in verdict.text and "[account]" in verdict.text
    pii = next(d for d in verdict.decisions if d.rail == "pii")
    assert pii.outcome == "redact"
    assert pii.details == {"counts": {"phone": 1, "account": 1}}
    dumped = json.dumps([d.as_dict() for d in verdict.decisions], ensure_ascii=False)
    assert "9876" not in dumped and "555-123456" not in dumped
    assert "개인정보" in pii.reason  # Korean question, Korean reason


def test_input_rail_can_block_pii_in_english() -> None:
    cfg = GuardrailsConfig.model_validate({"input": {"pii": "block"}})
    verdict = Guardrails(cfg).check_input("My card is 4111-1111-1111-1111, is it covered?", "en")
    assert verdict.blocked
    assert "personal data (card)" in verdict.message
    assert "4111" not in json.dumps([d.as_dict() for d in verdict.decisions])


# --- property: what is redacted is gone ----------------------------------------------------------


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError


digits = st.text("0123456789", min_size=1, max_size=1)
rrns = st.builds(
    lambda y, m, d, g, rest: f"{y:02d}{m:02d}{d:02d}-{g}{rest}",
    st.integers(0, 99),
    st.integers(1, 12),
    st.integers(1, 28),
    st.sampled_from("1234"),
    st.text("0123456789", min_size=6, max_size=6),
)
cards = st.builds(
    lambda body, sep: sep.join(re.findall(".{1,4}", _luhn_complete("4" + body))),
    st.text("0123456789", min_size=14, max_size=14).filter(lambda s: len(set(s)) > 1),
    st.sampled_from(["-", " ", ""]),
)
phones = st.builds(
    lambda mid, a, b, sep: f"01{mid}{sep}{a}{sep}{b}",
    st.sampled_from("016789"),
    st.text("0123456789", min_size=4, max_size=4),
    st.text("0123456789", min_size=4, max_size=4),
    st.sampled_from(["-", " ", ""]),
)
accounts = st.builds(
    lambda groups, word: (word, "-".join(groups)),
    st.sampled_from([(3, 3, 6), (3, 6, 5), (4, 2, 7), (6, 2, 6), (3, 2, 6)]).flatmap(
        lambda layout: st.tuples(*(st.text("0123456789", min_size=n, max_size=n) for n in layout))
    ),
    st.sampled_from(["계좌", "입금 계좌", "bank account", "농협은행 통장"]),
)
fillers = st.sampled_from(["", "문의: ", "please contact ", "제 정보는 ", "(", "→ "])
tails = st.sampled_from(["", " 입니다.", " thanks", ")", " 로 연락 주세요", "."])


@settings(max_examples=200, deadline=None)
@given(number=st.one_of(rrns, cards, phones), before=fillers, after=tails)
def test_redacted_output_never_contains_the_number(number: str, before: str, after: str) -> None:
    guard = Guardrails(GuardrailsConfig())
    verdict = guard.check_input(f"{before}{number}{after}", "ko")
    assert number not in verdict.text
    assert re.sub(r"\D", "", number) not in re.sub(r"\D", "", verdict.text)
    assert number not in json.dumps([d.as_dict() for d in verdict.decisions])


@settings(max_examples=150, deadline=None)
@given(account=accounts, before=fillers, after=tails)
def test_redacted_accounts_never_stay(account: tuple[str, str], before: str, after: str) -> None:
    word, number = account
    verdict = Guardrails(GuardrailsConfig()).check_input(f"{before}{word} {number}{after}", "ko")
    assert number not in verdict.text


@settings(max_examples=100, deadline=None)
@given(number=st.one_of(rrns, cards, phones), before=fillers, after=tails)
def test_redacted_answers_never_contain_the_number(number: str, before: str, after: str) -> None:
    from llmpilot.types import Answer

    leaked = Answer(
        question="q",
        lang="ko",
        text=f"{before}{number}{after}",
        citations=[],
        sources=[],
        confidence=0.9,
        abstained=False,
        reason="",
        followups=[],
    )
    out, decisions = Guardrails(GuardrailsConfig()).check_output(leaked, [])
    assert number not in out.text
    assert number not in json.dumps([d.as_dict() for d in decisions])
