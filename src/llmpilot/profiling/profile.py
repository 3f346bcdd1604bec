"""A data profile of loaded documents: what a user (and the data agent) needs to decide how to clean
them — sources, formats, languages, lengths, empty and duplicate documents, PII, boilerplate,
encoding damage, tables and tables of contents.

Every figure is computed from the texts alone and in one pass per check (no comparison of every
pair of documents), and the same documents always give the same JSON.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from llmpilot.profiling.boilerplate import BoilerplateEntry, find_boilerplate
from llmpilot.transforms.dedup import Deduplicator, exact_key
from llmpilot.transforms.language import detect_language
from llmpilot.transforms.pii import KINDS, redact
from llmpilot.types import Document

#: A stripped text shorter than this (and not empty) is "near empty".
NEAR_EMPTY_CHARS = 30
NEAR_DUPLICATE_THRESHOLD = 0.9
MAX_DUPLICATE_GROUPS = 10
MAX_EXAMPLES = 10
SNIPPET_CHARS = 60
#: Upper bounds (stripped characters) of the length histogram's buckets; the last is open.
LENGTH_BUCKETS = (0, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)
UNKNOWN_LANGUAGE = "unknown"
_UNDETECTED = frozenset({None, "", "und"})

_FORMAT_ALIASES = {"markdown": "md", "htm": "html", "text": "txt"}


# --- the profile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LengthStats:
    """Lengths in characters of each document's stripped text (what `filter_length` measures)."""

    min: int = 0
    p25: int = 0
    median: int = 0
    p75: int = 0
    p90: int = 0
    max: int = 0
    mean: float = 0.0
    #: [{"upto": bound or None (no bound), "count": documents}] from 0 up to the longest.
    histogram: list[dict[str, int | None]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "min": self.min,
            "p25": self.p25,
            "median": self.median,
            "p75": self.p75,
            "p90": self.p90,
            "max": self.max,
            "mean": self.mean,
            "histogram": [dict(bucket) for bucket in self.histogram],
        }


@dataclass(frozen=True)
class Duplicates:
    exact: int = 0
    near: int = 0
    #: Ids of documents that duplicate one another, the kept (first) one first.
    groups: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"exact": self.exact, "near": self.near, "groups": [list(g) for g in self.groups]}


@dataclass(frozen=True)
class EncodingExample:
    id: str
    problem: str  # "replacement_chars" | "mojibake" | "control_chars"
    snippet: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "problem": self.problem, "snippet": self.snippet}


@dataclass(frozen=True)
class EncodingReport:
    """Documents with each kind of encoding damage (a document may have several)."""

    replacement_chars: int = 0
    mojibake: int = 0
    control_chars: int = 0
    examples: list[EncodingExample] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replacement_chars": self.replacement_chars,
            "mojibake": self.mojibake,
            "control_chars": self.control_chars,
            "examples": [e.as_dict() for e in self.examples],
        }


