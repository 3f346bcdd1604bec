"""LLM-as-judge: faithfulness to the retrieved contexts, answer relevance and context precision,
with any configured generator. A reply that cannot be parsed is retried, then recorded as missing
with the reason: it never becomes a silent NaN or a made-up score in an average."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from llmpilot.protocols import Generator

CRITERIA = {
    "faithfulness": (
        "Is every claim in the ANSWER supported by the CONTEXTS? Score 1 (not at all) to 5 (fully).",
        "CONTEXTS:\n{contexts}\n\nANSWER:\n{answer}",
    ),
    "answer_relevance": (
        "Does the ANSWER address the QUESTION? Score 1 (not at all) to 5 (completely).",
        "QUESTION:\n{question}\n\nANSWER:\n{answer}",
    ),
    "context_precision": (
        "How much of the CONTEXTS is useful for answering the QUESTION? Score 1 (none) to 5 (all).",
        "QUESTION:\n{question}\n\nCONTEXTS:\n{contexts}",
    ),
}
_SCORE_PATTERNS = (
    re.compile(r'"score"\s*:\s*"?(\d+(?:\.\d+)?)'),
    re.compile(r"(?:score|rating)\W*[:=]?\W*(\d+(?:\.\d+)?)\s*(?:/\s*5)?", re.IGNORECASE),
    re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/\s*5|out of 5)\b", re.IGNORECASE),
    re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*5)?\s*$", re.MULTILINE),
)


@dataclass(frozen=True)
class Judgement:
    score: float | None  # 0-1, None when missing
    reason: str
    raw: str


def parse_score(reply: str) -> float | None:
    """A 1-5 score from a judge's reply (JSON, "Score: 4/5", or a bare number), mapped to 0-1."""
    text = reply.replace("```json", "").replace("```", "")
    try:
        data = json.loads(text.strip())
        if isinstance(data, dict) and "score" in data:
            text = f'"score": {data["score"]}'
    except json.JSONDecodeError:
        pass
    for pattern in _SCORE_PATTERNS:
        match = pattern.search(text)
        if match:
            value = float(match.group(1))
            if 1.0 <= value <= 5.0:
                return (value - 1.0) / 4.0
    return None


def judge(
    generator: Generator,
    criterion: str,
    *,
    question: str,
    answer: str,
    contexts: Sequence[str],
    attempts: int = 2,
) -> Judgement:
    instruction, template = CRITERIA[criterion]
    body = template.format(question=question, answer=answer, contexts="\n---\n".join(contexts) or "(none)")
    messages = [
        {
            "role": "system",
            "content": 'You are a strict evaluator. Reply with JSON only: {"score": 1-5, "reason": "..."}',
        },
        {"role": "user", "content": f"{instruction}\n\n{body}"},
    ]
    reply = ""
    for _ in range(attempts):
        reply = generator.generate(messages, max_tokens=96, temperature=0.0)
        score = parse_score(reply)
        if score is not None:
            return Judgement(score=score, reason="", raw=reply)
    return Judgement(
        score=None, reason=f"unparseable judge reply after {attempts} attempts: {reply[:120]!r}", raw=reply
    )
