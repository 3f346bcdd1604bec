"""Keyword (BM25) and vector indexes, and what their on-disk folders share.

Every index persists as a folder holding `manifest.json` (kind, format version, count, config) and
`ids.json`; the manifest is written last, so a folder with a manifest is a complete index.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmpilot.errors import StoreError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IDS_FILE = "ids.json"


def check_unique_ids(ids: Sequence[str]) -> None:
    """Results are addressed by id, so a repeated id would make them ambiguous."""
    if len(set(ids)) != len(ids):
        dups = [i for i, n in Counter(ids).items() if n > 1]
        shown = ", ".join(repr(d) for d in dups[:5])
        raise ValueError(
            f"duplicate ids given to the index ({len(dups)} ids repeat, e.g. {shown}); ids must be unique"
        )


def begin_save(path: Path) -> None:
    """Create the folder and drop an old manifest first, so a save cut short never looks complete."""
    path.mkdir(parents=True, exist_ok=True)
    (path / MANIFEST).unlink(missing_ok=True)


def write_json(file: Path, data: Any) -> None:
    file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def read_manifest(path: Path, kinds: Sequence[str] | None = None) -> dict[str, Any]:
    """The manifest of an index folder, with clear errors for a missing, corrupt or foreign folder."""
    file = path / MANIFEST
    if not file.is_file():
        raise StoreError(f"{path}: not an index folder ({MANIFEST} missing); rebuild the index")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{file}: unreadable index manifest ({exc}); rebuild the index") from None
    if not isinstance(manifest, dict):
        raise StoreError(f"{file}: index manifest is not a JSON object; rebuild the index")
    if kinds is not None and manifest.get("kind") not in kinds:
        raise StoreError(f"{file}: index kind is {manifest.get('kind')!r}, expected one of {list(kinds)}")
    if manifest.get("format") != FORMAT_VERSION:
        raise StoreError(
            f"{file}: index format {manifest.get('format')!r} is not supported "
            f"(this version reads {FORMAT_VERSION}); rebuild the index"
        )
    count = manifest.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise StoreError(f"{file}: invalid count {count!r}; rebuild the index")
    return manifest


def read_ids(path: Path, count: int) -> list[str]:
    file = path / IDS_FILE
    try:
        ids = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{file}: missing or unreadable ({exc}); rebuild the index") from None
    if not isinstance(ids, list) or len(ids) != count or not all(isinstance(i, str) for i in ids):
        raise StoreError(f"{file}: expected a list of {count} string ids; rebuild the index")
    return ids
