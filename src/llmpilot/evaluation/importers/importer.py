"""`import_dataset`: any supported eval-set format -> a validated dataset folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from llmpilot.errors import DatasetError
from llmpilot.evaluation.importers.autorag import read_autorag
from llmpilot.evaluation.importers.checks import cross_check
from llmpilot.evaluation.importers.folders import read_beir, read_llmpilot
from llmpilot.evaluation.importers.model import Collected, DatasetImportError, ImportReport, Problem, Where
from llmpilot.evaluation.importers.table import read_table_dataset
from llmpilot.evaluation.importers.writer import REPORT_FILE, write_dataset, write_report

#: llmpilot: corpus/queries/qrels JSONL; beir: corpus/queries JSONL + qrels/<split>.tsv;
#: autorag: qa.parquet + corpus.parquet; csv (also .tsv) and xlsx: question,answer[,context|doc_id].
FORMATS: tuple[str, ...] = ("llmpilot", "beir", "autorag", "csv", "xlsx")

_EXPECTED = (
    "expected a dataset folder (corpus.jsonl, queries.jsonl, qrels.jsonl), a BEIR folder (qrels/test.tsv), "
    "an AutoRAG folder (qa.parquet + corpus.parquet) or a .csv/.tsv/.xlsx file"
)


def detect_format(src: Path) -> str:
    """The format of `src`, from file names only (contents are checked by the importer)."""
    src = Path(src)
    if src.is_file():
        suffix = src.suffix.lower()
        if suffix in {".csv", ".tsv"}:
            return "csv"
        if suffix in {".xlsx", ".xlsm"}:
            return "xlsx"
        if suffix == ".parquet":
            return "autorag"
        if suffix == ".xls":
            raise DatasetError(f"{src}: old-style .xls workbooks are not supported; save it as .xlsx or CSV")
        raise DatasetError(
            f"{src}: cannot tell the format from the extension {suffix or '(none)'}; {_EXPECTED}"
        )
    if not src.is_dir():
        raise DatasetError(f"{src}: no such file or folder")
    if (src / "qrels.jsonl").is_file():
        return "llmpilot"
    if (src / "qrels").is_dir() and any((src / "qrels").glob("*.tsv")):
        return "beir"
    if (src / "qa.parquet").is_file():
        return "autorag"
    found = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in src.iterdir())[:12]) or "nothing"
    raise DatasetError(f"{src}: cannot tell the dataset format (found: {found}); {_EXPECTED}")


def _read(src: Path, fmt: str, split: str | None, corpus: Path | None) -> Collected:
    if split is not None and fmt != "beir":
        raise DatasetError(f"--split picks a BEIR qrels file; {src} is in the {fmt} format")
    if corpus is not None and fmt not in {"csv", "xlsx", "autorag"}:
        raise DatasetError(f"--corpus is for CSV/XLSX (and AutoRAG qa files); {src} is in the {fmt} format")
    if fmt == "llmpilot":
        return read_llmpilot(src)
    if fmt == "beir":
        return read_beir(src, split)
    if fmt == "autorag":
        qa = src / "qa.parquet" if src.is_dir() else src
        return read_autorag(qa, corpus if corpus is not None else qa.with_name("corpus.parquet"))
    if fmt in {"csv", "xlsx"}:
        if src.is_dir():
            raise DatasetError(f"{src}: a {fmt} import takes a file, not a folder")
        return read_table_dataset(src, corpus_path=corpus)
    raise DatasetError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.where.file, p.where.line or 0))


def import_dataset(
    src: Path,
    out: Path,
    *,
    fmt: str | None = None,
    split: str | None = None,
    corpus: Path | None = None,
    skip_invalid: bool = False,
) -> ImportReport:
    """Convert `src` into a dataset folder at `out` (corpus.jsonl, queries.jsonl, qrels.jsonl and
    import_report.json). Every bad row is reported with its file and line/row: by default any problem
    fails the import (DatasetImportError listing them all, nothing written); with `skip_invalid`
    the bad rows are left out and listed in the report. Problems with a whole file (missing, wrong
    columns, undecodable) always fail."""
    src, out = Path(src), Path(out)
    fmt = fmt or detect_format(src)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder; choose another --out")
    collected = _read(src, fmt, split, Path(corpus) if corpus is not None else None)
    if collected.fatal:
        raise DatasetImportError(src, _sorted(collected.fatal) + _sorted(collected.problems), fatal=True)
    checked = cross_check(collected)
    problems = _sorted(collected.problems + checked.problems)
    if problems and not skip_invalid:
        raise DatasetImportError(
            src,
            problems,
            hint="Nothing was written. Fix these rows, or re-run with --skip-invalid to leave them out.",
        )
    if not checked.queries:
        empty = Where(str(src)).problem("no valid questions/queries to import")
        raise DatasetImportError(src, [*problems, empty], fatal=True)

    write_dataset(out, checked.docs, checked.queries, checked.qrels)
    report = ImportReport(
        source=src,
        out=out,
        format=fmt,
        documents=len(checked.docs),
        queries=len(checked.queries),
        qrels=len(checked.qrels),
        judged_queries=len({r.query_id for r in checked.qrels}),
        qrels_with_spans=sum(1 for r in checked.qrels if r.spans),
        skipped=problems,
        warnings=_sorted(collected.warnings),
        notes=collected.notes + checked.notes,
        encodings=collected.encodings,
    )
    # The written folder must load: a failure here is a bug in the importer, not in the data.
    from llmpilot.evaluation.datasets import load_dataset

    load_dataset(out, include_unjudged=True)
    write_report(out, report.to_json())  # last: its presence marks a complete import
    return report


def _fingerprint(src: Path, options: dict[str, str | None]) -> str:
    """sha256 over the source files' names and bytes and the import options."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(src.parent if src.is_file() else src)).encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def as_dataset_folder(
    src: Path,
    cache_dir: Path,
    *,
    fmt: str | None = None,
    split: str | None = None,
    corpus: Path | None = None,
) -> Path:
    """A dataset folder for `src` in any supported format, for commands that take `--dataset`: an
    llmpilot folder is used as it is; anything else is imported (strictly: any bad row fails) into
    `cache_dir`, once per content of the source files."""
    src = Path(src)
    fmt = fmt or detect_format(src)
    if fmt == "llmpilot" and corpus is None and split is None:
        return src
    options = {"format": fmt, "split": split, "corpus": _fingerprint(corpus, {}) if corpus else None}
    out = Path(cache_dir) / f"{fmt}-{src.stem}-{_fingerprint(src, options)}"
    if (out / REPORT_FILE).is_file():
        return out
    import_dataset(src, out, fmt=fmt, split=split, corpus=corpus)
    return out


__all__ = ["FORMATS", "REPORT_FILE", "as_dataset_folder", "detect_format", "import_dataset"]
