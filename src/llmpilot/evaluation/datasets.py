"""Retrieval/QA dataset folders: corpus.jsonl {id,title,text}, queries.jsonl {id,text,answers?},
qrels.jsonl {query_id,doc_id,score,spans?}. Every malformed line is reported with file and line number.

`spans` (optional) are the character ranges [[start, end], ...] of the document that hold the
evidence, where the source knows them; relevance stays per document, so every chunking is scored
against the same truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmpilot.errors import DatasetError
from llmpilot.types import Document


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    answers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetrievalDataset:
    name: str
    corpus: list[Document]
    queries: list[Query]
    qrels: dict[str, dict[str, int]]
    #: query id -> doc id -> evidence character spans (only for qrels that carry them).
    spans: dict[str, dict[str, list[tuple[int, int]]]] = field(default_factory=dict)


_NO_QUERIES = (
    '{path}: no queries (the file is empty); add one JSON object per line, {{"id": "q1", "text": "…"}}, '
    "with a judgment for each in qrels.jsonl"
)


_DATASET_FILES = "a dataset folder needs corpus.jsonl, queries.jsonl, qrels.jsonl"


def read_jsonl(path: Path, *, missing_hint: str = "") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a UTF-8 JSONL file; a DatasetError naming the
    file and line otherwise (`missing_hint` is added to the file-not-found message)."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        hint = f" ({missing_hint})" if missing_hint else ""
        raise DatasetError(f"{path}: file not found{hint}") from None
    with handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                yield lineno, row
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 ({exc.reason}); re-save the file as UTF-8") from None


def _field(row: dict[str, Any], name: str, path: Path, lineno: int, *, allow_empty: bool = False) -> str:
    if name not in row:
        raise DatasetError(f"{path}:{lineno}: missing field {name!r}")
    value = row[name]
    if not isinstance(value, str | int):
        raise DatasetError(f"{path}:{lineno}: field {name!r} must be a string")
    text = str(value)
    if not allow_empty and not text.strip():
        raise DatasetError(f"{path}:{lineno}: field {name!r} is empty")
    return text


def _spans(value: Any, path: Path, lineno: int, doc_len: int) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise DatasetError(f"{path}:{lineno}: 'spans' must be a list of [start, end] pairs")
    spans: list[tuple[int, int]] = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in item)
        ):
            raise DatasetError(f"{path}:{lineno}: 'spans' must be a list of [start, end] integer pairs")
        start, end = item
        if not 0 <= start <= end <= doc_len:
            raise DatasetError(
                f"{path}:{lineno}: span [{start}, {end}] is outside the document (length {doc_len})"
            )
        spans.append((start, end))
    return spans


def load_dataset(
    folder: Path,
    *,
    max_queries: int | None = None,
    include_unjudged: bool = False,
    for_retrieval: bool = False,
) -> RetrievalDataset:
    """Load a dataset folder. Queries without qrels are left out unless `include_unjudged` (a
    QA-only dataset, with answers but no qrels, is still good for generation metrics).
    `for_retrieval`: the dataset will be scored on retrieval, so an empty corpus, no queries or no
    judged query is an error that names the file, raised before any work starts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: not a dataset folder (expected corpus.jsonl, queries.jsonl, qrels.jsonl)"
        )
    corpus: list[Document] = []
    seen: set[str] = set()
    path = folder / "corpus.jsonl"
    for lineno, row in read_jsonl(path, missing_hint=_DATASET_FILES):
        doc_id = _field(row, "id", path, lineno)
        if doc_id in seen:
            raise DatasetError(f"{path}:{lineno}: duplicate document id {doc_id!r}")
        seen.add(doc_id)
        text = _field(row, "text", path, lineno, allow_empty=True)
        title = str(row.get("title") or "")
        corpus.append(Document(id=doc_id, text=text, title=title, source=f"{path}:{lineno}"))

    if for_retrieval and not corpus:
        raise DatasetError(
            f"{path}: no documents (the file is empty); retrieval needs a corpus to search: add one JSON "
            'object per line, {"id": "d1", "title": "…", "text": "…"}'
        )

    queries: list[Query] = []
    path = folder / "queries.jsonl"
    for lineno, row in read_jsonl(path, missing_hint=_DATASET_FILES):
        answers = row.get("answers") or []
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise DatasetError(f"{path}:{lineno}: 'answers' must be a list of strings")
        queries.append(
            Query(id=_field(row, "id", path, lineno), text=_field(row, "text", path, lineno), answers=answers)
        )

    queries_path = path
    if for_retrieval and not queries:
        raise DatasetError(_NO_QUERIES.format(path=queries_path))

    qrels: dict[str, dict[str, int]] = {}
    spans: dict[str, dict[str, list[tuple[int, int]]]] = {}
    doc_lengths = {d.id: len(d.text) for d in corpus}
    path = folder / "qrels.jsonl"
    query_ids = {q.id for q in queries}
    for lineno, row in read_jsonl(path, missing_hint=_DATASET_FILES):
        qid = _field(row, "query_id", path, lineno)
        did = _field(row, "doc_id", path, lineno)
        if not query_ids:  # the judgments are fine: the queries they judge are missing
            raise DatasetError(_NO_QUERIES.format(path=queries_path))
        if qid not in query_ids:
            raise DatasetError(f"{path}:{lineno}: unknown query_id {qid!r} (not in queries.jsonl)")
        if did not in seen:
            raise DatasetError(f"{path}:{lineno}: unknown doc_id {did!r} (not in corpus.jsonl)")
        try:
            score = int(row.get("score", 1))
        except (TypeError, ValueError):
            raise DatasetError(f"{path}:{lineno}: 'score' must be an integer") from None
        qrels.setdefault(qid, {})[did] = score
        if row.get("spans") is not None:
            spans.setdefault(qid, {})[did] = _spans(row["spans"], path, lineno, doc_lengths[did])

    if for_retrieval and not qrels:
        raise DatasetError(
            f"{path}: no relevance judgments (the file is empty), so no query can be scored; add one "
            'JSON object per line, {"query_id": "q1", "doc_id": "d1", "score": 1}, for the queries in '
            f"{queries_path.name}"
        )
    if not include_unjudged:
        queries = [q for q in queries if q.id in qrels]
    if max_queries is not None:
        queries = queries[:max_queries]
        qrels = {q.id: qrels[q.id] for q in queries if q.id in qrels}
        spans = {q.id: spans[q.id] for q in queries if q.id in spans}
    return RetrievalDataset(name=folder.name, corpus=corpus, queries=queries, qrels=qrels, spans=spans)
