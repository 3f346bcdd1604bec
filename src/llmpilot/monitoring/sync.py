"""`llmpilot sync`: re-read every folder, file and SQL query the project was ingested from.

`llmpilot ingest` records what it was given (watched sources); sync runs the same incremental ingest
over all of them (unchanged sources are skipped by fingerprint), rebuilds the indexes, drops cached
answers whose cited documents changed or vanished, and — when the documents changed — queues a
re-evaluation for the next `llmpilot monitor run`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from llmpilot.errors import LlmpilotError, SourceError
from llmpilot.monitoring.store import MonitorStore
from llmpilot.project import Project
from llmpilot.store import schema
from llmpilot.store.db import Store


@dataclass
class SyncReport:
    watched: int
    collection_version_before: str
    collection_version_after: str
    ingest: dict[str, Any]
    cache_entries_invalidated: int
    job_id: int | None
    failed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.collection_version_before != self.collection_version_after

    def as_dict(self) -> dict[str, Any]:
        return {
            "watched": self.watched,
            "changed": self.changed,
            "collection_version_before": self.collection_version_before,
            "collection_version_after": self.collection_version_after,
            "ingest": self.ingest,
            "cache_entries_invalidated": self.cache_entries_invalidated,
            "reevaluation_job": self.job_id,
            "failed": self.failed,
        }


def _key(kind: str, spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([kind, spec], sort_keys=True).encode()).hexdigest()[:32]


def watch_files(store: Store, paths: Sequence[Path]) -> None:
    """Remember ingested files and folders (absolute paths) for `llmpilot sync`."""
    monitor = MonitorStore(store)
    for path in paths:
        spec = {"path": str(Path(path).resolve())}
        monitor.watch_source(_key("files", spec), "files", spec)


def watch_sql(
    store: Store, url: str, query: str, *, text_column: str, id_column: str, title_column: str | None
) -> None:
    """Remember an ingested SQL query (its URL as given: use a URL without a password and the
    database's own authentication, e.g. PGPASSFILE, when the store is shared)."""
    spec = {
        "url": url,
        "query": query,
        "text_column": text_column,
        "id_column": id_column,
        "title_column": title_column,
    }
    MonitorStore(store).watch_source(_key("sql", spec), "sql", spec)


def invalidate_stale_answers(store: Store) -> int:
    """Delete cached answers whose cited documents changed or were removed since they were cached."""
    from llmpilot.cache.store import CacheStore

    a = schema.answer_cache
    with store.engine.connect() as conn:
        rows = conn.execute(select(a.c.id, a.c.doc_hashes_json)).all()
    cited = {row.id: json.loads(row.doc_hashes_json) for row in rows}
    current = CacheStore(store).document_hashes({doc for hashes in cited.values() for doc in hashes})
    stale = [entry for entry, hashes in cited.items() if any(current.get(d) != h for d, h in hashes.items())]
    with store.engine.begin() as conn:
        for i in range(0, len(stale), 500):
            conn.execute(delete(a).where(a.c.id.in_(stale[i : i + 500])))
    return len(stale)


def sync(project: Project, *, progress: bool = False) -> SyncReport:
    from llmpilot.cache.store import CacheStore
    from llmpilot.ingest import Ingestor
    from llmpilot.pipeline import Pipeline
    from llmpilot.sources.files import discover_files
    from llmpilot.sources.sql import sql_unit

    store = project.store
    monitor = MonitorStore(store)
    watched = monitor.watched_sources()
    if not watched:
        raise LlmpilotError(
            "nothing to sync: no source is watched yet; `llmpilot ingest PATH…` (or --sql) records what it "
            "ingests, and sync re-reads all of it"
        )
    before = CacheStore(store).collection_version()
    discovery = discover_files([Path(w["spec"]["path"]) for w in watched if w["kind"] == "files"])
    units, origins, errors = list(discovery.units), list(discovery.origins), list(discovery.errors)
    for w in watched:
        if w["kind"] != "sql":
            continue
        spec = w["spec"]
        try:
            unit = sql_unit(
                spec["url"],
                spec["query"],
                text_column=spec["text_column"],
                id_column=spec["id_column"],
                title_column=spec["title_column"],
            )
        except SourceError as exc:
            errors.append(exc)
        else:
            units.append(unit)
            origins.append(unit.origin)
    report = Ingestor(project, progress=progress).run(
        units, origins=origins, errors=errors, skipped=discovery.skipped
    )
    with store.writer_lock("index build"):
        _ = Pipeline(project, progress=progress).indexes
    after = CacheStore(store).collection_version()
    invalidated = invalidate_stale_answers(store) if after != before else 0
    job_id = None
    if after != before:
        changed = report.documents_written + report.documents_removed
        job_id = monitor.queue_job(
            "reevaluate",
            f"sync: {report.documents_written} document(s) written, {report.documents_removed} removed",
            {"collection_version": after, "documents_changed": changed, "ingest_run": report.run_id},
        )
    monitor.touch_watched([w["key"] for w in watched])
    return SyncReport(
        watched=len(watched),
        collection_version_before=before,
        collection_version_after=after,
        ingest=report.as_dict(),
        cache_entries_invalidated=invalidated,
        job_id=job_id,
        failed=list(report.failed),
    )