@dataclass(frozen=True)
class DataProfile:
    documents: int
    sources: dict[str, int]
    formats: dict[str, int]
    languages: dict[str, int]
    lengths: LengthStats
    empty: list[str]
    near_empty: list[str]
    duplicates: Duplicates
    pii: dict[str, int]
    pii_documents: dict[str, int]
    boilerplate: list[BoilerplateEntry]
    encoding: EncodingReport
    tables: dict[str, Any]
    sections: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The profile as JSON-ready data, keys and lists in a fixed order."""
        return {
            "documents": self.documents,
            "sources": dict(self.sources),
            "formats": dict(self.formats),
            "languages": dict(self.languages),
            "lengths": self.lengths.as_dict(),
            "empty": list(self.empty),
            "near_empty": list(self.near_empty),
            "duplicates": self.duplicates.as_dict(),
            "pii": dict(self.pii),
            "pii_documents": dict(self.pii_documents),
            "boilerplate": [entry.as_dict() for entry in self.boilerplate],
            "encoding": self.encoding.as_dict(),
            "tables": {"documents": self.tables["documents"], "examples": list(self.tables["examples"])},
            "sections": {"toc": self.sections["toc"], "toc_examples": list(self.sections["toc_examples"])},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataProfile:
        """The profile back from `as_dict()` output (a stored profile.json)."""
        lengths = dict(data["lengths"])
        encoding = dict(data["encoding"])
        return cls(
            documents=int(data["documents"]),
            sources=dict(data["sources"]),
            formats=dict(data["formats"]),
            languages=dict(data["languages"]),
            lengths=LengthStats(**{**lengths, "histogram": [dict(b) for b in lengths["histogram"]]}),
            empty=list(data["empty"]),
            near_empty=list(data["near_empty"]),
            duplicates=Duplicates(**data["duplicates"]),
            pii=dict(data["pii"]),
            pii_documents=dict(data["pii_documents"]),
            boilerplate=[BoilerplateEntry.from_dict(e) for e in data["boilerplate"]],
            encoding=EncodingReport(
                replacement_chars=int(encoding["replacement_chars"]),
                mojibake=int(encoding["mojibake"]),
                control_chars=int(encoding["control_chars"]),
                examples=[EncodingExample(**e) for e in encoding["examples"]],
            ),
            tables=dict(data["tables"]),
            sections=dict(data["sections"]),
        )


def profile_documents(docs: Sequence[Document], *, formats: Mapping[str, str] | None = None) -> DataProfile:
    """Profile raw loaded documents. `formats` maps a document id to its format label ("csv",
    "md", "pdf", "sql" …); ids it lacks get one from their source (see `format_of`)."""
    docs = list(docs)
    lengths = [len(doc.text.strip()) for doc in docs]
    pii, pii_documents = pii_counts(docs)
    tables = [doc.id for doc in docs if is_table_like(doc.text)]
    tocs = [doc.id for doc in docs if has_toc(doc.text)]
    return DataProfile(
        documents=len(docs),
        sources=_ranked(source_unit(doc.source) for doc in docs),
        formats=_ranked(_format(doc, formats) for doc in docs),
        languages=_ranked(language_of(doc.text) for doc in docs),
        lengths=length_stats(lengths),
        empty=[doc.id for doc, n in zip(docs, lengths, strict=True) if n == 0],
        near_empty=[doc.id for doc, n in zip(docs, lengths, strict=True) if 0 < n < NEAR_EMPTY_CHARS],
        duplicates=find_duplicates(docs),
        pii=pii,
        pii_documents=pii_documents,
        boilerplate=find_boilerplate((doc.id, doc.text) for doc in docs),
        encoding=encoding_report(docs),
        tables={"documents": len(tables), "examples": tables[:MAX_EXAMPLES]},
        sections={"toc": len(tocs), "toc_examples": tocs[:MAX_EXAMPLES]},
    )


def _ranked(labels: Iterable[str]) -> dict[str, int]:
    """Counts, most frequent first, then by label (a stable order for the JSON)."""
    counts = Counter(labels)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# --- sources, formats, languages, lengths ----------------------------------------------------


def source_unit(source: str) -> str:
    """The source without its "#fragment" (a CSV row, a SQL row): the file or query it came from."""
    return source.split("#", 1)[0]


def format_of(source: str) -> str:
    """A format label from a source: "sql" for SQL sources, else the file extension
    ("md", "csv", "pdf" …), else "other"."""
    unit = source_unit(source)
    if unit.startswith("sql:") or "://" in unit:
        return "sql"
    suffix = PurePosixPath(unit.replace("\\", "/")).suffix.lower().lstrip(".")
    if not suffix:
        return "other"
    return _FORMAT_ALIASES.get(suffix, suffix)


def _format(doc: Document, formats: Mapping[str, str] | None) -> str:
    if formats is not None and doc.id in formats:
        return formats[doc.id]
    return format_of(doc.source)


def language_of(text: str) -> str:
    """detect_language's code, or "unknown" when it cannot tell (empty, short, unsure)."""
    code = detect_language(text)
    return UNKNOWN_LANGUAGE if code in _UNDETECTED else str(code)


