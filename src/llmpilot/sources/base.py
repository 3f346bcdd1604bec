"""What every source produces: units of work (a file, a SQL query) that load into documents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from llmpilot.errors import SourceError
from llmpilot.types import Document


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

    def load(self) -> LoadResult:
        """Load the unit's documents. Raises SourceError when the whole unit is unreadable."""
        return self.loader()
