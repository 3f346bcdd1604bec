"""Incremental, resumable ingest: sources -> transforms -> dedup -> chunks -> embeddings -> indexes.

Units (files, SQL queries) are fingerprinted; unchanged units are skipped, changed ones replace
their documents, vanished ones are removed. Work is committed in groups of units, each group in
one transaction together with its chunks, after its passages are embedded into the cache; so a
kill -9 loses at most the group in flight, and re-running resumes without duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from llmpilot import factory
from llmpilot.config import PipelineConfig
from llmpilot.embedding.cache import CachedEmbedder
from llmpilot.errors import SourceError
from llmpilot.hashing import document_hash, text_hash
from llmpilot.indexing import passage_text
from llmpilot.progress import Reporter, Task
from llmpilot.project import Project
from llmpilot.protocols import Chunker, Embedder
from llmpilot.sources.base import SourceUnit, UnreadablePath
from llmpilot.store.db import Store
from llmpilot.transforms import Deduplicator, TransformPipeline
from llmpilot.types import Chunk, Document


@dataclass
class IngestReport:
    run_id: int = 0
    units_seen: int = 0
    units_loaded: int = 0
    units_unchanged: int = 0
    units_failed: int = 0
    units_removed: int = 0
    #: Stored units kept although not seen: their file or folder exists but could not be read.
    units_kept: int = 0
    documents_written: int = 0
    documents_removed: int = 0
    duplicates: int = 0
    documents_chunked: int = 0
    chunks_written: int = 0
    passages_embedded: int = 0
    embedding_cache_hits: int = 0
    #: Every problem, "source: reason": the failures below and row-level warnings.
    problems: list[str] = field(default_factory=list)
    #: Sources that were not ingested at all (a path that cannot be read, a unit that failed to
    #: load). The CLI exits non-zero when there are any.
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    @property
    def warnings(self) -> list[str]:
        """Problems that did not stop a source from loading (bad rows, empty files, ...)."""
        failed = set(self.failed)
        return [p for p in self.problems if p not in failed]


@dataclass
class PreparedUnit:
    """A unit loaded and transformed: everything about it that does not depend on the store, so it
    can be worked out anywhere (a Ray worker); dedup, id checks and writes stay with the driver."""

    unit: SourceUnit
    #: Transformed documents, in load order (ids and sources as loaded).
    docs: list[Document] = field(default_factory=list)
    #: The documents as loaded, kept in the store so transforms can be re-applied without re-reading
    #: the source; None when the unit was itself loaded from that copy (nothing new to keep).
    raw: list[Document] | None = None
    #: Chunks of each document, worked out up front (remote); None: chunk on the driver after dedup.
    chunks: list[list[Chunk]] | None = None
    #: Row-level problems, (source, reason), in load order.
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: (source, reason) when the whole unit could not be loaded.
    failure: tuple[str, str] | None = None


def prepare_unit(unit: SourceUnit, transforms: TransformPipeline, chunker: Chunker | None) -> PreparedUnit:
    """Load and transform one unit (and chunk its documents when `chunker` is given). A unit that
    fails to load is returned with `failure` set; a failing transform or chunker raises."""
    try:
        result = unit.load()
    except SourceError as err:
        return PreparedUnit(unit, failure=(err.source, err.reason))
    except Exception as exc:  # a loader bug or a library choking on hostile input: one unit fails
        lines = str(exc).strip().splitlines()
        reason = f"cannot load it: {type(exc).__name__}" + (f": {lines[0]}" if lines else "")
        return PreparedUnit(unit, failure=(unit.key, reason))
    docs = transforms.apply_unit(result.documents)
    chunks = None
    if chunker is not None:
        # Empty documents are skipped by the driver; duplicates' chunks are dropped there.
        chunks = [chunker.split(d) if d.text.strip() else [] for d in docs]
    problems = [(p.source, p.reason) for p in result.problems]
    raw = None if unit.stored else list(result.documents)
    return PreparedUnit(unit, docs=docs, raw=raw, chunks=chunks, problems=problems)


class Executor(Protocol):
    """Where the heavy part of ingest runs (loading, transforms, chunking, passage embedding).
    The driver alone reads and writes the store; see ingest_ray for the Ray executor."""

    def prepare(self, units: Sequence[SourceUnit]) -> Iterator[PreparedUnit]:
        """The units prepared, yielded in the order given (dedup depends on it)."""
        ...

    def cached_embedder(self, embedder: Embedder, store: Store, batch_size: int) -> CachedEmbedder: ...


class InProcess:
    """The default executor: everything in this process, one unit at a time."""

    def __init__(self, transforms: TransformPipeline) -> None:
        self.transforms = transforms

    def prepare(self, units: Sequence[SourceUnit]) -> Iterator[PreparedUnit]:
        for unit in units:
            yield prepare_unit(unit, self.transforms, None)

    def cached_embedder(self, embedder: Embedder, store: Store, batch_size: int) -> CachedEmbedder:
        return CachedEmbedder(embedder, store, batch_size=batch_size)


@dataclass
class _PendingDoc:
    doc: Document
    content_hash: str
    duplicate_of: str | None
    chunks: list[Chunk]
    chunk_hashes: list[str]


@dataclass
class _PendingUnit:
    unit: SourceUnit
    docs: list[_PendingDoc]
    raw: list[Document] | None = None


def make_chunker(cfg: PipelineConfig) -> Chunker:
    return factory.chunker(cfg.chunking)


def make_embedder(cfg: PipelineConfig) -> Embedder:
    return factory.embedder(cfg.embedder)


def needs_embeddings(cfg: PipelineConfig) -> bool:
    return cfg.retrieval.mode in ("dense", "hybrid")


class Ingestor:
    #: Chunks gathered before a group is embedded and committed: large enough to batch the embedder
    #: well, small enough that a kill loses little work.
    group_chunks = 256

    def __init__(
        self,
        project: Project,
        *,
        embedder: Embedder | None = None,
        progress: bool = False,
        executor: Executor | None = None,
    ) -> None:
        self.project = project
        self.cfg = project.config
        self.store: Store = project.store
        self.chunk_set = self.cfg.chunks_hash()
        self.transforms_hash = self.cfg.transforms_hash()
        self.transforms = TransformPipeline(self.cfg.transforms)
        self.chunker = make_chunker(self.cfg)
        self.executor: Executor = executor or InProcess(self.transforms)
        self._embedder = embedder
        self.reporter = Reporter(progress)
        self._cached: CachedEmbedder | None = None
        self._embed_task: Task | None = None

    @property
    def cached_embedder(self) -> CachedEmbedder | None:
        if not needs_embeddings(self.cfg):
            return None
        if self._cached is None:
            embedder = self._embedder or make_embedder(self.cfg)
            self._cached = self.executor.cached_embedder(embedder, self.store, self.cfg.embedder.batch_size)
        return self._cached

    def run(
        self,
        units: Sequence[SourceUnit],
        *,
        origins: Sequence[str] = (),
        errors: Sequence[SourceError] = (),
        skipped: Sequence[str] = (),
    ) -> IngestReport:
        """Sync the store with `units`. Units of a scanned origin that vanished are removed."""
        # One writer at a time: a second ingest into this store waits here (see Store.writer_lock).
        with self.store.writer_lock("ingest"):
            t0 = time.perf_counter()
            report = IngestReport(units_seen=len(units), skipped=list(skipped))
            report.run_id = self.store.start_run("ingest", self.cfg.hash(), self.cfg.model_dump(mode="json"))
            for err in errors:
                self._failure(report, err.source, err.reason)
            # Paths that exist but cannot be read: their stored units are kept, not treated as removed.
            unreadable = [e for e in errors if isinstance(e, UnreadablePath)]
            status = "failed"
            try:
                with self.reporter.session():
                    self._embed_task = None
                    self._sync_units(units, origins, report, unreadable)
                    self._rechunk_stale(report)
                status = "done"
            finally:
                report.seconds = time.perf_counter() - t0
                if self._cached is not None:
                    report.passages_embedded = self._cached.stats.embedded
                    report.embedding_cache_hits = self._cached.stats.hits
                self.store.finish_run(report.run_id, status, report.as_dict(), report.seconds)
            return report

    # --- steps ----------------------------------------------------------------------------------

    def _problem(self, report: IngestReport, source: str, reason: str) -> None:
        report.problems.append(f"{source}: {reason}")
        self.store.add_problem(report.run_id, source, reason)

    def _failure(self, report: IngestReport, source: str, reason: str) -> None:
        self._problem(report, source, reason)
        report.failed.append(f"{source}: {reason}")

    def _sync_units(
        self,
        units: Sequence[SourceUnit],
        origins: Sequence[str],
        report: IngestReport,
        unreadable: Sequence[UnreadablePath] = (),
    ) -> None:
        states = self.store.source_states()
        todo = []
        for unit in units:
            state = states.get(unit.key)
            unchanged = (
                state is not None
                and unit.fingerprint is not None
                and state.fingerprint == unit.fingerprint
                and state.transforms_hash == self.transforms_hash
            )
            if unchanged:
                report.units_unchanged += 1
            else:
                todo.append(unit)

        reloading = {u.key for u in todo}
        dedup = self._deduplicator(exclude_sources=reloading)
        task = self.reporter.task("ingest", total=len(todo))
        group: list[_PendingUnit] = []
        group_chunks = 0
        for prepared in self.executor.prepare(todo):
            pending = self._load_unit(prepared, dedup, report)
            task.advance()
            if pending is None:
                continue
            group.append(pending)
            group_chunks += sum(len(d.chunks) for d in pending.docs)
            if group_chunks >= self.group_chunks:
                self._commit_group(group, report)
                group, group_chunks = [], 0
        if group:
            self._commit_group(group, report)

        # Removal is scoped to the origins scanned now, so ingesting B never deletes A.
        seen = {u.key for u in units}
        scanned = set(origins)
        for key, state in states.items():
            if state.origin in scanned and key not in seen:
                if any(u.covers(state.origin, key) for u in unreadable):
                    report.units_kept += 1
                    continue
                with self.store.transaction() as conn:
                    report.documents_removed += self.store.delete_source(conn, key)
                report.units_removed += 1

    def _deduplicator(self, exclude_sources: set[str]) -> Deduplicator:
        exact, near, threshold = self.transforms.dedup_settings()
        dedup = Deduplicator(exact=exact, near=near, threshold=threshold)
        if exact or near:
            for stored in self.store.documents():
                if stored.duplicate_of is None and stored.source_key not in exclude_sources:
                    dedup.add(stored.document.id, stored.document.text)
        return dedup

    def _load_unit(
        self, prepared: PreparedUnit, dedup: Deduplicator, report: IngestReport
    ) -> _PendingUnit | None:
        unit = prepared.unit
        if prepared.failure is not None:
            report.units_failed += 1
            self._failure(report, *prepared.failure)
            return None
        for source, reason in prepared.problems:
            self._problem(report, source, reason)
        report.units_loaded += 1

        owners = self.store.document_owners(d.id for d in prepared.docs)
        docs: list[_PendingDoc] = []
        seen_ids: set[str] = set()
        for old_id in [i for i, k in owners.items() if k == unit.key]:
            dedup.remove(old_id)
        for i, doc in enumerate(prepared.docs):
            # Transforms keep a document's id and source, so these read as the loaded document's.
            if doc.id in seen_ids or owners.get(doc.id, unit.key) != unit.key:
                self._problem(report, unit.key, f"document id {doc.id!r} is used by another source; skipped")
                continue
            seen_ids.add(doc.id)
            if not doc.text.strip():
                self._problem(report, doc.source or unit.key, f"document {doc.id!r} has no text; skipped")
                continue
            duplicate_of = dedup.find_duplicate(doc.text)
            if duplicate_of is None:
                dedup.add(doc.id, doc.text)
                chunks = self.chunker.split(doc) if prepared.chunks is None else prepared.chunks[i]
            else:
                report.duplicates += 1
                chunks = []
            docs.append(
                _PendingDoc(
                    doc=doc,
                    content_hash=document_hash(doc.title, doc.text),
                    duplicate_of=duplicate_of,
                    chunks=chunks,
                    chunk_hashes=[text_hash(c.text) for c in chunks],
                )
            )
        return _PendingUnit(unit=unit, docs=docs, raw=prepared.raw)

    def _embed(self, docs: Sequence[_PendingDoc]) -> None:
        cached = self.cached_embedder
        if cached is None:
            return
        include_title = self.cfg.index.include_title
        texts = [passage_text(d.doc.title, c.text, include_title) for d in docs for c in d.chunks]
        if not texts:
            return
        if self._embed_task is None:
            self._embed_task = self.reporter.task("embed passages", total=0)
        cached.ensure(texts, [text_hash(t) for t in texts], task=self._embed_task)

    def _commit_group(self, group: list[_PendingUnit], report: IngestReport) -> None:
        self._embed([d for u in group for d in u.docs])
        with self.store.transaction() as conn:
            for pending in group:
                unit = pending.unit
                self.store.replace_source(
                    conn,
                    key=unit.key,
                    origin=unit.origin,
                    fingerprint=unit.fingerprint,
                    transforms_hash=self.transforms_hash,
                    documents=[(d.doc, d.content_hash, d.duplicate_of) for d in pending.docs],
                    originals=pending.raw,
                )
                for d in pending.docs:
                    if d.duplicate_of is None:
                        self.store.replace_chunks(
                            conn, self.chunk_set, d.doc.id, d.content_hash, d.chunks, d.chunk_hashes
                        )
                        report.documents_chunked += 1
                        report.chunks_written += len(d.chunks)
                    else:
                        self.store.drop_chunks(conn, self.chunk_set, [d.doc.id])
                report.documents_written += len(pending.docs)

    def _rechunk_stale(self, report: IngestReport) -> None:
        """Bring this chunk set up to date with the stored documents (new chunking config, or
        a document whose original it duplicated was removed)."""
        stored = self.store.documents()
        ids = {s.document.id for s in stored}
        chunked = self.store.chunked_state(self.chunk_set)
        stale: list[_PendingDoc] = []
        drop: list[str] = [doc_id for doc_id in chunked if doc_id not in ids]
        with self.store.transaction() as conn:
            for s in stored:
                if s.duplicate_of is not None and s.duplicate_of not in ids:
                    # Its original is gone: this document now stands for itself.
                    self.store.set_duplicate_of(conn, s.document.id, None)
                    s = type(s)(s.document, s.source_key, s.content_hash, None)
                if s.duplicate_of is not None:
                    if s.document.id in chunked:
                        drop.append(s.document.id)
                    continue
                if chunked.get(s.document.id) != s.content_hash:
                    chunks = self.chunker.split(s.document)
                    stale.append(
                        _PendingDoc(
                            s.document, s.content_hash, None, chunks, [text_hash(c.text) for c in chunks]
                        )
                    )
            if drop:
                self.store.drop_chunks(conn, self.chunk_set, drop)
        if not stale:
            return
        task = self.reporter.task("chunk + embed", total=len(stale))
        for i in range(0, len(stale), 64):
            part = stale[i : i + 64]
            self._embed(part)
            with self.store.transaction() as conn:
                for d in part:
                    self.store.replace_chunks(
                        conn, self.chunk_set, d.doc.id, d.content_hash, d.chunks, d.chunk_hashes
                    )
                    report.documents_chunked += 1
                    report.chunks_written += len(d.chunks)
            task.advance(len(part))
