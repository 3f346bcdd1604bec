"""Writing the canonical dataset folder: UTF-8 JSON Lines, non-ASCII as-is, one compact object per
line (the format of ../shared/data). Files are written beside their target and renamed into place."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llmpilot.evaluation.importers.model import DocRecord, QrelRecord, QueryRecord

REPORT_FILE = "import_report.json"


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def write_dataset(
    out: Path, docs: list[DocRecord], queries: list[QueryRecord], qrels: list[QrelRecord]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(
        out / "corpus.jsonl", ({"id": d.id, "title": d.title, "text": d.text, **d.extra} for d in docs)
    )
    _write_jsonl(
        out / "queries.jsonl",
        (
            {"id": q.id, "text": q.text, **({"answers": q.answers} if q.answers else {}), **q.extra}
            for q in queries
        ),
    )
    _write_jsonl(
        out / "qrels.jsonl",
        (
            {
                "query_id": r.query_id,
                "doc_id": r.doc_id,
                "score": r.score,
                **({"spans": [list(s) for s in r.spans]} if r.spans else {}),
            }
            for r in qrels
        ),
    )


def write_report(out: Path, report: dict[str, Any]) -> None:
    tmp = out / f".{REPORT_FILE}.tmp"
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / REPORT_FILE)
