"""Progress display for long work (rich, on stderr); a no-op when disabled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Task(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def grow(self, n: int) -> None: ...


class _RichTask:
    def __init__(self, progress: Progress, task_id: int) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._id, n)  # type: ignore[arg-type]

    def grow(self, n: int) -> None:
        task = self._progress.tasks[self._id]
        self._progress.update(self._id, total=(task.total or 0) + n)  # type: ignore[arg-type]


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass

    def grow(self, n: int) -> None:
        pass


class Reporter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None

    @contextmanager
    def session(self) -> Iterator[Reporter]:
        if not self.enabled:
            yield self
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        with self._progress:
            yield self
        self._progress = None

    def task(self, description: str, total: int) -> Task:
        if self._progress is None:
            return _NullTask()
        return _RichTask(self._progress, self._progress.add_task(description, total=total))
