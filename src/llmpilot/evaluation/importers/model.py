"""What every importer produces: records tagged with where they came from, and problems that name
the file and line (text files) or row (parquet, spreadsheets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmpilot.errors import DatasetError

Unit = Literal["line", "row"]


@dataclass(frozen=True)
class Where:
    """A place in a source file: `line` is a 1-based line (CSV/JSONL/TSV) or row (parquet: 1 = the
    first row; XLSX: the spreadsheet's own row number); None means the whole file."""

    file: str
    line: int | None = None
    unit: Unit = "line"

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}" if self.unit == "line" else f"{self.file} row {self.line}"

    def problem(self, message: str) -> Problem:
        return Problem(self, message)


@dataclass(frozen=True)
class Problem:
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.where.file, self.where.unit: self.where.line, "message": self.message}


@dataclass
class DocRecord:
    id: str
    text: str
    where: Where
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class QueryRecord:
    id: str
    text: str
    where: Where
    answers: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class QrelRecord:
    query_id: str
    doc_id: str
    where: Where
    score: int = 1
    spans: list[tuple[int, int]] | None = None


@dataclass
class Collected:
    """A reader's output before cross-checks. Rows with problems are already left out of the
    records; `fatal` problems (a missing file or column) stop the import whatever the options."""

    docs: list[DocRecord] = field(default_factory=list)
    queries: list[QueryRecord] = field(default_factory=list)
    qrels: list[QrelRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: file -> the text encoding it was read with (text files only).
    encodings: dict[str, str] = field(default_factory=dict)
    #: How "unknown doc_id" problems name the corpus.
    corpus_name: str = "the corpus"


@dataclass(frozen=True)
class ImportReport:
    source: Path
    out: Path
    format: str
    documents: int
    queries: int
    qrels: int
    #: Queries with at least one qrel (the ones retrieval metrics use).
    judged_queries: int
    #: Qrels that carry evidence character spans.
    qrels_with_spans: int
    #: Rows left out (only with skip_invalid; otherwise any problem fails the import).
    skipped: list[Problem]
    #: Not errors, but worth a look (e.g. a context not found verbatim in its document).
    warnings: list[Problem]
    notes: list[str]
    encodings: dict[str, str]

    @property
    def qa_only(self) -> bool:
        """No qrels: answers only, usable for generation metrics but not retrieval metrics."""
        return self.qrels == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "out": str(self.out),
            "format": self.format,
            "documents": self.documents,
            "queries": self.queries,
            "qrels": self.qrels,
            "judged_queries": self.judged_queries,
            "qrels_with_spans": self.qrels_with_spans,
            "qa_only": self.qa_only,
            "skipped": [p.to_json() for p in self.skipped],
            "warnings": [p.to_json() for p in self.warnings],
            "notes": self.notes,
            "encodings": self.encodings,
        }


class DatasetImportError(DatasetError):
    """An import failed; `problems` lists every problem found (each names its file and line/row)."""

    def __init__(self, source: Path, problems: list[Problem], *, hint: str = "", fatal: bool = False) -> None:
        self.source = source
        self.problems = problems
        #: True when a whole file is unusable (skipping rows would not help).
        self.fatal = fatal
        head = f"{source}: cannot import, {len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"  {p}" for p in problems]
        tail = [hint] if hint else []
        super().__init__("\n".join([head + ":", *lines, *tail]))
