"""What every source produces: units of work (a file, a SQL query) that load into documents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from llmpilot.errors import SourceError
from llmpilot.types import Document


class UnreadablePath(SourceError):
    """A file or folder that exists but cannot be read now (permissions, I/O errors).

    Ingest reports it and keeps the documents stored from it: a path it cannot read is not a path
    that was removed, so its documents must not be deleted as "gone from disk".
    """

    def __init__(self, source: str, reason: str, *, origin: str, key: str, folder: bool) -> None:
        super().__init__(source, reason)
        #: The scanned origin the path lies under (SourceUnit.origin of its units).
        self.origin = origin
        #: The unit key of the file, or the key prefix of everything under the folder.
        self.key = key
        self.folder = folder

    def covers(self, origin: str, key: str) -> bool:
        """Whether the stored unit `key` of `origin` lies at or under this path."""
        if origin != self.origin:
            return False
        return key == self.key or (self.folder and key.startswith(f"{self.key}/"))


@dataclass(frozen=True)
class LoadResult:
    documents: list[Document]
    #: Row-level problems (e.g. "data.jsonl:17: not valid JSON"); the rest of the unit still loads.
    problems: list[SourceError] = field(default_factory=list)


@dataclass(frozen=True)
class SourceUnit:
    """One independently loadable, fingerprinted piece of a source.

    Ingest skips a unit whose fingerprint is unchanged, replaces the documents of a changed one,
    and deletes stored units of a scanned `origin` that no longer appear.
    """

    #: Stable unit id, e.g. "docs/guide.pdf" or "sql:<hash>".
    key: str
    #: The root the user named: a resolved absolute path, or a SQL URL without password + query.
    origin: str
    #: Cheap change detector (sha256 of a file's bytes); None means always load (SQL).
    fingerprint: str | None
    loader: Callable[[], LoadResult] = field(repr=False, compare=False)
    #: Loaded from the store's copy of the unit's original documents (`transform apply`/`undo`), not
    #: from the source itself: there is no new original to keep.
    stored: bool = False

    def load(self) -> LoadResult:
        """Load the unit's documents. Raises SourceError when the whole unit is unreadable."""
        return self.loader()
