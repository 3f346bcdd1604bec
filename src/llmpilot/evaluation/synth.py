"""Draft an eval set from a corpus with any configured generator, for teams that have none.

One passage is sampled per document (seeded); the generator writes a question the passage answers
and the answer, as JSON. Every query is marked synthetic and its qrel carries the passage's
character span, so any chunking can be scored against it. Drafts that cannot be parsed after a
retry are skipped and reported, never invented.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmpilot.config import PipelineConfig
from llmpilot.ingest import make_chunker
from llmpilot.protocols import Generator
from llmpilot.transforms.language import detect_language
from llmpilot.types import Document

PROMPTS = {
    "ko": (
        "다음 글을 읽고, 이 글만으로 답할 수 있는 질문 하나와 그 답을 한국어로 쓰세요. "
        'JSON 한 줄로만 답하세요: {"question": "...", "answer": "..."}\n\n글:\n'
    ),
    "en": (
        "Read the passage and write one question that the passage alone answers, and its answer. "
        'Reply with one line of JSON only: {"question": "...", "answer": "..."}\n\nPassage:\n'
    ),
}
_JSON = re.compile(r"\{.*?\}", re.DOTALL)


@dataclass
class SynthReport:
    requested: int
    written: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    generator: str = ""


def parse_draft(text: str) -> tuple[str, str] | None:
    """(question, answer) from a model's reply: the first JSON object with both, code fences allowed."""
    for match in _JSON.finditer(text.replace("```json", "").replace("```", "")):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            q, a = str(data.get("question", "")).strip(), str(data.get("answer", "")).strip()
            if q and a:
                return q, a
    return None


def synthesize(
    documents: Sequence[Document],
    cfg: PipelineConfig,
    generator: Generator,
    out: Path,
    *,
    n: int = 20,
    seed: int = 0,
    passage_chars: int = 1200,
    attempts: int = 2,
) -> SynthReport:
    docs = [d for d in documents if d.text.strip()]
    picked = random.Random(seed).sample(docs, min(n, len(docs)))
    chunker = make_chunker(cfg)
    report = SynthReport(requested=len(picked), generator=generator.model_id)
    queries: list[dict[str, Any]] = []
    qrels: list[dict[str, Any]] = []
    rng = random.Random(seed + 1)
    for doc in picked:
        chunks = chunker.split(doc) or []
        if not chunks:
            report.skipped.append({"doc_id": doc.id, "reason": "no chunk"})
            continue
        chunk = rng.choice(chunks)
        passage = chunk.text[:passage_chars]
        lang = "ko" if detect_language(passage) == "ko" else "en"
        messages = [{"role": "user", "content": PROMPTS[lang] + passage}]
        draft = None
        reply = ""
        for _ in range(attempts):
            reply = generator.generate(messages, max_tokens=160, temperature=0.3)
            draft = parse_draft(reply)
            if draft:
                break
        if draft is None:
            report.skipped.append({"doc_id": doc.id, "reason": f"unparseable reply: {reply[:120]!r}"})
            continue
        qid = f"synth-{len(queries) + 1}"
        queries.append({"id": qid, "text": draft[0], "answers": [draft[1]], "synthetic": True})
        qrels.append(
            {
                "query_id": qid,
                "doc_id": doc.id,
                "score": 1,
                "spans": [[chunk.start, chunk.start + len(passage)]],
            }
        )
    report.written = len(queries)
    out.mkdir(parents=True, exist_ok=True)
    corpus = [{"id": d.id, "title": d.title, "text": d.text} for d in documents]
    for name, rows in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "synth_report.json").write_text(
        json.dumps(report.__dict__, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return report
