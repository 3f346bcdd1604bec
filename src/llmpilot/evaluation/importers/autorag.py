"""AutoRAG parquet datasets: corpus.parquet (doc_id, contents, metadata) and qa.parquet (qid, query,
retrieval_gt, generation_gt), the schema AutoRAG's `cast_qa_dataset`/`cast_corpus_dataset` accept.

retrieval_gt is AutoRAG's "AND of ORs" (a list of groups of doc ids; a 1-D list or a single id is
also allowed); relevance here is per document, so every listed id becomes a qrel with score 1.
generation_gt is a list of reference answers (or one string). Rows are numbered from 1."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from llmpilot.evaluation.importers.model import Collected, DocRecord, QrelRecord, QueryRecord, Where
from llmpilot.evaluation.importers.textio import as_text
from llmpilot.extras import requires_extra

QA_COLUMNS = ("qid", "query", "retrieval_gt", "generation_gt")
CORPUS_COLUMNS = ("doc_id", "contents")


def _kind(data_type: Any) -> str:
    """A pyarrow type reduced to what the schema check needs: str, int, null, list[...] or its name."""
    with requires_extra("eval", "Importing AutoRAG parquet"):
        import pyarrow as pa

    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "str"
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(data_type):
        return "str"
    if pa.types.is_integer(data_type):
        return "int"
    if pa.types.is_null(data_type):
        return "null"
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return f"list[{_kind(data_type.value_type)}]"
    return str(data_type)


_ALLOWED: dict[str, set[str]] = {
    "doc_id": {"str", "int"},
    "contents": {"str"},
    "qid": {"str", "int"},
    "query": {"str"},
    "retrieval_gt": {"str", "list[str]", "list[list[str]]", "list[null]", "list[list[null]]", "null"},
    "generation_gt": {"str", "list[str]", "list[null]", "null"},
}


def _read_table(path: Path, required: tuple[str, ...], out: Collected) -> list[dict[str, Any]] | None:
    with requires_extra("eval", "Importing AutoRAG parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

    file = str(path)
    if not path.is_file():
        out.fatal.append(Where(file).problem("file not found"))
        return None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        out.fatal.append(Where(file).problem(f"not a readable parquet file ({exc})"))
        return None
    found = table.schema.names
    missing = [c for c in required if c not in found]
    if missing:
        out.fatal.append(
            Where(file).problem(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                f"(columns found: {', '.join(found) or 'none'}; AutoRAG needs {', '.join(required)})"
            )
        )
        return None
    bad = False
    for name in required:
        kind = _kind(table.schema.field(name).type)
        if kind not in _ALLOWED[name]:
            out.fatal.append(
                Where(file).problem(
                    f"column {name!r} has type {table.schema.field(name).type}, "
                    f"expected {' or '.join(sorted(_ALLOWED[name]))}"
                )
            )
            bad = True
    return None if bad else table.to_pylist()


def _metadata(value: Any) -> dict[str, Any]:
    """AutoRAG metadata as JSON-safe values (timestamps as ISO text); nested values are dropped."""
    if not isinstance(value, dict):
        return {}
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, datetime | date):
            kept[key] = item.isoformat()
        elif isinstance(item, str | int | float | bool):
            kept[key] = item
    return kept


def _doc_ids(value: Any) -> list[str] | str:
    """retrieval_gt flattened in order (duplicates removed), or an error message."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if not isinstance(value, list):
        return f"retrieval_gt must be a doc id or a (nested) list of doc ids, got {type(value).__name__}"
    ids: list[str] = []
    for group in value:
        items = group if isinstance(group, list) else [group]
        for item in items:
            if not isinstance(item, str) or not item.strip():
                return f"retrieval_gt holds {item!r}; every entry must be a non-empty doc id"
            ids.append(item)
    return list(dict.fromkeys(ids))


def _answers(value: Any) -> list[str] | str:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return "generation_gt must be a string or a list of strings"
    if any(not v.strip() for v in values):
        return "generation_gt holds an empty answer"
    return list(values)


def read_corpus_parquet(path: Path, out: Collected) -> None:
    rows = _read_table(path, CORPUS_COLUMNS, out)
    for rowno, row in enumerate(rows or [], start=1):
        where = Where(str(path), rowno, "row")
        doc_id = as_text(row["doc_id"])
        errors = []
        if doc_id is None or not doc_id.strip():
            errors.append("doc_id is empty")
        if row["contents"] is None:
            errors.append("contents is null")
        if errors or doc_id is None:
            out.problems.append(where.problem("; ".join(errors)))
            continue
        extra = {"metadata": meta} if (meta := _metadata(row.get("metadata"))) else {}
        out.docs.append(DocRecord(doc_id, row["contents"], where, extra=extra))


def read_autorag(qa_path: Path, corpus_path: Path) -> Collected:
    out = Collected(corpus_name=corpus_path.name)
    read_corpus_parquet(corpus_path, out)
    qa = _read_table(qa_path, QA_COLUMNS, out)
    if out.fatal or qa is None:
        return out

    no_gt: list[str] = []
    grouped = 0
    for rowno, row in enumerate(qa, start=1):
        where = Where(str(qa_path), rowno, "row")
        errors = []
        qid = as_text(row["qid"])
        if qid is None or not qid.strip():
            errors.append("qid is empty")
        query = row["query"]
        if query is None or not query.strip():
            errors.append("query is empty")
        doc_ids = _doc_ids(row["retrieval_gt"])
        if isinstance(doc_ids, str):
            errors.append(doc_ids)
        answers = _answers(row["generation_gt"])
        if isinstance(answers, str):
            errors.append(answers)
        if errors or qid is None or isinstance(doc_ids, str) or isinstance(answers, str):
            out.problems.append(where.problem("; ".join(errors)))
            continue
        out.queries.append(QueryRecord(qid, query, where, answers=answers))
        out.qrels.extend(QrelRecord(qid, did, where) for did in doc_ids)
        if not doc_ids:
            no_gt.append(qid)
        if len(doc_ids) > 1:
            grouped += 1
    if grouped:
        out.notes.append(
            f"{grouped} queries list several retrieval_gt documents; AutoRAG's AND/OR groups are "
            "flattened: each listed document counts as relevant (score 1)"
        )
    if no_gt:
        out.notes.append(
            f"{len(no_gt)} queries have an empty retrieval_gt: kept for generation metrics, "
            "ignored by retrieval metrics"
        )
    return out
