"""CSV/TSV/XLSX eval sets: `question,answer[,context|doc_id]` (optionally an `id` column).

- `context`: the distinct contexts become the corpus (ids "ctx-" + a hash of the text, stable
  across re-imports and row order) and each question's qrel points at its context. With
  `--corpus`, contexts are instead located inside the corpus documents, and the qrels point at the
  documents that contain them, with the character spans.
- `doc_id`: ids of documents in `--corpus` (several separated by ";"); with a `context` column too,
  the context is located inside those documents for spans.
- neither: a QA-only dataset (answers, no qrels), good for generation metrics only.

Query ids come from the `id` column, else "q<line>" (the source line, or spreadsheet row).
Rows with the same question (and id) are merged: their answers and relevant documents add up."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from llmpilot.evaluation.importers.corpus import SpanFinder, load_corpus
from llmpilot.evaluation.importers.model import Collected, DocRecord, QrelRecord, QueryRecord, Where
from llmpilot.evaluation.importers.textio import Table, read_csv, read_xlsx

#: Accepted header names (case-insensitive), first one is the canonical name.
COLUMNS: dict[str, tuple[str, ...]] = {
    "question": ("question", "query", "질문", "질의"),
    "answer": ("answer", "answers", "정답", "답변"),
    "context": ("context", "passage", "문맥", "근거"),
    "doc_id": ("doc_id", "document_id", "문서_id", "문서id"),
    "id": ("id", "qid", "query_id"),
}


def _pick(table: Table, role: str) -> str | None:
    names = COLUMNS[role]
    return next((c for c in table.columns if c in names), None)


def context_id(text: str) -> str:
    return "ctx-" + hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:12]


def read_table_dataset(path: Path, *, corpus_path: Path | None) -> Collected:
    out = Collected(corpus_name="--corpus")
    is_xlsx = path.suffix.lower() in {".xlsx", ".xlsm"}
    table = read_xlsx(path, out.fatal) if is_xlsx else read_csv(path, out.fatal, out.encodings)
    if table is None:
        return out
    question, answer = _pick(table, "question"), _pick(table, "answer")
    context, doc_col, id_col = _pick(table, "context"), _pick(table, "doc_id"), _pick(table, "id")
    missing = [role for role, col in (("question", question), ("answer", answer)) if col is None]
    if missing:
        out.fatal.append(
            Where(str(path)).problem(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                f"(columns found: {', '.join(repr(c) for c in table.columns if c) or 'none'}; expected "
                "question,answer[,context|doc_id]; 질문/정답/문맥 also work)"
            )
        )
        return out
    assert question is not None and answer is not None
    if doc_col is not None and corpus_path is None:
        out.fatal.append(
            Where(str(path)).problem(
                f"column {doc_col!r} names documents: give them with --corpus FILE_OR_DIR "
                "(a folder of documents, a corpus.jsonl or corpus.parquet)"
            )
        )
        return out

    finder: SpanFinder | None = None
    resolve: Callable[[str], str] = str
    if corpus_path is not None:
        corpus = load_corpus(corpus_path)
        out.docs, out.fatal, out.notes = corpus.docs, corpus.fatal + out.fatal, corpus.notes
        out.problems.extend(corpus.problems)
        out.encodings.update(corpus.encodings)
        resolve = corpus.resolve
        if out.fatal:
            return out
        if context is not None:
            finder = SpanFinder(out.docs)

    by_key: dict[tuple[str, str], QueryRecord] = {}
    contexts: dict[str, DocRecord] = {}
    seen_qrels: set[tuple[str, str]] = set()
    for where, row in table.rows:
        errors = []
        text = row[question].strip()
        reference = row[answer].strip()
        if not text:
            errors.append(f"empty {question!r}")
        if not reference:
            errors.append(f"empty {answer!r}")
        ctx = row[context].strip() if context else ""
        if context and not doc_col and not ctx:
            errors.append(f"empty {context!r} (give the passage the answer comes from)")
        doc_ids = [resolve(d.strip()) for d in row[doc_col].split(";") if d.strip()] if doc_col else []
        if doc_col and not doc_ids:
            errors.append(f"empty {doc_col!r}")
        qid = row[id_col].strip() if id_col else f"q{where.line}"
        if id_col and not qid:
            errors.append(f"empty {id_col!r}")
        if errors:
            out.problems.append(where.problem("; ".join(errors)))
            continue

        # The row's relevant documents, with evidence spans where the context pins them down.
        relevant: dict[str, list[tuple[int, int]] | None] = {}
        if doc_ids:
            for did in doc_ids:
                spans = finder.find(ctx, did).get(did) if finder and ctx else None
                if finder and ctx and not spans and finder.has(did):
                    out.warnings.append(
                        where.problem(f"context not found in document {did!r}; qrel kept without spans")
                    )
                relevant[did] = spans
        elif ctx and finder is not None:
            found = finder.find(ctx)
            if not found:
                out.problems.append(
                    where.problem(f"context not found in any document of --corpus: {_preview(ctx)!r}")
                )
                continue
            relevant.update(found)
        elif ctx:
            did = context_id(ctx)
            if did not in contexts:
                contexts[did] = DocRecord(did, ctx, where)
            relevant[did] = None

        key = (qid if id_col else "", text)
        query = by_key.get(key)
        if query is None:
            query = QueryRecord(qid, text, where, answers=[])
            by_key[key] = query
            out.queries.append(query)
        else:
            out.notes.append(
                f"{where}: same question as {query.where}; merged (answers and documents add up)"
            )
        if reference not in query.answers:
            query.answers.append(reference)
        for did, spans in relevant.items():
            if (qid, did) not in seen_qrels:
                seen_qrels.add((qid, did))
                out.qrels.append(QrelRecord(qid, did, where, spans=spans))

    out.docs.extend(contexts.values())
    if context is None and doc_col is None:
        out.notes.append(
            "QA-only dataset (no context or doc_id column): answers but no qrels; "
            "usable for generation metrics, not retrieval metrics"
        )
    return out


def _preview(text: str, n: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"
