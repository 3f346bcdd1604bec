"""What every rail returns: one `RailDecision` per rail run, shown in the trace, the API and the UI.

Reasons are written in the question's language because the user (or the admin reading the trace)
reads them; `details` carries counts, kinds and rule ids only — never the PII or the matched text,
since decisions are logged and returned by the API.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from llmpilot.types import Lang

Stage = Literal["input", "documents", "output"]
Outcome = Literal["allow", "redact", "warn", "block", "abstain"]


@dataclass(frozen=True)
class RailDecision:
    stage: Stage
    rail: str
    outcome: Outcome
    score: float | None
    reason: str
    latency_ms: float
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The shape every decision has on answers, traces and the API (the cache's decisions too:
        llmpilot.cache.service.CacheDecision): stage, name, outcome, score, latency_ms, reason, details."""
        return {
            "stage": self.stage,
            "name": self.rail,
            "outcome": self.outcome,
            "score": None if self.score is None else round(float(self.score), 4),
            "latency_ms": round(self.latency_ms, 3),
            "reason": self.reason,
            "details": self.details,
        }

    @property
    def flagged(self) -> bool:
        """The rail found something (anything but allow)."""
        return self.outcome != "allow"


@dataclass(frozen=True)
class InputVerdict:
    #: The question to use downstream (redacted when PII was redacted).
    text: str
    decisions: list[RailDecision]
    blocked: bool
    #: User-facing notice when blocked ("" otherwise), in the question's language.
    message: str


REASONS: dict[str, dict[Lang, str]] = {
    "allow": {"ko": "문제 없음", "en": "passed"},
    "too_long": {
        "ko": "질문이 너무 깁니다 ({n}자, 최대 {limit}자). 질문을 줄여서 다시 보내 주세요.",
        "en": "The question is too long ({n} characters, at most {limit}). Please shorten it and ask again.",
    },
    "injection": {
        "ko": "질문에 시스템 지시를 무시하거나 바꾸려는 표현(프롬프트 인젝션)이 있어 처리하지 않았습니다.",
        "en": "The question tries to override or reveal the assistant's instructions (prompt injection), "
        "so it was not processed.",
    },
    "injection_warn": {
        "ko": "질문에 프롬프트 인젝션으로 보이는 표현이 있습니다 (기록됨).",
        "en": "The question looks like a prompt-injection attempt (logged).",
    },
    "pii_redact": {
        "ko": "개인정보({kinds})를 가렸습니다.",
        "en": "Personal data ({kinds}) was redacted.",
    },
    "pii_block": {
        "ko": "질문에 개인정보({kinds})가 있어 처리하지 않았습니다. 개인정보를 지우고 다시 질문해 주세요.",
        "en": "The question contains personal data ({kinds}), so it was not processed. "
        "Remove it and ask again.",
    },
    "pii_warn": {
        "ko": "개인정보({kinds})가 포함되어 있습니다 (기록됨).",
        "en": "Personal data ({kinds}) is present (logged).",
    },
    "topic_denied": {
        "ko": "이 서비스에서 다루지 않는 주제({topic})입니다.",
        "en": "This service does not answer questions about this topic ({topic}).",
    },
    "topic_not_allowed": {
        "ko": "이 서비스가 다루는 주제({topics})에 대한 질문만 답할 수 있습니다.",
        "en": "This service only answers questions about its topics ({topics}).",
    },
    "indirect_injection": {
        "ko": "검색된 문서 {n}개에서 지시문으로 보이는 문장 {sentences}개를 발견했습니다 ({action}).",
        "en": "{sentences} instruction-like sentence(s) found in {n} retrieved passage(s) ({action}).",
    },
    "profanity_redact": {"ko": "비속어 {n}개를 가렸습니다.", "en": "{n} profane word(s) masked."},
    "profanity_block": {
        "ko": "답변에 비속어가 있어 표시하지 않습니다.",
        "en": "The answer contained profanity, so it is not shown.",
    },
    "profanity_warn": {
        "ko": "답변에 비속어 {n}개가 있습니다 (기록됨).",
        "en": "{n} profane word(s) (logged).",
    },
    "pii_leak_block": {
        "ko": "답변에 개인정보({kinds})가 포함되어 표시하지 않습니다.",
        "en": "The answer contained personal data ({kinds}), so it is not shown.",
    },
    "grounding_flag": {
        "ko": "답변의 {n}개 문장이 인용한 출처로 뒷받침되지 않습니다.",
        "en": "{n} sentence(s) of the answer are not supported by the sources they cite.",
    },
    "grounding_abstain": {
        "ko": "답변의 {n}개 문장이 인용한 출처로 뒷받침되지 않아 답변하지 않습니다.",
        "en": "{n} sentence(s) of the answer are not supported by their sources, so no answer is given.",
    },
    "schema": {
        "ko": "구조화된 출력이 스키마와 맞지 않습니다 ({n}개 오류).",
        "en": "The structured output does not match the schema ({n} error(s)).",
    },
}

ACTIONS: dict[str, dict[Lang, str]] = {
    "neutralise": {"ko": "해당 문장을 제거함", "en": "sentences removed"},
    "drop": {"ko": "해당 문서를 제외함", "en": "passages dropped"},
    "warn": {"ko": "기록만 함", "en": "logged only"},
}


def reason(key: str, lang: Lang, **values: object) -> str:
    return REASONS[key][lang].format(**values)


class Timer:
    """Milliseconds since construction: each rail times itself for `latency_ms`."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0
