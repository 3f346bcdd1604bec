"""JSON Lines dataset folders: llmpilot's own format (validated and copied) and BEIR's
(corpus.jsonl/queries.jsonl with `_id`, qrels/<split>.tsv)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmpilot.evaluation.importers.model import (
    Collected,
    DocRecord,
    QrelRecord,
    QueryRecord,
    Where,
)
from llmpilot.evaluation.importers.textio import as_text, parse_score, read_jsonl, read_text

_BEIR_HEADER = ["query-id", "corpus-id", "score"]


def _required_text(
    row: dict[str, Any], names: tuple[str, ...], errors: list[str], *, allow_empty: bool = False
) -> str:
    """The first of `names` present in `row`, as text; an error is added when missing/empty/not text."""
    for name in names:
        if name in row:
            value = as_text(row[name])
            if value is None:
                errors.append(f"field {name!r} must be a string, got {type(row[name]).__name__}")
                return ""
            if not allow_empty and not value.strip():
                errors.append(f"field {name!r} is empty")
            return value
    found = ", ".join(sorted(row)) or "none"
    errors.append(f"missing field {names[0]!r} (fields found: {found})")
    return ""


def read_corpus_jsonl(path: Path, out: Collected, id_fields: tuple[str, ...] = ("id", "_id")) -> None:
    """Documents {id|_id, title?, text}; other fields are kept as they are."""
    text = read_text(path, out.fatal, out.encodings)
    if text is None:
        return
    for where, row in read_jsonl(text, str(path), out.problems):
        errors: list[str] = []
        doc_id = _required_text(row, id_fields, errors)
        body = _required_text(row, ("text",), errors, allow_empty=True)
        title = row.get("title")
        if title is not None and not isinstance(title, str):
            errors.append(f"field 'title' must be a string, got {type(title).__name__}")
        if errors:
            out.problems.append(where.problem("; ".join(errors)))
            continue
        extra = {k: v for k, v in row.items() if k not in {*id_fields, "title", "text"}}
        out.docs.append(DocRecord(doc_id, body, where, title=title or "", extra=extra))


def read_queries_jsonl(path: Path, out: Collected, id_fields: tuple[str, ...] = ("id", "_id")) -> None:
    """Queries {id|_id, text, answers?: [str]}; other fields are kept as they are."""
    text = read_text(path, out.fatal, out.encodings)
    if text is None:
        return
    for where, row in read_jsonl(text, str(path), out.problems):
        errors: list[str] = []
        qid = _required_text(row, id_fields, errors)
        query = _required_text(row, ("text",), errors)
        answers = row.get("answers")
        if answers is None:
            answers = []
        elif not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            errors.append("'answers' must be a list of strings")
        elif any(not a.strip() for a in answers):
            errors.append("'answers' holds an empty answer")
        if errors:
            out.problems.append(where.problem("; ".join(errors)))
            continue
        extra = {k: v for k, v in row.items() if k not in {*id_fields, "text", "answers"}}
        out.queries.append(QueryRecord(qid, query, where, answers=list(answers), extra=extra))


def _spans(value: Any) -> list[tuple[int, int]] | str:
    if not isinstance(value, list):
        return "'spans' must be a list of [start, end] pairs"
    spans: list[tuple[int, int]] = []
    for item in value:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in item)
            and 0 <= item[0] <= item[1]
        ):
            return f"'spans' must hold [start, end] integer pairs with 0 <= start <= end, got {item!r}"
        spans.append((item[0], item[1]))
    return spans


def read_qrels_jsonl(path: Path, out: Collected) -> None:
    text = read_text(path, out.fatal, out.encodings)
    if text is None:
        return
    for where, row in read_jsonl(text, str(path), out.problems):
        errors: list[str] = []
        qid = _required_text(row, ("query_id",), errors)
        did = _required_text(row, ("doc_id",), errors)
        score = parse_score(row.get("score", 1))
        if score is None:
            errors.append(f"'score' must be an integer, got {row.get('score')!r}")
        spans = _spans(row["spans"]) if row.get("spans") is not None else None
        if isinstance(spans, str):
            errors.append(spans)
        if errors or score is None or isinstance(spans, str):
            out.problems.append(where.problem("; ".join(errors)))
            continue
        out.qrels.append(QrelRecord(qid, did, where, score=score, spans=spans))


def read_llmpilot(folder: Path) -> Collected:
    """Our own folder format: corpus.jsonl, queries.jsonl, qrels.jsonl."""
    out = Collected(corpus_name="corpus.jsonl")
    read_corpus_jsonl(folder / "corpus.jsonl", out, ("id",))
    read_queries_jsonl(folder / "queries.jsonl", out, ("id",))
    read_qrels_jsonl(folder / "qrels.jsonl", out)
    judged = {q.query_id for q in out.qrels}
    unjudged = [q.id for q in out.queries if q.id not in judged]
    if unjudged and out.qrels:
        out.notes.append(
            f"{len(unjudged)} queries have no qrels (kept; retrieval metrics skip them): {_few(unjudged)}"
        )
    return out


def beir_splits(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))


def read_beir(folder: Path, split: str | None) -> Collected:
    """A BEIR folder; qrels come from qrels/<split>.tsv (test unless `split` says otherwise), and
    only the queries judged in that split are imported (BEIR's queries.jsonl holds every split)."""
    out = Collected(corpus_name="corpus.jsonl")
    split = split or "test"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = ", ".join(beir_splits(folder)) or "none"
        out.fatal.append(
            Where(str(qrels_path)).problem(
                f"no qrels for split {split!r} (splits found: {available}); use --split"
            )
        )
        return out
    read_corpus_jsonl(folder / "corpus.jsonl", out, ("_id", "id"))
    read_queries_jsonl(folder / "queries.jsonl", out, ("_id", "id"))
    _read_qrels_tsv(qrels_path, out)
    judged = {q.query_id for q in out.qrels}
    outside = [q for q in out.queries if q.id not in judged]
    if outside:
        out.queries = [q for q in out.queries if q.id in judged]
        out.notes.append(
            f"{len(outside)} queries of queries.jsonl are not judged in split {split!r} and were left out "
            f"(other splits: {', '.join(s for s in beir_splits(folder) if s != split) or 'none'})"
        )
    out.notes.append(f"BEIR split {split!r} ({qrels_path})")
    return out


def _read_qrels_tsv(path: Path, out: Collected) -> None:
    """`query-id corpus-id score` (tab-separated, with BEIR's header) or TREC `qid 0 docid score`."""
    text = read_text(path, out.fatal, out.encodings)
    if text is None:
        return
    file = str(path)
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = Where(file, lineno)
        fields = line.rstrip("\r").split("\t")
        if len(fields) == 1:
            fields = line.split()
        if lineno == 1 and [f.strip().lower() for f in fields] == _BEIR_HEADER:
            continue
        if len(fields) == 4:
            fields = [fields[0], fields[2], fields[3]]  # TREC qrels: qid iteration docid relevance
        if len(fields) != 3:
            out.problems.append(
                where.problem(
                    f"expected 3 tab-separated fields (query-id corpus-id score), got {len(fields)}"
                )
            )
            continue
        qid, did, raw_score = (f.strip() for f in fields)
        errors = []
        if not qid:
            errors.append("empty query-id")
        if not did:
            errors.append("empty corpus-id")
        score = parse_score(raw_score)
        if score is None:
            errors.append(f"score {raw_score!r} is not an integer")
        if errors or score is None:
            out.problems.append(where.problem("; ".join(errors)))
            continue
        out.qrels.append(QrelRecord(qid, did, where, score=score))


def _few(ids: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:n])
    return shown + (f", … ({len(ids) - n} more)" if len(ids) > n else "")
