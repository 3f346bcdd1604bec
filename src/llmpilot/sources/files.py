"""File sources: discover files under the paths a user names and load each into documents.

One file is one unit. Text, Markdown, HTML, PDF and DOCX files hold one document; CSV and
JSONL files hold one document per row. A file's document id is its path relative to the
parent of the path the user named, so `ingest docs/` gives ids like `docs/a.md`.
"""

from __future__ import annotations

import csv
import errno
import functools
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmpilot.errors import SourceError
from llmpilot.sources.base import LoadResult, SourceUnit, UnreadablePath
from llmpilot.transforms.normalize import normalize_whitespace, single_line
from llmpilot.types import Document

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".csv", ".jsonl"}
)

#: Field/column names read as a row's text, in order of preference.
TEXT_FIELDS: tuple[str, ...] = ("text", "content", "contents", "body")
#: Field/column names read as a row's id ("_id" is what BEIR corpora use).
ID_FIELDS: tuple[str, ...] = ("id", "_id")
TITLE_FIELD = "title"


@dataclass(frozen=True)
class Discovery:
    units: list[SourceUnit]
    origins: list[str]
    #: Paths that do not exist or cannot be read, each named (with a shown, printable path).
    #: An `UnreadablePath` among them keeps the documents stored from that path.
    errors: list[SourceError]
    #: Files with unsupported extensions: reported, not errors. Hidden files are ignored.
    skipped: list[str]