def _percentile(ordered: Sequence[int], share: float) -> int:
    """Nearest-rank percentile: a length some document really has."""
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))
    return ordered[rank - 1]


def length_stats(lengths: Sequence[int]) -> LengthStats:
    if not lengths:
        return LengthStats()
    ordered = sorted(lengths)
    histogram: list[dict[str, int | None]] = []
    previous = -1
    for bound in (*LENGTH_BUCKETS, None):
        upper = ordered[-1] if bound is None else bound
        count = sum(1 for n in ordered if previous < n <= upper)
        histogram.append({"upto": bound, "count": count})
        if bound is None or bound >= ordered[-1]:
            break
        previous = bound
    return LengthStats(
        min=ordered[0],
        p25=_percentile(ordered, 0.25),
        median=_percentile(ordered, 0.5),
        p75=_percentile(ordered, 0.75),
        p90=_percentile(ordered, 0.9),
        max=ordered[-1],
        mean=round(sum(ordered) / len(ordered), 1),
        histogram=histogram,
    )


# --- duplicates and PII -----------------------------------------------------------------------


def find_duplicates(docs: Sequence[Document]) -> Duplicates:
    """What a `deduplicate` step would drop: exact duplicates (whitespace-normalised text equal to
    an earlier document's), then near duplicates (MinHash, as `deduplicate near=true`) of the rest."""
    first_with_key: dict[str, str] = {}
    near_index = Deduplicator(exact=False, near=True, threshold=NEAR_DUPLICATE_THRESHOLD)
    kept_of: dict[str, str] = {}  # a dropped document -> the kept one it duplicates
    groups: dict[str, list[str]] = {}
    exact = near = 0
    for doc in docs:
        key = exact_key(doc.text)
        original = first_with_key.get(key)
        if original is not None:
            exact += 1
        else:
            first_with_key[key] = doc.id
            original = near_index.find_duplicate(doc.text)
            if original is None:
                near_index.add(doc.id, doc.text)
                continue
            near += 1
        kept = kept_of.get(original, original)
        kept_of[doc.id] = kept
        groups.setdefault(kept, [kept]).append(doc.id)
    return Duplicates(exact=exact, near=near, groups=list(groups.values())[:MAX_DUPLICATE_GROUPS])


def pii_counts(docs: Iterable[Document]) -> tuple[dict[str, int], dict[str, int]]:
    """(matches per PII kind, documents with at least one) over every kind, in KINDS order."""
    hits = dict.fromkeys(KINDS, 0)
    documents = dict.fromkeys(KINDS, 0)
    for doc in docs:
        _, counts = redact(doc.text, KINDS, "[{kind}]")
        for kind, n in counts.items():
            hits[kind] += n
            documents[kind] += 1
    return hits, documents


# --- encoding damage --------------------------------------------------------------------------


