"""The `--corpus` of a CSV/XLSX import (a folder or file read by llmpilot's file loaders, a
corpus.jsonl, or an AutoRAG corpus.parquet), and finding a context string inside its documents."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

from llmpilot.evaluation.importers.folders import read_corpus_jsonl
from llmpilot.evaluation.importers.model import Collected, DocRecord, Problem, Where


@dataclass
class Corpus:
    docs: list[DocRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encodings: dict[str, str] = field(default_factory=dict)
    #: Other spellings of doc ids (the id without the folder name discover_files puts first).
    aliases: dict[str, str] = field(default_factory=dict)

    def resolve(self, doc_id: str) -> str:
        return self.aliases.get(doc_id, doc_id)


def load_corpus(path: Path) -> Corpus:
    corpus = Corpus()
    jsonl = path / "corpus.jsonl" if path.is_dir() else path
    if jsonl.suffix.lower() == ".jsonl" and jsonl.is_file():
        collected = Collected()
        read_corpus_jsonl(jsonl, collected)
        _take(corpus, collected)
    elif path.suffix.lower() == ".parquet" and path.is_file():
        from llmpilot.evaluation.importers.autorag import read_corpus_parquet

        collected = Collected()
        read_corpus_parquet(path, collected)
        _take(corpus, collected)
    elif path.exists():
        _load_files(path, corpus)
    else:
        corpus.fatal.append(Where(str(path)).problem("--corpus: no such file or folder"))
    return corpus


def _take(corpus: Corpus, collected: Collected) -> None:
    corpus.docs, corpus.problems, corpus.fatal = collected.docs, collected.problems, collected.fatal
    corpus.encodings = collected.encodings


def _load_files(path: Path, corpus: Corpus) -> None:
    """Documents exactly as `llmpilot ingest PATH` would load them (ids like "docs/a.md")."""
    from llmpilot.errors import SourceError
    from llmpilot.sources.files import discover_files

    found = discover_files([path])
    corpus.fatal.extend(Where(e.source).problem(e.reason) for e in found.errors)
    if found.skipped:
        shown = ", ".join(found.skipped[:5]) + (" …" if len(found.skipped) > 5 else "")
        corpus.notes.append(f"--corpus: {len(found.skipped)} files of unsupported types ignored: {shown}")
    for unit in found.units:
        try:
            result = unit.load()
        except SourceError as exc:
            corpus.problems.append(Where(exc.source).problem(exc.reason))
            continue
        corpus.problems.extend(Where(p.source).problem(p.reason) for p in result.problems)
        corpus.docs.extend(
            DocRecord(d.id, d.text, Where(d.source or unit.key), title=d.title) for d in result.documents
        )
    if path.is_dir():
        # discover_files ids start with the folder's own name; users often write ids without it.
        prefix = f"{path.resolve().name}/"
        for record in corpus.docs:
            if record.id.startswith(prefix):
                corpus.aliases.setdefault(record.id[len(prefix) :], record.id)
    if not found.units and not corpus.fatal:
        corpus.fatal.append(Where(str(path)).problem("--corpus holds no supported documents"))


class SpanFinder:
    """Where a context string occurs in a set of documents, as character spans per document.

    All texts are joined (NUL-separated) so that one C-level scan per context covers the corpus.
    A context that does not occur verbatim is retried with any run of whitespace matching any other
    (contexts copied out of PDFs and spreadsheets differ mostly in line breaks)."""

    def __init__(self, docs: list[DocRecord]) -> None:
        self._ids = [d.id for d in docs]
        self._starts: list[int] = []
        parts: list[str] = []
        pos = 0
        for doc in docs:
            self._starts.append(pos)
            text = doc.text.replace("\0", " ")
            parts.append(text)
            pos += len(text) + 1
        self._text = "\0".join(parts)
        self._by_id = {d.id: i for i, d in enumerate(docs)}

    def has(self, doc_id: str) -> bool:
        return doc_id in self._by_id

    def find(self, needle: str, doc_id: str | None = None) -> dict[str, list[tuple[int, int]]]:
        """doc id -> spans of `needle` (only in `doc_id` when given)."""
        needle = needle.strip().replace("\0", " ")
        if not needle:
            return {}
        lo, hi = 0, len(self._text)
        if doc_id is not None:
            index = self._by_id.get(doc_id)
            if index is None:
                return {}
            lo = self._starts[index]
            hi = self._starts[index + 1] - 1 if index + 1 < len(self._starts) else len(self._text)
        found: dict[str, list[tuple[int, int]]] = {}
        for start, end in self._exact(needle, lo, hi) or self._loose(needle, lo, hi):
            index = bisect.bisect_right(self._starts, start) - 1
            base = self._starts[index]
            found.setdefault(self._ids[index], []).append((start - base, end - base))
        return found

    def _exact(self, needle: str, lo: int, hi: int) -> list[tuple[int, int]]:
        spans = []
        at = self._text.find(needle, lo, hi)
        while at != -1:
            spans.append((at, at + len(needle)))
            at = self._text.find(needle, at + len(needle), hi)
        return spans

    def _loose(self, needle: str, lo: int, hi: int) -> list[tuple[int, int]]:
        pattern = re.compile(r"\s+".join(re.escape(word) for word in needle.split()))
        return [(m.start(), m.end()) for m in pattern.finditer(self._text, lo, hi)]
