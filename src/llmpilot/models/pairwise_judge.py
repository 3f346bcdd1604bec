"""The pairwise judge: one AlpacaEval-style comparison of two answers shown in a given order, and the
parser of its reply.

The judge is any configured generator. Small local judges rarely keep to a format, so the reply is
read by layers, strictest first (a labelled verdict, then "answer 2 is better"-style sentences in
English and Korean, then a bare "1"/"2"/"tie" at the start, then tie words); a layer whose matches
disagree makes the reply ambiguous. An unparseable reply is asked once more with the format
restated, then recorded as missing with the reason: never turned into a tie.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from llmpilot.protocols import Generator

#: What the judge says about the answers *as shown*: the first, the second, or neither.
Verdict = Literal["1", "2", "tie"]

SYSTEM = (
    "You are a careful, impartial judge of answers to a user's question. You compare two answers and "
    "say which one is better: more correct, more helpful and more faithful to the sources when sources "
    "are given. Answer length and the order of the answers must not influence you."
)
INSTRUCTION = (
    "Which answer is better? Reply with exactly one line and nothing else: "
    '"Better: 1", "Better: 2" or "Better: tie".'
)
RETRY = (
    "Your reply could not be read. Reply with exactly one of these lines: "
    '"Better: 1", "Better: 2", "Better: tie".'
)
#: The sources shown to the judge are cut to this many characters in all (small judges' context).
MAX_SOURCE_CHARS = 1500
#: Each answer is cut to this many characters: a runaway answer must not push the question out.
MAX_ANSWER_CHARS = 1500

_ONE = r"(?:1|one|a|first|첫\s*번째|첫째|1\s*번)"
_TWO = r"(?:2|two|b|second|두\s*번째|둘째|2\s*번)"
_TIE = r"(?:tie|draw|equal|same|neither|both|동점|무승부|비슷|같|동일|둘\s*다)"
_LABELLED = re.compile(
    r"(?:better|winner|verdict|choice|preferred|판정|선택|결론|결과|승자|더\s*나은\s*답변)\s*(?:answer|output)?"
    r"\s*(?:is|[:：=])\s*[\"'(\[*]*\s*(?:answer|output|response|답변|응답)?\s*\(?"
    r"(1|2|a|b|tie|draw|동점|무승부)(?!\w|\.\d)",
    re.IGNORECASE,
)
_ENGLISH_PREFERS = re.compile(
    rf"\b(?:answer|output|response)\s*\(?({_ONE}|{_TWO})\)?\s+(?:is|was|seems|appears)\s+"
    r"(?:clearly\s+|much\s+|slightly\s+)?(?:better|best|superior|preferred|more\s+\w+)",
    re.IGNORECASE,
)
_ENGLISH_ORDINAL = re.compile(
    r"\bthe\s+(first|second)\s+(?:answer|output|response|one)\s+(?:is|was)\s+"
    r"(?:clearly\s+|much\s+|slightly\s+)?(?:better|best|superior|preferred|more\s+\w+)",
    re.IGNORECASE,
)
# 답변 1이 더 좋습니다 / 1번 답변이 더 낫다 / 두 번째 답변이 더 정확합니다 / 답변 2를 선호합니다
_KO_WHICH = r"(?<!\d)(?:1\s*번|2\s*번|1|2|첫\s*번째|두\s*번째|첫째|둘째)(?!\d)"
_KOREAN_PREFERS = re.compile(
    rf"(?:(?:답변|응답)\s*({_KO_WHICH})|({_KO_WHICH})\s*(?:답변|응답)?)\s*(?:이|가|을|를|은|는)?\s*"
    r"(?:더|훨씬|조금)?\s*(?:좋|낫|나아|우수|정확|적절|훌륭|선호|뛰어)",
)
#: A reply that is only the verdict on its first line ("2", "**1**", "Answer 2."); "1. Returns…" is a
#: list the judge started writing (small judges echo the answers), not a verdict.
_BARE_START = re.compile(
    r"^[\s\"'*(\[]*(?:(?:answer|output|response|답변|응답)\s*)?(1|2|tie)[\s\"'*)\].!:]*(?:\n|$)",
    re.IGNORECASE,
)
_KOREAN_TIE = re.compile(r"동점|무승부|둘\s*다\s*(?:비슷|같|동일|좋|나쁘)|비슷합니다|차이가\s*없")
_ENGLISH_TIE = re.compile(r"\b(?:tie|draw|equally\s+(?:good|bad|helpful)|both\s+(?:are\s+)?equal)\b", re.I)


def _as_verdict(token: str) -> Verdict | None:
    """One matched token as a verdict (1/one/a/first/첫 번째 → "1", …)."""
    word = token.strip().lower()
    if re.fullmatch(_ONE, word, re.IGNORECASE):
        return "1"
    if re.fullmatch(_TWO, word, re.IGNORECASE):
        return "2"
    if re.fullmatch(_TIE, word, re.IGNORECASE):
        return "tie"
    return None


def _agreed(tokens: Sequence[str]) -> Verdict | Literal["ambiguous"] | None:
    verdicts = {v for v in (_as_verdict(t) for t in tokens if t) if v is not None}
    if not verdicts:
        return None
    return verdicts.pop() if len(verdicts) == 1 else "ambiguous"


def _from_json(text: str) -> Verdict | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("better", "winner", "verdict", "choice", "preferred"):
        if key in data:
            return _as_verdict(str(data[key]))
    return None


def parse_verdict(reply: str) -> Verdict | None:
    """The judge's verdict about the answers as shown ("1", "2", "tie"), or None when the reply
    names none or names conflicting ones (then the judgement is retried, then recorded as missing)."""
    text = reply.replace("```json", "").replace("```", "").strip()
    if not text:
        return None
    found = _from_json(text)
    if found is not None:
        return found
    layers: list[list[str]] = [
        _LABELLED.findall(text),
        [*_ENGLISH_PREFERS.findall(text), *_ENGLISH_ORDINAL.findall(text)]
        + [one or two for one, two in _KOREAN_PREFERS.findall(text)],
    ]
    for tokens in layers:
        verdict = _agreed(tokens)
        if verdict == "ambiguous":
            return None
        if verdict is not None:
            return verdict
    bare = _BARE_START.match(text)
    if bare:
        return _as_verdict(bare.group(1))
    if _ENGLISH_TIE.search(text) or _KOREAN_TIE.search(text):
        return "tie"
    return None


def judge_messages(question: str, sources: Sequence[str], first: str, second: str) -> list[dict[str, str]]:
    """The comparison prompt (AlpacaEval's shape: the instruction, then the two outputs, then the
    question of which is better), with the sources the answers were given when there were any."""
    parts = [f"QUESTION:\n{question.strip()}"]
    if sources:
        shown, used = [], 0
        for n, source in enumerate(sources, start=1):
            room = MAX_SOURCE_CHARS - used
            if room <= 0:
                break
            piece = " ".join(source.split())[:room]
            shown.append(f"[{n}] {piece}")
            used += len(piece)
        parts.append("SOURCES (what the answers were given):\n" + "\n".join(shown))
    parts.append(f"ANSWER 1:\n{first.strip()[:MAX_ANSWER_CHARS] or '(empty)'}")
    parts.append(f"ANSWER 2:\n{second.strip()[:MAX_ANSWER_CHARS] or '(empty)'}")
    parts.append(INSTRUCTION)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


@dataclass(frozen=True)
class OrderJudgement:
    """One comparison in one order: what the judge said about the answers as shown."""

    verdict: Verdict | None  # None: missing (see `reason`)
    raw: str  # the last reply
    attempts: int
    reason: str = ""


def judge_order(
    generator: Generator,
    question: str,
    sources: Sequence[str],
    first: str,
    second: str,
    *,
    attempts: int = 2,
    max_tokens: int = 48,
) -> OrderJudgement:
    """Ask `generator` which of two answers (shown in this order) is better; a reply that cannot be
    read is asked again with the format restated (a deterministic judge would otherwise repeat itself)."""
    messages = judge_messages(question, sources, first, second)
    reply = ""
    for attempt in range(1, attempts + 1):
        reply = generator.generate(messages, max_tokens=max_tokens, temperature=0.0)
        verdict = parse_verdict(reply)
        if verdict is not None:
            return OrderJudgement(verdict=verdict, raw=reply, attempts=attempt)
        messages = [
            *messages,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": RETRY},
        ]
    return OrderJudgement(
        verdict=None,
        raw=reply,
        attempts=attempts,
        reason=f"unparseable judge reply after {attempts} attempts: {reply[:120]!r}",
    )
