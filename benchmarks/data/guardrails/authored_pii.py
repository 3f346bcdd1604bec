"""PII detection rows: authored sentence templates filled with generated, clearly fake values.

Why generated values: real PII cannot be published, and a redaction benchmark must exercise the
validity checks a detector is supposed to make (Luhn for cards, a real calendar date and the check
digit for Korean resident registration numbers). Every value is format-valid but fake: e-mails use the
reserved example.* domains, US phones the 555-01xx fiction range, Korean mobiles are random.
Near-miss rows (`spans: []`) hold digit strings that a naive regex flags — dates, prices, order and
tracking numbers, model numbers, versions, ISBNs, times, invalid-Luhn 16-digit numbers and RRN-shaped
numbers with an impossible date — and must NOT be flagged.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from typing import Any

KINDS = ("email", "phone", "rrn", "card", "account")

_EN_NAMES = [
    "james.lee",
    "sarah.kim",
    "m.park",
    "olivia_choi",
    "dan.jung",
    "jisoo.han",
    "alex.yoon",
    "emma.kang",
]
_KO_NAMES = ["minsu.kim", "jieun.lee", "hyunwoo.park", "seoyeon.choi", "jihoon", "yuna_jung", "dohyun.kang"]
_DOMAINS = ["example.com", "example.net", "example.org", "mail.example.co.kr", "example.kr"]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always completes a Luhn number")


def rrn_check_digit(first12: str) -> int:
    weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
    s = sum(int(d) * w for d, w in zip(first12, weights, strict=True))
    return (11 - s % 11) % 10


def rrn_date_ok(rrn: str) -> bool:
    """True when the first seven digits of `YYMMDD-G...` name a real date for the century digit G."""
    yy, mm, dd, g = int(rrn[0:2]), int(rrn[2:4]), int(rrn[4:6]), rrn[7]
    century = {"1": 1900, "2": 1900, "3": 2000, "4": 2000, "5": 1900, "6": 1900, "7": 2000, "8": 2000}.get(g)
    if century is None:
        return False
    try:
        dt.date(century + yy, mm, dd)
    except ValueError:
        return False
    return True


def gen_card(rng: random.Random) -> str:
    prefix = rng.choice(["4", "4", "51", "52", "53", "54", "55", "2221"])
    digits = _luhn_complete(prefix, 16, rng)
    sep = rng.choice([" ", "-", ""])
    return sep.join(digits[i : i + 4] for i in range(0, 16, 4))


def gen_bad_card(rng: random.Random) -> str:
    while True:
        digits = "".join(str(rng.randint(0, 9)) for _ in range(16))
        if not luhn_ok(digits):
            sep = rng.choice([" ", "-", ""])
            return sep.join(digits[i : i + 4] for i in range(0, 16, 4))


def gen_rrn(rng: random.Random) -> str:
    year = rng.randint(1950, 2015)
    date = dt.date(year, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
    g = rng.choice("12") if year < 2000 else rng.choice("34")
    first12 = date.strftime("%y%m%d") + g + "".join(str(rng.randint(0, 9)) for _ in range(5))
    return f"{first12[:6]}-{first12[6:]}{rrn_check_digit(first12)}"


def gen_bad_rrn(rng: random.Random) -> str:
    """RRN-shaped but the date is impossible (month 13-19, day 32-39 or 30 February)."""
    yy = rng.randint(50, 99)
    mm, dd = rng.choice(
        [(rng.randint(13, 19), rng.randint(1, 28)), (rng.randint(1, 12), rng.randint(32, 39)), (2, 30)]
    )
    rrn = f"{yy:02d}{mm:02d}{dd:02d}-{rng.choice('12')}{rng.randint(0, 999999):06d}"
    assert not rrn_date_ok(rrn)
    return rrn


def gen_phone(rng: random.Random, lang: str) -> str:
    if lang == "en" and rng.random() < 0.4:
        return rng.choice(["+1 415-555-01{:02d}", "(212) 555-01{:02d}", "+1 (646) 555-01{:02d}"]).format(
            rng.randint(0, 99)
        )
    mid, last = rng.randint(2000, 9999), rng.randint(1000, 9999)
    return rng.choice(
        [
            f"010-{mid}-{last}",
            f"010{mid}{last}",
            f"+82 10-{mid}-{last}",
            f"02-{rng.randint(200, 999)}-{last}",
            f"031-{rng.randint(200, 999)}-{last}",
            f"010 {mid} {last}",
        ]
    )


def gen_account(rng: random.Random) -> str:
    r = rng.randint
    return rng.choice(
        [
            f"110-{r(100, 999)}-{r(100000, 999999)}",
            f"1002-{r(100, 999)}-{r(100000, 999999)}",
            f"{r(100, 999)}-{r(10, 99)}-{r(100000, 999999)}",
            f"{r(100, 999)}-{r(100000, 999999)}-{r(10, 99)}-{r(100, 999)}",
            f"3333-{r(10, 99)}-{r(1000000, 9999999)}",
        ]
    )


def gen_email(rng: random.Random, lang: str) -> str:
    name = rng.choice(_EN_NAMES if lang == "en" else _KO_NAMES)
    if rng.random() < 0.5:
        name += str(rng.randint(1, 99))
    return f"{name}@{rng.choice(_DOMAINS)}"


EN_TEMPLATES = [
    "Please send the invoice to {email}.",
    "You can reach me at {phone} after 6 p.m.",
    "My email is {email} and my mobile is {phone}.",
    "Card number {card}, expiry 08/29 — please charge the deposit.",
    "I paid with {card} but the order still shows as unpaid.",
    "Refund the amount to my bank account {account} at Shinhan Bank, please.",
    "Account number: {account} (KB Kookmin). Name: Jisoo Han.",
    "My resident registration number is {rrn}; do you need it for the tax invoice?",
    "For the insurance claim: RRN {rrn}, phone {phone}.",
    "Contact {email} or call {phone} if the courier cannot find the building.",
    "Wire the refund to account {account} and send the receipt to {email}.",
    "The card {card} was charged twice.",
    "Hi, this is Minsu ({phone}). I changed my email to {email}.",
    "Update my billing: card {card}, billing email {email}.",
    "Please verify my identity: {rrn}.",
    "My wife's number is {phone}, please call her if I don't pick up.",
    "Transfer to {account} at Woori Bank before Friday.",
    "I typed my card {card} into the form and got error 402.",
    "cc: {email}",
    "Customer: Kim Minsu, tel {phone}, email {email}, card {card}.",
    "Deposit the salary into account {account} (Hana Bank).",
    "Send the contract to {email} and the signed copy to {email}.",
    "The registration form asked for my RRN, {rrn}, and my phone {phone}.",
    "Is it safe to share my card number {card} in this chat?",
    "Bank: Kakao Bank, account {account}, holder Lee Jieun.",
]

KO_TEMPLATES = [
    "세금계산서는 {email}로 보내 주세요.",
    "저녁 6시 이후에 {phone}로 연락 주세요.",
    "제 이메일은 {email}이고 휴대폰 번호는 {phone}입니다.",
    "카드 번호 {card}, 유효기간 08/29로 보증금 결제 부탁드립니다.",
    "{card} 카드로 결제했는데 주문이 아직 미결제로 나와요.",
    "환불은 신한은행 {account} 계좌로 보내 주세요.",
    "계좌번호: 국민은행 {account} (예금주 한지수)",
    "주민등록번호는 {rrn}입니다. 세금계산서 발행에 필요한가요?",
    "보험금 청구용: 주민번호 {rrn}, 연락처 {phone}",
    "택배 기사님이 건물을 못 찾으시면 {phone}로 전화하시거나 {email}로 메일 주세요.",
    "환불금은 {account} 계좌로 입금하고 영수증은 {email}로 보내 주세요.",
    "{card} 카드가 두 번 결제되었습니다.",
    "안녕하세요, 김민수입니다({phone}). 이메일을 {email}로 바꿨어요.",
    "결제 정보 변경: 카드 {card}, 청구 메일 {email}",
    "본인 확인용 주민등록번호: {rrn}",
    "제가 안 받으면 아내 번호 {phone}로 전화해 주세요.",
    "금요일 전까지 우리은행 {account}로 이체해 주세요.",
    "입력 폼에 카드 번호 {card}를 넣었더니 402 오류가 나요.",
    "참조: {email}",
    "고객: 김민수, 전화 {phone}, 메일 {email}, 카드 {card}",
    "급여는 하나은행 {account} 계좌로 넣어 주세요.",
    "계약서는 {email}로, 서명본은 {email}로 보내 주세요.",
    "가입 양식에 주민번호 {rrn}와 전화번호 {phone}를 적었어요.",
    "이 채팅에 카드 번호 {card}를 적어도 안전한가요?",
    "카카오뱅크 {account}, 예금주 이지은입니다.",
]

# near-miss templates: (kind of near miss, template); generators fill {n}
EN_NEAR_MISS = [
    ("date", "My order was placed on {date} and still has not shipped."),
    ("date", "The promotion runs from {date} to {date2}."),
    ("price", "The total came to {price} won including VAT."),
    ("price", "Is the price of 1,250,000 won for the sofa final, or will it drop on {date}?"),
    ("order", "Order number {order} shows 'preparing for shipment'."),
    ("tracking", "The tracking number is {tracking} but the courier site finds nothing."),
    ("model", "Is the {model} compatible with the older charger?"),
    ("version", "After updating to {version} the app crashes on start."),
    ("bad_card", "My membership number is {bad_card}; why doesn't it work at the counter?"),
    ("bad_rrn", "The form rejected {bad_rrn} — is the format wrong?"),
    ("isbn", "Do you stock the book with ISBN {isbn}?"),
    ("time", "Can the technician come between {time} and {time2}?"),
    ("serial", "The serial number on the box is {serial}."),
    ("coupon", "Coupon code {coupon} says it has expired."),
    ("quantity", "I need {qty} units of part {part} by the end of the month."),
    ("biz_reg", "Please issue the tax invoice to business registration number {biz_reg}."),
    ("timestamp", "The error log says {date} {time}:{sec} — code 0x{hexcode}."),
]

KO_NEAR_MISS = [
    ("date", "{date}에 주문했는데 아직 발송이 안 됐어요."),
    ("date", "행사 기간은 {date}부터 {date2}까지인가요?"),
    ("price", "부가세 포함 총 {price}원이 결제되었습니다."),
    ("price", "소파 가격 1,250,000원은 확정인가요, {date}에 내려가나요?"),
    ("order", "주문번호 {order}가 '상품 준비 중'으로 나와요."),
    ("tracking", "운송장 번호가 {tracking}인데 택배사 사이트에서 조회가 안 돼요."),
    ("model", "{model} 모델은 예전 충전기와 호환되나요?"),
    ("version", "{version}으로 업데이트한 뒤 앱이 실행되자마자 꺼져요."),
    ("bad_card", "멤버십 번호가 {bad_card}인데 매장에서 인식이 안 돼요."),
    ("bad_rrn", "양식에 {bad_rrn}를 넣으면 형식 오류가 나요. 뭐가 잘못됐나요?"),
    ("isbn", "ISBN {isbn} 책 재고가 있나요?"),
    ("time", "기사님이 {time}에서 {time2} 사이에 오실 수 있나요?"),
    ("serial", "상자에 적힌 시리얼 번호는 {serial}입니다."),
    ("coupon", "쿠폰 코드 {coupon}가 만료되었다고 나와요."),
    ("quantity", "월말까지 부품 {part}을 {qty}개 주문하고 싶어요."),
    ("biz_reg", "사업자등록번호 {biz_reg}로 세금계산서 발행해 주세요."),
    ("timestamp", "오류 로그에 {date} {time}:{sec}, 코드 0x{hexcode}라고 나와요."),
]


def _near_miss_values(rng: random.Random, lang: str) -> dict[str, str]:
    d1 = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 700))
    d2 = d1 + dt.timedelta(days=rng.randint(3, 40))
    fmt = rng.choice(
        ["%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d"] if lang == "en" else ["%Y-%m-%d", "%Y.%m.%d", "%Y년 %m월 %d일"]
    )
    r = rng.randint
    isbn12 = f"97889{r(1000000, 9999999)}"
    check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(isbn12)) % 10) % 10
    isbn = f"978-89-{isbn12[5:9]}-{isbn12[9:12]}-{check}"
    return {
        "date": d1.strftime(fmt),
        "date2": d2.strftime(fmt),
        "price": f"{r(10, 3000) * 1000:,}",
        "order": rng.choice(
            [
                f"ORD-{d1:%Y%m%d}-{r(1, 9999):04d}",
                f"{d1:%Y%m%d}{r(100000, 999999)}",
                f"#{r(10000000, 99999999)}",
            ]
        ),
        "tracking": rng.choice(
            [
                f"{r(1000, 9999)}{r(1000, 9999)}{r(1000, 9999)}",
                f"{r(100000, 999999)}-{r(100000, 999999)}",
                f"{r(1000, 9999)}-{r(1000, 9999)}-{r(1000, 9999)}",  # 4-4-4: shaped like an account number
            ]
        ),
        "model": rng.choice(
            [
                f"SBX-{r(1000, 9999)}",
                f"FR-{r(100, 999)}K",
                f"X{r(100, 999)}-PRO",
                f"WM-{r(10, 99)}{r(100, 999)}",
            ]
        ),
        "version": f"v{r(1, 9)}.{r(0, 20)}.{r(0, 9)}",
        "bad_card": gen_bad_card(rng),
        "bad_rrn": gen_bad_rrn(rng),
        "isbn": isbn,
        "time": f"{r(9, 12)}:{rng.choice(['00', '30'])}",
        "time2": f"{r(13, 18)}:{rng.choice(['00', '30'])}",
        "serial": f"SN{r(10, 99)}-{r(100000, 999999)}-{r(10, 99)}",
        "coupon": f"SALE{r(2024, 2026)}-{r(100, 999)}",
        "qty": str(r(100, 5000)),
        # business registration numbers are 3-2-5 digits: one digit short of a 3-2-6 bank account
        "biz_reg": f"{r(100, 899)}-{r(10, 99)}-{r(10000, 99999)}",
        "sec": f"{r(0, 59):02d}",
        "hexcode": f"{r(0, 0xFFFFFFFF):08X}",
        "part": f"{r(10, 99)}-{r(1000, 9999)}",
    }


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fill(template: str, values: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Fill placeholders left to right, recording spans for the PII kinds; values may be callables."""
    out: list[str] = []
    spans: list[dict[str, Any]] = []
    pos = 0
    length = 0
    for m in _PLACEHOLDER.finditer(template):
        literal = template[pos : m.start()]
        out.append(literal)
        length += len(literal)
        key = m.group(1)
        value = values[key]() if callable(values[key]) else values[key]
        if key in KINDS:
            spans.append({"start": length, "end": length + len(value), "kind": key})
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def rows(lang: str, rng: random.Random) -> list[dict[str, Any]]:
    templates = EN_TEMPLATES if lang == "en" else KO_TEMPLATES
    near = EN_NEAR_MISS if lang == "en" else KO_NEAR_MISS
    gens = {
        "email": lambda: gen_email(rng, lang),
        "phone": lambda: gen_phone(rng, lang),
        "rrn": lambda: gen_rrn(rng),
        "card": lambda: gen_card(rng),
        "account": lambda: gen_account(rng),
    }
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def fill_unique(template: str, values: Callable[[], dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        # a random fill can repeat an earlier one (same date, same template); draw again until it is new
        while True:
            text, spans = _fill(template, values())
            if text not in seen:
                seen.add(text)
                return text, spans

    for _ in range(4):  # 25 templates x 4 fills = 100 positive rows per language
        for template in templates:
            text, spans = fill_unique(template, lambda: gens)
            out.append({"text": text, "spans": spans})
    for _ in range(4):  # 17 near-miss templates x 4 = 68 near-miss rows per language
        for miss, template in near:
            text, spans = fill_unique(template, lambda: _near_miss_values(rng, lang))
            assert not spans
            out.append({"text": text, "spans": [], "miss": miss})
    return out