def _continuation_chars() -> str:
    """How a UTF-8 continuation byte (0x80-0xBF) shows when the bytes are read as cp1252 or
    Latin-1: the second and third characters of mojibake."""
    chars = set(bytes(range(0x80, 0xC0)).decode("latin-1"))
    for byte in range(0x80, 0xC0):
        try:
            chars.add(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            continue  # undefined in cp1252: the Latin-1 (C1 control) reading covers it
    return "".join(sorted(chars))


_CONT = f"[{re.escape(_continuation_chars())}]"
#: UTF-8 read as cp1252/Latin-1: "Ã©" (é), "Â " (no-break space), "â€™" (’), and three-byte
#: sequences such as Hangul: "ì•ˆ" (안), "ë‹¤" (다). A lead character from Â-Ã or à-ï followed
#: by continuation characters hardly occurs in clean text, in any language.
_MOJIBAKE = re.compile(f"[\u00c2\u00c3]{_CONT}|[\u00e0-\u00ef]{_CONT}{_CONT}|\u00e2\u20ac")
#: C0 controls other than tab, newline and carriage return; C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x80-\x9f]")
_REPLACEMENT = re.compile("\ufffd")
_ENCODING_CHECKS = (("replacement_chars", _REPLACEMENT), ("mojibake", _MOJIBAKE), ("control_chars", _CONTROL))


def encoding_report(docs: Iterable[Document]) -> EncodingReport:
    counts = dict.fromkeys((name for name, _ in _ENCODING_CHECKS), 0)
    examples: list[EncodingExample] = []
    for doc in docs:
        for name, pattern in _ENCODING_CHECKS:
            match = pattern.search(doc.text)
            if match is None:
                continue
            counts[name] += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append(EncodingExample(doc.id, name, snippet(doc.text, match.start())))
    return EncodingReport(
        replacement_chars=counts["replacement_chars"],
        mojibake=counts["mojibake"],
        control_chars=counts["control_chars"],
        examples=examples,
    )


def snippet(text: str, at: int) -> str:
    """About SNIPPET_CHARS characters around `at` on one line, control characters shown as
    escapes (so the damage is visible in JSON and HTML)."""
    start = max(0, at - SNIPPET_CHARS // 3)
    piece = text[start : start + SNIPPET_CHARS]
    shown = "".join(_visible(ch) for ch in piece)
    return ("…" if start else "") + shown + ("…" if start + SNIPPET_CHARS < len(text) else "")


def _visible(ch: str) -> str:
    if ch in "\n\r\t":
        return " "
    if _CONTROL.match(ch):
        return f"\\x{ord(ch):02x}"
    return ch


# --- tables and tables of contents ------------------------------------------------------------

_ANY_DIGIT = re.compile(r"[0-9]")
_NUMBER = re.compile(r"^[-+(]?[$€£¥₩]?[0-9][0-9,]*(?:\.[0-9]+)?%?\)?$")
_TOC = re.compile(r"^(?:#+\s*)?(?:목차|차례|contents|table of contents)\s*:?$", re.IGNORECASE)
#: Lines in a row that make a table.
TABLE_ROWS = 3


def _separator_signature(line: str) -> tuple[str, int] | None:
    """("|", n) or ("\\t", n) when the line has n >= 2 such separators (a table row)."""
    for sep in ("|", "\t"):
        n = line.count(sep)
        if n >= 2:
            return (sep, n)
    return None


def _is_numeric_row(line: str) -> bool:
    if _ANY_DIGIT.search(line) is None:  # most lines: prose without figures
        return False
    cells = line.split()
    if len(cells) < 3:
        return False
    return sum(bool(_NUMBER.match(cell)) for cell in cells) * 2 >= len(cells)


def is_table_like(text: str) -> bool:
    """TABLE_ROWS consecutive lines with the same number (>= 2) of "|" or tab separators, or of
    >= 3 whitespace-separated columns, at least half of them numbers."""
    run_sig: tuple[str, int] | None = None
    sig_run = numeric_run = 0
    for line in text.split("\n"):
        sig = _separator_signature(line)
        sig_run = sig_run + 1 if sig is not None and sig == run_sig else (1 if sig is not None else 0)
        run_sig = sig
        numeric_run = numeric_run + 1 if _is_numeric_row(line) else 0
        if sig_run >= TABLE_ROWS or numeric_run >= TABLE_ROWS:
            return True
    return False


def has_toc(text: str) -> bool:
    """Whether a line is a table-of-contents heading (목차, 차례, Contents, Table of Contents)."""
    return any(_TOC.match(line.strip()) for line in text.split("\n"))
