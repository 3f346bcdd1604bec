"""The project's eval set: one JSON object per line, over the project's own stored documents.

    {"id": "q1", "question": "…", "answer": "reference (optional)", "doc_ids": ["stored doc id", …],
     "lang": "ko", "provenance": {"source": "review", "trace_id": "…", "approved_by": "…", …}}

`llmpilot monitor run` re-evaluates the live config on it; approved review items are appended to it
(llmpilot.monitoring.review), never rewritten: a line once written stays as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmpilot.errors import DatasetError
from llmpilot.evaluation.datasets import read_jsonl
from llmpilot.project import Project

_HINT = (
    "the project's eval set: one JSON object per line, "
    '{"id": "q1", "question": "…", "answer": "…", "doc_ids": ["…"]}; its path is monitoring.eval_set'
)


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    #: The reference answer, when one is known (a reviewer's correction, a curated answer).
    answer: str | None = None
    #: Stored document ids that answer the question (retrieval ground truth), possibly empty.
    doc_ids: list[str] = field(default_factory=list)
    lang: str | None = None
    #: Where the item came from: {"source": "review", "trace_id", "feedback", "approved_by", "approved_at"}.
    provenance: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "question": self.question}
        if self.answer:
            out["answer"] = self.answer
        if self.doc_ids:
            out["doc_ids"] = list(self.doc_ids)
        if self.lang:
            out["lang"] = self.lang
        if self.provenance:
            out["provenance"] = self.provenance
        return out


def eval_set_path(project: Project) -> Path:
    return project.resolve(project.config.monitoring.eval_set)


def _text(row: dict[str, Any], name: str, path: Path, lineno: int, *, required: bool) -> str | None:
    value = row.get(name)
    if value is None:
        if required:
            raise DatasetError(f"{path}:{lineno}: missing field {name!r}")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise DatasetError(f"{path}:{lineno}: field {name!r} must be a string")
    text = str(value)
    if required and not text.strip():
        raise DatasetError(f"{path}:{lineno}: field {name!r} is empty")
    return text


def load_eval_set(path: Path) -> list[EvalItem]:
    """Every item of the file; a DatasetError naming file:line and field for a bad one (and for a
    duplicate id), or the missing file with what it should hold."""
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for lineno, row in read_jsonl(path, missing_hint=_HINT):
        item_id = _text(row, "id", path, lineno, required=True)
        question = _text(row, "question", path, lineno, required=True)
        assert item_id is not None and question is not None
        if item_id in seen:
            raise DatasetError(f"{path}:{lineno}: duplicate id {item_id!r} (first on line {seen[item_id]})")
        seen[item_id] = lineno
        doc_ids = row.get("doc_ids") or []
        if not isinstance(doc_ids, list) or not all(isinstance(d, str) and d for d in doc_ids):
            raise DatasetError(f"{path}:{lineno}: field 'doc_ids' must be a list of document ids (strings)")
        provenance = row.get("provenance") or {}
        if not isinstance(provenance, dict):
            raise DatasetError(f"{path}:{lineno}: field 'provenance' must be an object")
        items.append(
            EvalItem(
                id=item_id,
                question=question,
                answer=_text(row, "answer", path, lineno, required=False) or None,
                doc_ids=list(doc_ids),
                lang=_text(row, "lang", path, lineno, required=False) or None,
                provenance=provenance,
            )
        )
    return items


def append_eval_item(path: Path, item: EvalItem) -> None:
    """Append one item (the file and its folder are created when missing). Refuses an id already in
    the file. The line is written with one write + fsync, so a crash leaves whole lines only."""
    existing = load_eval_set(path) if path.exists() else []
    if any(e.id == item.id for e in existing):
        raise DatasetError(f"{path}: an item with id {item.id!r} is already in the eval set")
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(item.as_json(), ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        if handle.tell() > 0 and not path.read_bytes().endswith(b"\n"):
            line = "\n" + line  # a hand-edited file without a final newline
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
