"""Checks across records: duplicate ids, qrels naming unknown queries/documents, spans outside their
document. A bad qrel that came from its query's own row (AutoRAG, CSV) takes the whole row out, so a
query is never kept with only part of its ground truth."""

from __future__ import annotations

from dataclasses import dataclass

from llmpilot.evaluation.importers.model import Collected, DocRecord, Problem, QrelRecord, QueryRecord, Where


@dataclass
class Checked:
    docs: list[DocRecord]
    queries: list[QueryRecord]
    qrels: list[QrelRecord]
    problems: list[Problem]
    notes: list[str]


def cross_check(collected: Collected) -> Checked:
    problems: list[Problem] = []
    docs: list[DocRecord] = []
    first_doc: dict[str, Where] = {}
    for doc in collected.docs:
        if doc.id in first_doc:
            problems.append(
                doc.where.problem(f"duplicate document id {doc.id!r} (first at {first_doc[doc.id]})")
            )
            continue
        first_doc[doc.id] = doc.where
        docs.append(doc)

    queries: list[QueryRecord] = []
    first_query: dict[str, Where] = {}
    # Rows left out: their qrels go too (AutoRAG and CSV rows carry a query and its qrels).
    bad_rows: set[Where] = set()
    for query in collected.queries:
        if query.id in first_query:
            problems.append(
                query.where.problem(f"duplicate query id {query.id!r} (first at {first_query[query.id]})")
            )
            bad_rows.add(query.where)
            continue
        first_query[query.id] = query.where
        queries.append(query)

    lengths = {d.id: len(d.text) for d in docs}
    examples = ", ".join(repr(d.id) for d in docs[:3])
    hint = f"; its ids look like {examples}" if examples else "; it is empty"
    qrels: list[QrelRecord] = []
    first_qrel: dict[tuple[str, str], Where] = {}
    for qrel in collected.qrels:
        if qrel.where in bad_rows:
            continue  # its row is reported already
        errors = []
        if qrel.query_id not in first_query:
            errors.append(f"unknown query_id {qrel.query_id!r} (not among the queries)")
        if qrel.doc_id not in lengths:
            errors.append(f"unknown doc_id {qrel.doc_id!r} (not in {collected.corpus_name}{hint})")
        elif qrel.spans:
            outside = [s for s in qrel.spans if s[1] > lengths[qrel.doc_id]]
            if outside:
                errors.append(
                    f"span {list(outside[0])} is outside document {qrel.doc_id!r} "
                    f"(length {lengths[qrel.doc_id]})"
                )
        pair = (qrel.query_id, qrel.doc_id)
        if pair in first_qrel:
            errors.append(
                f"duplicate qrel for query {pair[0]!r} and doc {pair[1]!r} (first at {first_qrel[pair]})"
            )
        if errors:
            problems.append(qrel.where.problem("; ".join(errors)))
            bad_rows.add(qrel.where)
            continue
        first_qrel[pair] = qrel.where
        qrels.append(qrel)

    dropped = {q.id for q in queries if q.where in bad_rows}
    queries = [q for q in queries if q.id not in dropped]
    qrels = [r for r in qrels if r.query_id not in dropped and r.where not in bad_rows]

    notes = []
    judged_before = {r.query_id for r in collected.qrels}
    judged_after = {r.query_id for r in qrels}
    lost = [q.id for q in queries if q.id in judged_before and q.id not in judged_after]
    if lost:
        notes.append(
            f"{len(lost)} queries lost every qrel to the problems listed; kept for generation metrics, "
            f"ignored by retrieval metrics: {', '.join(map(repr, lost[:5]))}{' …' if len(lost) > 5 else ''}"
        )
    return Checked(docs, queries, qrels, problems, notes)
