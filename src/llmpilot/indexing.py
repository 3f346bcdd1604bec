"""Persisted indexes for one chunk set: built from the store, saved in the project, reloaded
without recomputation while the chunk set is unchanged (checked by a fingerprint)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from llmpilot.config import PipelineConfig
from llmpilot.embedding.cache import CachedEmbedder
from llmpilot.hashing import text_hash
from llmpilot.index import pg_fts, pgvector
from llmpilot.index.keyword import create_keyword_index, load_keyword_index
from llmpilot.index.vector import create_vector_index, load_vector_index
from llmpilot.progress import Reporter
from llmpilot.project import Project
from llmpilot.protocols import Embedder, KeywordIndex, VectorIndex
from llmpilot.store.db import document_titles
from llmpilot.types import Chunk


def passage_text(title: str, chunk_text: str, include_title: bool) -> str:
    """What is indexed and embedded for a chunk: the same function for ingest and index builds."""
    return f"{title}\n{chunk_text}" if include_title and title else chunk_text


@dataclass
class IndexSet:
    chunks: list[Chunk]
    titles: dict[str, str]
    keyword: KeywordIndex | None
    vector: VectorIndex | None
    fingerprint: str
    build_seconds: float = 0.0
    loaded: bool = False

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.chunks}


def _fingerprint(chunks: list[Chunk], hashes: list[str], titles: dict[str, str]) -> str:
    h = hashlib.sha256()
    for c, th in zip(chunks, hashes, strict=True):
        h.update(f"{c.id}\x00{th}\x00{titles.get(c.doc_id, '')}\n".encode())
    return h.hexdigest()


def open_indexes(
    project: Project,
    *,
    need_vector: bool,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    progress: bool = False,
) -> IndexSet:
    """Load the persisted indexes of the project's chunk set, building what is missing or stale."""
    cfg: PipelineConfig = project.config
    store = project.store
    chunks, hashes = store.chunks(cfg.chunks_hash())
    titles = document_titles(store)
    fingerprint = _fingerprint(chunks, hashes, titles)
    folder = project.index_dir / cfg.index_hash()
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    fresh = not rebuild and manifest.get("fingerprint") == fingerprint
    t0 = time.perf_counter()

    texts = [passage_text(titles.get(c.doc_id, ""), c.text, cfg.index.include_title) for c in chunks]
    ids = [c.id for c in chunks]
    keyword: KeywordIndex | None = None
    vector: VectorIndex | None = None
    loaded = True
    if fresh and (folder / "keyword").exists():
        if cfg.index.keyword.kind == pg_fts.KIND:
            keyword = pg_fts.reload_for_project(project, folder / "keyword")
        else:
            keyword = load_keyword_index(folder / "keyword")
    if keyword is None:
        keyword = create_keyword_index(cfg.index.keyword)
        pg_fts.attach_to_project(keyword, project)  # its database and namespace; others: no-op
        keyword.build(ids, texts)
        loaded = False
    if need_vector:
        if fresh and (folder / "vector").exists():
            if cfg.index.vector.kind == pgvector.KIND:
                vector = pgvector.reload_for_project(project, folder / "vector")
            else:
                vector = load_vector_index(folder / "vector")
        if vector is None:
            if embedder is None:
                raise ValueError("an embedder is needed to build the vector index")
            cached = CachedEmbedder(embedder, store, batch_size=cfg.embedder.batch_size)
            reporter = Reporter(progress)
            with reporter.session():
                cached.ensure(texts, [text_hash(t) for t in texts], task=reporter.task("embed passages", 0))
            vectors = cached.passages(texts, [text_hash(t) for t in texts])
            vector = create_vector_index(cfg.index.vector, embedder.dim)
            pgvector.attach_to_project(vector, project)  # its database and namespace; others: no-op
            vector.build(ids, vectors)
            loaded = False

    if not loaded:
        _save(folder, keyword, vector, fingerprint, cfg)
    return IndexSet(
        chunks=chunks,
        titles=titles,
        keyword=keyword,
        vector=vector,
        fingerprint=fingerprint,
        build_seconds=time.perf_counter() - t0,
        loaded=loaded,
    )


def _save(
    folder: Path,
    keyword: KeywordIndex | None,
    vector: VectorIndex | None,
    fingerprint: str,
    cfg: PipelineConfig,
) -> None:
    # Write into a temporary folder and swap, so a kill never leaves a half-written index behind.
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if keyword is not None:
        keyword.save(tmp / "keyword")
    if vector is not None:
        vector.save(tmp / "vector")
    elif (folder / "vector").exists() and json.loads((folder / "manifest.json").read_text()).get(
        "fingerprint"
    ) == fingerprint:
        shutil.copytree(folder / "vector", tmp / "vector")
    (tmp / "manifest.json").write_text(
        json.dumps(
            {"fingerprint": fingerprint, "index_hash": cfg.index_hash(), "chunk_set": cfg.chunks_hash()},
            indent=2,
        )
    )
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
