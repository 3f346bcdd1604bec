"""How `answer.abstain_below` was chosen: retrieval confidence on the demo project for questions the
corpus answers and for off-topic ones, and the threshold that separates them best.

    nice .venv/bin/python benchmarks/abstain_threshold.py --project demo-project \\
        --json benchmarks/results/abstain_threshold.json

Confidence is `retrieval_confidence` (the best dense cosine, e5-small by default). The chosen
threshold maximizes balanced accuracy (answerable answered, off-topic abstained); ties go to the
lowest threshold, since a wrongly refused real question costs more than a guarded off-topic answer.

"gate as shipped" applies `Responder.abstain_reason` at the project's `answer.abstain_below`, which
also lets through a question naming a code that a retrieved source contains (E07): measured on
both groups plus questions with codes, in and out of the corpus.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from demo_questions import DEMO_QUESTIONS

from llmpilot.answering import Responder, question_language
from llmpilot.pipeline import Pipeline, retrieval_confidence
from llmpilot.project import Project

#: QUESTIONS.md (7, incl. its Korean warranty question) plus paraphrases of what the pages cover.
ON_TOPIC = [
    *DEMO_QUESTIONS,
    "Can I install the SolBox myself?",
    "솔박스 설치 전에 무엇을 준비해야 하나요?",
    "How do I return a unit?",
    "What is the capacity of the battery?",
    "고객센터 운영 시간은?",
    "Does the battery work during a power cut?",
    "Which Wi-Fi network does the SolBox app need?",
    "When are firmware updates installed?",
    "이사할 때 배터리를 옮길 수 있나요?",
    "겨울에 충전이 멈추는 이유는?",
    "What should I do if I smell burning from the battery?",
    "How many days do I have to register the battery?",
    "반품하면 환불은 언제 받나요?",
]
OFF_TOPIC = [
    "What is the capital of France?",
    "Who won the 2018 World Cup?",
    "How do I bake sourdough bread?",
    "김치찌개 맛있게 끓이는 법 알려줘",
    "오늘 서울 날씨 어때?",
    "Explain quantum entanglement in simple terms.",
    "What is the boiling point of water at altitude?",
    "비트코인 가격 전망은?",
    "Recommend a good sci-fi novel.",
    "파이썬에서 리스트 정렬하는 방법",
    "How many legs does a spider have?",
    "세종대왕은 누구인가요?",
    "모나리자는 누가 그렸나요?",
    "What is the best way to learn the guitar?",
    "서울에서 부산까지 KTX로 얼마나 걸리나요?",
    "How do vaccines work?",
    "Write a haiku about autumn.",
    "영어 회화 공부 방법 추천해줘",
    "What is the population of Canada?",
    "How do I change a flat bicycle tire?",
]


#: Questions that name a code: the corpus's error table has E03, E07, E12 and E21.
CODE_ON_TOPIC = [
    "에러 코드 E07은 무슨 뜻인가요?",
    "E12 코드가 뜨면 어떻게 해야 하나요?",
    "What should I do about E21?",
]
CODE_OFF_TOPIC = [
    "What does OBD code P0420 mean?",
    "세탁기 에러 코드 F12는 무슨 뜻인가요?",
    "How do I fix a Samsung TV E202?",
]


def shipped_gate(pipeline: Pipeline, on: list[str], off: list[str]) -> dict[str, object]:
    """The abstain decision as `ask` and the server make it, per question."""
    responder = Responder(pipeline, cache=False)

    def abstains(question: str) -> bool:
        hits = pipeline.search(question)
        lang = question_language(question)
        return bool(responder.abstain_reason(hits, retrieval_confidence(hits), lang, question=question))

    answered = {q: not abstains(q) for q in on}
    refused = {q: abstains(q) for q in off}
    return {
        "abstain_below": pipeline.cfg.answer.abstain_below,
        "on_topic_answered": round(sum(answered.values()) / len(on), 4),
        "off_topic_abstained": round(sum(refused.values()) / len(off), 4),
        "on_topic_refused": [q for q, ok in answered.items() if not ok],
        "off_topic_answered": [q for q, ok in refused.items() if not ok],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", type=Path, default=Path("demo-project"))
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    pipeline = Pipeline(Project.open(args.project))
    on = [round(retrieval_confidence(pipeline.search(q)), 4) for q in ON_TOPIC]
    off = [round(retrieval_confidence(pipeline.search(q)), 4) for q in OFF_TOPIC]
    candidates = sorted(set(on + off + [round(t / 100, 2) for t in range(60, 100)]))
    best: tuple[float, float] | None = None
    table = []
    for t in candidates:
        answered = sum(c >= t for c in on) / len(on)
        refused = sum(c < t for c in off) / len(off)
        balanced = (answered + refused) / 2
        table.append({"threshold": t, "on_topic_answered": answered, "off_topic_abstained": refused})
        if best is None or balanced > best[1]:
            best = (t, balanced)
    assert best is not None
    result = {
        "benchmark": "abstain_threshold",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "project": str(args.project),
        "embedder": pipeline.cfg.embedder.name,
        "confidence": "retrieval_confidence: best dense cosine of the retrieved chunks",
        "on_topic": dict(zip(ON_TOPIC, on, strict=True)),
        "off_topic": dict(zip(OFF_TOPIC, off, strict=True)),
        "on_topic_min": min(on),
        "off_topic_max": max(off),
        "best_threshold": best[0],
        "best_balanced_accuracy": round(best[1], 4),
        "sweep": table,
        "gate_as_shipped": shipped_gate(pipeline, [*ON_TOPIC, *CODE_ON_TOPIC], [*OFF_TOPIC, *CODE_OFF_TOPIC]),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(
        f"on-topic confidence min {min(on):.4f} (n={len(on)}), off-topic max {max(off):.4f} (n={len(off)}); "
        f"best threshold {best[0]} (balanced accuracy {best[1]:.3f})"
    )
    gate = result["gate_as_shipped"]
    print(f"gate as shipped (codes included): {gate}")
    for t in (0.78, 0.8, 0.81, 0.82, best[0]):
        row = min(table, key=lambda r: abs(r["threshold"] - t))
        print(
            f"  abstain_below {t}: answered {row['on_topic_answered']:.0%} of on-topic, "
            f"abstained on {row['off_topic_abstained']:.0%} of off-topic"
        )


if __name__ == "__main__":
    main()