def shown_path(path: Path | str) -> str:
    """The path as text that can be printed and stored: a name that is not valid UTF-8 (Linux
    hands it to Python as lone surrogates) shows its raw bytes as \\xNN escapes instead."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_utf8(path: Path | str) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NOT_UTF8 = "the name is not valid UTF-8 (ids and sources must be text); skipped: rename it"


def discover_files(paths: Sequence[Path]) -> Discovery:
    """Units for every supported file under `paths` (files or folders, walked recursively in
    sorted order; hidden files and folders and Office lock files are ignored). A path that cannot
    be used (missing, unreadable, a symlink loop, a FIFO, a name that is not UTF-8) is reported
    in `errors` and the rest is still found."""
    units: list[SourceUnit] = []
    origins: list[str] = []
    errors: list[SourceError] = []
    skipped: list[str] = []
    skipped_set: set[str] = set()
    seen_files: set[Path] = set()
    keys: dict[str, str] = {}
    for named in paths:
        origin = _named_origin(named, errors)
        if origin is None:
            continue
        if str(origin) not in origins:
            origins.append(str(origin))
        files = [origin] if origin.is_file() else _walk(origin, errors)
        for path in files:
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                if shown_path(path) not in skipped_set:  # named twice: report once
                    skipped_set.add(shown_path(path))
                    skipped.append(shown_path(path))
                continue
            unit = _file_unit(path, origin, errors, seen_files, keys)
            if unit is not None:
                units.append(unit)
    return Discovery(units=units, origins=origins, errors=errors, skipped=skipped)


def _named_origin(named: Path, errors: list[SourceError]) -> Path | None:
    """The resolved path the user named, or None (and an error) when it cannot be scanned."""
    shown = shown_path(named)
    try:
        st = named.stat()
        origin = named.resolve()
    except FileNotFoundError:
        reason = (
            "broken symlink: its target does not exist" if named.is_symlink() else "no such file or folder"
        )
        errors.append(SourceError(shown, reason))
        return None
    except (OSError, RuntimeError) as exc:  # RuntimeError: Path.resolve on a symlink loop (3.11)
        errors.append(SourceError(shown, _path_problem(exc)))
        return None
    if not _is_utf8(origin):
        errors.append(SourceError(shown_path(origin), _NOT_UTF8))
        return None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        errors.append(SourceError(shown, _NOT_REGULAR))
        return None
    return origin


_NOT_REGULAR = "not a regular file or folder (a FIFO, socket or device); skipped"


def _path_problem(exc: OSError | RuntimeError) -> str:
    if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
        return "symlink loop (the link leads back to itself); skipped: fix or remove the link"
    return f"cannot read: {exc.strerror or exc}"


def _file_unit(
    path: Path, origin: Path, errors: list[SourceError], seen_files: set[Path], keys: dict[str, str]
) -> SourceUnit | None:
    shown = shown_path(path)
    if not _is_utf8(path):
        errors.append(SourceError(shown, _NOT_UTF8))
        return None
    doc_id = path.relative_to(origin.parent).as_posix()
    try:
        st = path.stat()
        real = path.resolve()
    except FileNotFoundError:
        errors.append(SourceError(shown, "broken symlink: its target does not exist; skipped"))
        return None
    except PermissionError as exc:  # a folder on the way that cannot be searched
        errors.append(_unreadable(shown, exc, origin, doc_id, folder=False))
        return None
    except (OSError, RuntimeError) as exc:
        errors.append(SourceError(shown, _path_problem(exc)))
        return None
    if real in seen_files:
        return None  # named twice (a folder and a file inside it): load it once
    seen_files.add(real)
    if not stat.S_ISREG(st.st_mode):
        # Opening a FIFO for reading would wait for a writer forever.
        errors.append(SourceError(shown, _NOT_REGULAR))
        return None
    try:
        fingerprint = _sha256_file(path)
    except OSError as exc:
        errors.append(_unreadable(shown, exc, origin, doc_id, folder=False))
        return None
    if doc_id in keys:
        # e.g. `ingest a/docs b/docs`: both would give "docs/x.md"; ids must be unique.
        reason = f"its id {doc_id!r} is already taken by {keys[doc_id]}; rename one of the folders"
        errors.append(SourceError(shown, reason))
        return None
    keys[doc_id] = shown
    return SourceUnit(
        key=doc_id,
        origin=str(origin),
        fingerprint=fingerprint,
        loader=functools.partial(load_file, path, doc_id),
    )


def _unreadable(shown: str, exc: OSError, origin: Path, key: str, *, folder: bool) -> UnreadablePath:
    what = "folder" if folder else "file"
    kept = "the documents stored from it are" if folder else "its stored documents are"
    reason = (
        f"cannot read {what}: {exc.strerror or exc}; {kept} kept. Fix its permissions "
        "(e.g. chmod +r) and ingest again"
    )
    return UnreadablePath(shown, reason, origin=str(origin), key=key, folder=folder)


def _hidden(name: str) -> bool:
    # "~$report.docx" is the lock file Word leaves beside an open document.
    return name.startswith((".", "~$"))


def _walk(root: Path, errors: list[SourceError]) -> list[Path]:
    """Files under `root`, sorted. Folders that cannot be listed are reported as `UnreadablePath`
    (os.walk would skip them silently, and ingest would then delete their documents)."""

    def unreadable_folder(exc: OSError) -> None:
        folder = Path(exc.filename) if exc.filename else root
        key = folder.relative_to(root.parent).as_posix()
        errors.append(_unreadable(shown_path(folder), exc, root, key, folder=True))

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_folder):
        keep: list[str] = []
        for d in sorted(dirnames):
            if _hidden(d):
                continue
            if not _is_utf8(d):
                # Report once here rather than once per file inside.
                errors.append(SourceError(shown_path(Path(dirpath) / d), _NOT_UTF8))
                continue
            keep.append(d)
        dirnames[:] = keep
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not _hidden(f))
    return found


def _open_regular(path: Path) -> int:
    """An fd of `path` opened for reading, refusing anything but a regular file. O_NONBLOCK: a
    FIFO swapped in after discovery must fail here, not block the run."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)", str(path))
    return fd


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with os.fdopen(_open_regular(path), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_bytes(path: Path) -> bytes:
    with os.fdopen(_open_regular(path), "rb") as fh:
        return fh.read()


# --- loading -------------------------------------------------------------------------------------


def load_file(path: Path, doc_id: str) -> LoadResult:
    """Documents of one file. Raises SourceError (naming the file) when it cannot be read at all."""
    source = shown_path(path)
    try:
        data = _read_bytes(path)
    except OSError as exc:
        raise SourceError(source, f"cannot read file: {exc.strerror or exc}") from None
    ext = path.suffix.lower()
    if ext == ".csv":
        return _load_csv(data, source, doc_id)
    if ext == ".jsonl":
        return _load_jsonl(data, source, doc_id)
    reader = _SINGLE_READERS.get(ext)
    if reader is None:
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise SourceError(source, f"unsupported file type {ext or '(none)'}; supported: {supported}")
    text, title, metadata, problems = reader(data, source)
    doc = Document(id=doc_id, text=text, title=title or path.stem, source=source, metadata=metadata)
    return LoadResult(documents=[doc], problems=problems)


_Single = tuple[str, str, dict[str, str], list[SourceError]]


def decode_text(data: bytes, source: str) -> tuple[str, str]:
    """(text, encoding). UTF-8 (BOM or not) first, then Korean cp949/EUC-KR when the result reads
    as Korean (short Korean text is often misdetected as a Chinese encoding), then detection."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        pass
    else:
        non_ascii = [c for c in text[:100_000] if ord(c) > 127]
        hangul = sum("\uac00" <= c <= "\ud7a3" for c in non_ascii)
        if non_ascii and hangul / len(non_ascii) >= 0.5:
            return text, "cp949"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise SourceError(
            source, "cannot decode text: not UTF-8 and no other encoding fits; save it as UTF-8"
        )
    return str(best), best.encoding


def _text_meta(kind: str, encoding: str) -> dict[str, str]:
    meta = {"type": kind}
    if encoding != "utf-8":
        meta["encoding"] = encoding
    return meta


def _read_txt(data: bytes, source: str) -> _Single:
    text, encoding = decode_text(data, source)
    return text, "", _text_meta("text", encoding), []


# --- markdown --------------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _read_markdown(data: bytes, source: str) -> _Single:
    text, encoding = decode_text(data, source)
    title = ""
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            front = yaml.safe_load(match.group(1))
        except (yaml.YAMLError, RecursionError):  # PyYAML recurses per nesting level
            front = None
        if isinstance(front, dict):
            # Front matter is metadata, not content: drop it from the text.
            text = text[match.end() :]
            if isinstance(front.get("title"), str):
                title = front["title"]
    return text, title or markdown_title(text), _text_meta("markdown", encoding), []


def markdown_title(text: str) -> str:
    """The first ATX (`# Title`) or setext (`Title` over `===`) heading outside code fences."""
    in_fence = False
    previous = ""
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            previous = ""
            continue
        if in_fence:
            continue
        atx = _ATX.match(line)
        if atx:
            return _plain_inline(atx.group(1))
        if (
            previous.strip()
            and _SETEXT.match(line)
            and not previous.lstrip().startswith(("-", "*", "+", ">"))
        ):
            return _plain_inline(previous)
        previous = line
    return ""


def _plain_inline(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    return single_line(text.replace("**", "").replace("__", "").replace("`", ""))


# --- html ------------------------------------------------------------------------------------------

_HTML_DROP = ["script", "style", "noscript", "template", "nav", "header", "footer", "svg", "iframe", "head"]
_HTML_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "blockquote", "pre", "section"}
    | {"article", "main", "aside", "figure", "hr", "address", "details", "fieldset", "form"}
)
_HTML_LINE = frozenset(
    {"div", "li", "tr", "dt", "dd", "br", "caption", "figcaption", "summary"}
    | {"thead", "tbody", "tfoot", "legend"}
)
_HTML_CELL = frozenset({"td", "th"})
_CELL_MARK = "\x1f"  # placeholder between table cells, turned into " | " once lines are known


def _read_html(data: bytes, source: str) -> _Single:
    from selectolax.lexbor import LexborHTMLParser

    text, encoding = decode_text(data, source)
    tree = LexborHTMLParser(text)
    title = ""
    for selector in ("title", "h1"):
        node = tree.css_first(selector)
        if node is not None and node.text(strip=True):
            title = single_line(node.text())
            break
    tree.strip_tags(_HTML_DROP)
    root = tree.body or tree.root
    body = html_to_text(root) if root is not None else ""
    return body, title, _text_meta("html", encoding), []


def html_to_text(root: Any) -> str:
    """Visible text of a (lexbor) node, with block elements as line/paragraph breaks and table
    cells separated by " | ". Inline elements do not break sentences."""
    parts: list[str] = []
    # Explicit stack instead of recursion: deeply nested HTML is common and Python's stack is not.
    stack: list[tuple[Any, bool]] = [(root, False)]
    pre_depth = 0
    while stack:
        node, closing = stack.pop()
        tag = node.tag
        if closing:
            if tag == "pre":
                pre_depth -= 1
            _add_break(parts, _html_break(tag, closing=True))
            continue
        if tag == "-text":
            raw = node.text_content or ""
            if pre_depth:
                parts.append(raw)
            elif raw.strip() or (parts and not parts[-1].isspace()):
                parts.append(re.sub(r"\s+", " ", raw))
            continue
        if not isinstance(tag, str) or tag.startswith(("-", "!")):
            continue  # comments, doctype
        if tag == "pre":
            pre_depth += 1
        _add_break(parts, _html_break(tag, closing=False))
        stack.append((node, True))
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, False) for c in reversed(children))
    lines = []
    for line in "".join(parts).split("\n"):
        cells = [c.strip() for c in line.split(_CELL_MARK)]
        lines.append(" | ".join(c for c in cells if c))
    return normalize_whitespace("\n".join(lines))


def _add_break(parts: list[str], brk: str) -> None:
    """Adjacent breaks merge into the larger one: </li><li> is one line break, not two."""
    if not brk:
        return
    if brk == _CELL_MARK or not parts or parts[-1] not in ("\n", "\n\n"):
        parts.append(brk)
    elif len(brk) > len(parts[-1]):
        parts[-1] = brk


def _html_break(tag: str, *, closing: bool) -> str:
    if tag in _HTML_PARAGRAPH:
        return "\n\n"
    if tag in _HTML_LINE:
        return "\n"
    if tag in _HTML_CELL and closing:
        return _CELL_MARK
    return ""


# --- pdf -------------------------------------------------------------------------------------------


def _read_pdf(data: bytes, source: str) -> _Single:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(reader, source)
        pages = list(reader.pages)
    except SourceError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise SourceError(
            source, f"not a readable PDF ({type(exc).__name__}: {exc}); is the file complete?"
        ) from None
    problems: list[SourceError] = []
    texts: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append((page.extract_text() or "").strip())
        except Exception as exc:
            problems.append(SourceError(f"{source}: page {number}", f"text extraction failed: {exc}"))
    if not any(texts):
        raise SourceError(
            source,
            f"no extractable text in {len(pages)} page(s): it looks scanned or image-only, and OCR is not "
            "supported; convert it to text (e.g. with an OCR tool) and ingest the result",
        )
    title = ""
    try:
        meta_title = reader.metadata.title if reader.metadata is not None else None
        if isinstance(meta_title, str) and meta_title.strip().lower() not in ("", "untitled"):
            title = single_line(meta_title)
    except Exception:
        title = ""  # unreadable metadata is not worth failing the file over
    text = "\n\n".join(t for t in texts if t)
    return text, title, {"type": "pdf", "pages": str(len(pages))}, problems


def _decrypt(reader: Any, source: str) -> None:
    """Many PDFs are encrypted with an empty user password (copy protection only): open those."""
    from pypdf import PasswordType

    try:
        ok = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except Exception as exc:  # e.g. AES without the `cryptography` package
        raise SourceError(
            source, f"the PDF is encrypted and cannot be opened ({exc}); save an unencrypted copy"
        ) from None
    if not ok:
        raise SourceError(source, "the PDF is password-protected; save an unprotected copy and ingest that")


# --- docx ------------------------------------------------------------------------------------------


def _read_docx(data: bytes, source: str) -> _Single:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        heading = ""
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                rows = [_docx_row(row) for row in item.rows]
                blocks.append("\n".join(r for r in rows if r))
                continue
            para = item.text.strip()
            if not para:
                continue
            if not heading and _docx_style(item).startswith(("heading", "title")):
                heading = para
            blocks.append(para)
        core_title = document.core_properties.title or ""
    except Exception as exc:  # zip, XML and package errors all mean the same to the user
        raise SourceError(
            source, f"not a readable DOCX ({type(exc).__name__}: {exc}); is the file complete?"
        ) from None
    text = "\n\n".join(b for b in blocks if b)
    return text, single_line(core_title) or single_line(heading), {"type": "docx"}, []


def _docx_style(paragraph: Any) -> str:
    try:
        return str(paragraph.style.name or "").lower()
    except Exception:
        return ""


def _docx_row(row: Any) -> str:
    cells: list[str] = []
    for cell in row.cells:
        value = " ".join(cell.text.split())
        # Merged cells repeat their text in every grid cell they span.
        if value and (not cells or cells[-1] != value):
            cells.append(value)
    return " | ".join(cells)


_SINGLE_READERS: dict[str, Callable[[bytes, str], _Single]] = {
    ".txt": _read_txt,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
}


# --- row files: csv, jsonl -------------------------------------------------------------------------


def _pick(names: Sequence[str], wanted: Sequence[str]) -> str | None:
    """The first of `wanted` present in `names`, matched case-insensitively."""
    lowered = {n.strip().lower(): n for n in reversed(names)}
    for w in wanted:
        if w in lowered:
            return lowered[w]
    return None


def _row_key(value: object, line: int) -> str:
    if isinstance(value, bool) or value is None:
        return str(line)
    if isinstance(value, (str, int)) and str(value).strip():
        return str(value).strip()
    return str(line)


def _load_csv(data: bytes, source: str, file_id: str) -> LoadResult:
    text, encoding = decode_text(data, source)
    csv.field_size_limit(1 << 30)  # a long document in one cell is normal here
    records = _csv_records(text, _delimiter(text))
    first = next(records, None)
    if first is None:
        raise SourceError(source, "empty CSV: expected a header row and one document per row")
    if isinstance(first[1], str):
        raise SourceError(source, f"cannot read the CSV header (line {first[0]}): {first[1]}")
    columns = _unique_columns(first[1])
    text_col = _pick(columns, TEXT_FIELDS)
    id_col = _pick(columns, ID_FIELDS)
    title_col = _pick(columns, (TITLE_FIELD,))
    docs: list[Document] = []
    problems: list[SourceError] = []
    first_line: dict[str, int] = {}
    meta_base = _text_meta("csv", encoding)
    rows = 0
    for line, values in records:
        rows += 1
        if isinstance(values, str):
            problems.append(SourceError(f"{source}:{line}", values))
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(columns):
            problems.append(
                SourceError(
                    f"{source}:{line}", f"{len(values)} fields but the header has {len(columns)}; skipped"
                )
            )
            continue
        row = dict(zip(columns, values + [""] * (len(columns) - len(values)), strict=True))
        key = _row_key(row.get(id_col) if id_col else None, line)
        if key in first_line:
            problems.append(
                SourceError(
                    f"{source}:{line}", f"duplicate id {key!r} (first on line {first_line[key]}); skipped"
                )
            )
            continue
        first_line[key] = line
        special = {id_col, title_col, text_col}
        if text_col is not None:
            body = row[text_col]
            extra = {k: v for k, v in row.items() if k not in special and v.strip()}
        else:
            # No text column: every other non-empty column becomes a "column: value" line.
            body = "\n".join(f"{k}: {v.strip()}" for k, v in row.items() if k not in special and v.strip())
            extra = {}
        docs.append(
            Document(
                id=f"{file_id}#{key}",
                text=body,
                title=single_line(row[title_col]) if title_col else "",
                source=source,
                metadata={**extra, **meta_base, "line": str(line)},
            )
        )
    if rows == 0:
        problems.append(SourceError(source, "the CSV has a header but no rows: nothing to ingest"))
    return LoadResult(documents=docs, problems=problems)


#: Reason for a record whose quote never closes (the csv module would silently read every
#: following line into that one field).
_UNTERMINATED = (
    "a quoted field that starts on this line is never closed, so it ran on to the end of the file "
    "(lines {first}-{last}); this row is skipped and reading resumes on line {next}: close the quote "
    'or double it ("") if it is part of the text'
)


def _csv_records(text: str, delimiter: str) -> Iterator[tuple[int, list[str] | str]]:
    """(line, values) for each CSV record, or (line, reason) for one that cannot be read."""
    lines = io.StringIO(text, newline="").readlines()
    start = 0  # index of the first line the current reader reads
    while start < len(lines):
        reader = csv.reader(lines[start:], delimiter=delimiter)
        while True:
            first = start + reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield first, f"not valid CSV: {exc}"
                continue
            last = start + reader.line_num
            if last == len(lines) and _unterminated(lines[first - 1 :], delimiter):
                yield first, _UNTERMINATED.format(first=first, last=last, next=first + 1)
                start = first  # re-read from the line after the stray quote
                break
            yield first, values


def _unterminated(lines: list[str], delimiter: str) -> bool:
    """Whether the record starting at lines[0] ends inside an open quote (non-strict csv reading
    accepts that silently; strict reading calls it "unexpected end of data")."""
    try:
        next(csv.reader(lines, delimiter=delimiter, strict=True), None)
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _delimiter(text: str) -> str:
    """The most frequent of , ; tab | in the header line (Excel in some locales writes ";").
    Simpler and steadier than csv.Sniffer, which guesses from quoting in the rows too."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in ",;\t|"}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _unique_columns(header: list[str]) -> list[str]:
    columns: list[str] = []
    for i, raw in enumerate(header, start=1):
        name = raw.strip() or f"column{i}"
        base, n = name, 2
        while name in columns:
            name, n = f"{base}_{n}", n + 1
        columns.append(name)
    return columns


def _load_jsonl(data: bytes, source: str, file_id: str) -> LoadResult:
    text, encoding = decode_text(data, source)
    docs: list[Document] = []
    problems: list[SourceError] = []
    first_line: dict[str, int] = {}
    meta_base = _text_meta("jsonl", encoding)
    rows = 0
    # split("\n"), not splitlines(): JSON strings may hold U+2028, which splitlines breaks on.
    for line_no, raw in enumerate(text.split("\n"), start=1):
        raw = raw.strip()
        if not raw:
            continue
        rows += 1
        where = f"{source}:{line_no}"
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(SourceError(where, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(row, dict):
            problems.append(SourceError(where, f"expected a JSON object, got {type(row).__name__}"))
            continue
        text_key = _pick(list(row), TEXT_FIELDS)
        if text_key is None:
            fields = ", ".join(sorted(row)) or "none"
            problems.append(
                SourceError(
                    where, f"no text field (expected one of {', '.join(TEXT_FIELDS)}); fields: {fields}"
                )
            )
            continue
        body = row[text_key]
        if not isinstance(body, str):
            problems.append(
                SourceError(where, f"field {text_key!r} must be a string, got {type(body).__name__}")
            )
            continue
        id_key = _pick(list(row), ID_FIELDS)
        key = _row_key(row.get(id_key) if id_key else None, line_no)
        if key in first_line:
            problems.append(
                SourceError(where, f"duplicate id {key!r} (first on line {first_line[key]}); skipped")
            )
            continue
        first_line[key] = line_no
        title_key = _pick(list(row), (TITLE_FIELD,))
        title = row.get(title_key) if title_key else None
        extra = row.get("metadata")
        scalars = (
            {str(k): str(v) for k, v in extra.items() if isinstance(v, (str, int, float, bool))}
            if isinstance(extra, dict)
            else {}
        )
        metadata = {**scalars, **meta_base, "line": str(line_no)}
        title_text = single_line(title) if isinstance(title, str) else ""
        if not _encodable(body, title_text, key, *metadata, *metadata.values()):
            # json.loads turns "\\ud800" into a lone surrogate, which no store can hold.
            reason = "a \\u escape gives a lone surrogate (not valid Unicode text); skipped"
            problems.append(SourceError(where, reason))
            continue
        docs.append(
            Document(
                id=f"{file_id}#{key}",
                text=body,
                title=title_text,
                source=source,
                metadata=metadata,
            )
        )
    if rows == 0:
        problems.append(
            SourceError(source, "empty JSONL file: nothing to ingest (expected one JSON object per line)")
        )
    return LoadResult(documents=docs, problems=problems)


def _encodable(*texts: str) -> bool:
    try:
        for t in texts:
            t.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
