"""Re-derive a project's documents from the originals the store keeps (store.source_documents):
what `transform apply` and `transform undo` run, through the same ingest path as `llmpilot ingest`
(dedup, chunking, the embedding cache, the writer lock, resumable commits), so no file or database
is read again and no source byte is touched."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlalchemy import func, select

from llmpilot.errors import LlmpilotError
from llmpilot.ingest import Ingestor, IngestReport
from llmpilot.project import Project
from llmpilot.sources.base import LoadResult, SourceUnit
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.transforms import TransformPipeline
from llmpilot.types import Document


class MissingOriginalsError(LlmpilotError):
    """Some sources were ingested before the store kept their original documents."""


@dataclass(frozen=True)
class WorkingUnit:
    """A stored unit's documents as plan steps see them: normalized, then the configured steps."""

    key: str
    documents: list[Document]


def stored_units(store: Store, project_hint: str = "-p PROJECT") -> list[SourceUnit]:
    """One unit per stored source, loading its kept originals. Raises MissingOriginalsError naming
    the sources that have documents but no originals (ingested by an llmpilot before m008)."""
    states = store.source_states()
    originals = store.originals()
    with store.engine.connect() as conn:
        with_documents = {
            r[0]
            for r in conn.execute(
                select(schema.documents.c.source_key)
                .group_by(schema.documents.c.source_key)
                .having(func.count() > 0)
            )
        }
    missing = sorted(k for k in with_documents if k not in originals)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise MissingOriginalsError(
            f"{len(missing)} source(s) were ingested before llmpilot kept original documents ({shown}); "
            f"run `llmpilot ingest {project_hint} …` on them once "
            f"(or `llmpilot sync {project_hint}`), then retry"
        )
    return [
        SourceUnit(
            key=key,
            origin=state.origin,
            fingerprint=state.fingerprint,
            loader=partial(_kept, originals.get(key, [])),
            stored=True,
        )
        for key, state in sorted(states.items())
    ]


def _kept(documents: list[Document]) -> LoadResult:
    return LoadResult(list(documents))


def working_documents(project: Project) -> list[WorkingUnit]:
    """Each unit's originals normalized and through the configured plan steps, before PII redaction
    and language detection: the text a new plan's steps will see (and the data profile describes)."""
    pipeline = TransformPipeline(project.config.transforms)
    out = []
    for unit in stored_units(project.store):
        docs = [pipeline.normalize(d) for d in unit.load().documents]
        if pipeline.steps:
            from llmpilot.transforms.ops import apply_steps

            docs, _ = apply_steps(pipeline.steps, docs)
        out.append(WorkingUnit(unit.key, docs))
    return out


def rederive(project: Project, *, progress: bool = False) -> IngestReport:
    """Bring the store's documents, chunks and indexes in line with the project's current transforms,
    from the kept originals. Units whose documents already match (same transforms hash) are skipped."""
    from llmpilot.pipeline import Pipeline

    units = stored_units(project.store)
    report = Ingestor(project, progress=progress).run(units)
    with project.store.writer_lock("index build"):
        _ = Pipeline(project, progress=progress).indexes
    return report
