"""The multi-turn benchmark's core claim on the real sample corpus: condensing the history with the rules
(no LLM) finds the page that answers a follow-up more often than the last user message alone.

BM25 only (the shipped tokenizer, `auto`), so it runs in seconds without loading an embedder;
benchmarks/multiturn.py measures the shipped hybrid config and the LLM rewrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmpilot.config import parse_config
from llmpilot.conversation import condense
from llmpilot.errors import DatasetError
from llmpilot.evaluation.multiturn import (
    Conversation,
    doc_ranking,
    hit_at,
    last_user_message,
    load_conversations,
    sample_project,
)
from llmpilot.pipeline import Pipeline

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "multiturn.jsonl"


def hit5(pipeline: Pipeline, conversations: list[Conversation], query_of: str) -> dict[str, float]:
    hits: dict[str, list[float]] = {}
    for conv in conversations:
        query = last_user_message(conv.turns) if query_of == "last" else condense(conv.turns).query
        ranking = doc_ranking(pipeline.search(query, 50))
        hits.setdefault(conv.lang, []).append(hit_at(ranking, conv.relevant_doc, 5))
    return {lang: sum(v) / len(v) for lang, v in hits.items()}


def test_rules_beat_the_last_message_on_hit_at_5(tmp_path: Path) -> None:
    conversations = load_conversations(DATA)
    assert {c.lang for c in conversations} == {"en", "ko"}
    assert all(sum(c.lang == lang for c in conversations) >= 20 for lang in ("en", "ko"))
    project = sample_project(tmp_path, parse_config({"retrieval": {"mode": "keyword"}}))
    try:
        pipeline = Pipeline(project)
        # Every relevant document exists in the ingested corpus (a typo would score as a miss forever).
        doc_ids = {d.document.id for d in project.store.documents()}
        assert {c.relevant_doc for c in conversations} <= doc_ids
        last = hit5(pipeline, conversations, "last")
        rules = hit5(pipeline, conversations, "rules")
    finally:
        project.close()
    overall_last = sum(last.values()) / len(last)
    overall_rules = sum(rules.values()) / len(rules)
    assert overall_rules > overall_last, (last, rules)
    for lang in ("en", "ko"):
        assert rules[lang] >= last[lang], (lang, last, rules)


def test_bad_line_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [
        {
            "id": i,
            "lang": "en",
            "turns": [{"role": role, "content": "hi"}],
            "relevant_doc": "d",
            "answer": "x",
        }
        for i, role in (("a", "user"), ("b", "bot"))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"set\.jsonl:2: turns\[0\]\.role: 'bot'"):
        load_conversations(path)
