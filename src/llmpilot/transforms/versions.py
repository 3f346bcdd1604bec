"""Transform plans as versions of a project's `transforms.steps`: `apply` appends a plan's steps
(llmpilot.yaml rewritten, the previous file kept as .bak, the version recorded in the store) and
re-derives the documents from the kept originals; `undo` restores the steps before the newest
version and re-derives again, which leaves documents and chunks as they were before it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from llmpilot.config import update_config_file
from llmpilot.errors import LlmpilotError
from llmpilot.project import Project
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.transforms.plan import TransformPlan, steps_as_config
from llmpilot.transforms.rederive import rederive, stored_units


@dataclass
class StoreSnapshot:
    """What a transform version changes: documents (id -> content hash), chunks of the live chunk set."""

    documents: dict[str, str]
    duplicates: int
    chars: int
    chunks: int

    @classmethod
    def take(cls, project: Project) -> StoreSnapshot:
        stored = project.store.documents()
        chunks, _ = project.store.chunks(project.config.chunks_hash())
        return cls(
            documents={s.document.id: s.content_hash for s in stored},
            duplicates=sum(1 for s in stored if s.duplicate_of is not None),
            chars=sum(len(s.document.text) for s in stored),
            chunks=len(chunks),
        )


@dataclass
class VersionReport:
    """What `transform apply` / `transform undo` did."""

    action: str  # apply | undo
    version: int
    steps_before: int
    steps_after: int
    documents_before: int
    documents_after: int
    documents_changed: int
    documents_added: int
    documents_removed: int
    duplicates_before: int
    duplicates_after: int
    chars_before: int
    chars_after: int
    chunks_before: int
    chunks_after: int
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _compare(
    action: str, version: int, before_steps: int, after_steps: int, a: StoreSnapshot, b: StoreSnapshot
) -> VersionReport:
    common = a.documents.keys() & b.documents.keys()
    return VersionReport(
        action=action,
        version=version,
        steps_before=before_steps,
        steps_after=after_steps,
        documents_before=len(a.documents),
        documents_after=len(b.documents),
        documents_changed=sum(1 for i in common if a.documents[i] != b.documents[i]),
        documents_added=len(b.documents.keys() - a.documents.keys()),
        documents_removed=len(a.documents.keys() - b.documents.keys()),
        duplicates_before=a.duplicates,
        duplicates_after=b.duplicates,
        chars_before=a.chars,
        chars_after=b.chars,
        chunks_before=a.chunks,
        chunks_after=b.chunks,
    )


def _write_steps(project: Project, steps: Sequence[dict[str, Any]]) -> Project:
    """llmpilot.yaml with `transforms.steps` replaced (validated; .bak kept), reopened."""
    update_config_file(project.config_path, {"transforms": {"steps": list(steps)}})
    reopened = Project.open(project.config_path, project.overrides)
    project.close()
    return reopened


def _switch(
    project: Project, steps: Sequence[dict[str, Any]], *, progress: bool
) -> tuple[Project, list[str]]:
    """Write `steps` and re-derive; if re-deriving fails, the previous steps are written back and
    re-derived (a run that fails halfway would otherwise leave a store of two versions)."""
    previous = list(project.config.transforms.steps)
    switched = _write_steps(project, steps)
    try:
        report = rederive(switched, progress=progress)
    except BaseException:
        restored = _write_steps(switched, previous)
        try:
            rederive(restored, progress=False)
        finally:
            restored.close()
        raise
    return switched, [*report.failed, *report.warnings]


def next_version(store: Store) -> int:
    with store.engine.connect() as conn:
        return (
            int(
                conn.execute(
                    select(func.coalesce(func.max(schema.transform_versions.c.version), 0))
                ).scalar_one()
            )
            + 1
        )


def apply_plan(
    project: Project, plan: TransformPlan, *, progress: bool = False
) -> tuple[Project, VersionReport]:
    """Append `plan`'s steps to the project's transforms as a new version and re-derive the store.
    Returns the reopened project (its config now has the steps) and what changed."""
    import time

    if not plan.steps:
        raise LlmpilotError("the plan has no steps: nothing to apply")
    stored_units(project.store)  # fail before touching anything when originals are missing
    t0 = time.perf_counter()
    before_steps = list(project.config.transforms.steps)
    after_steps = before_steps + steps_as_config(plan)
    before = StoreSnapshot.take(project)
    version = next_version(project.store)
    project, problems = _switch(project, after_steps, progress=progress)
    after = StoreSnapshot.take(project)
    report = _compare("apply", version, len(before_steps), len(after_steps), before, after)
    report.problems = problems
    report.seconds = time.perf_counter() - t0
    with project.store.transaction() as conn:
        conn.execute(
            insert(schema.transform_versions).values(
                version=version,
                steps_before_json=json.dumps(before_steps, ensure_ascii=False),
                steps_after_json=json.dumps(after_steps, ensure_ascii=False),
                plan_json=plan.model_dump_json(exclude_none=True),
                request=plan.request,
                report_json=json.dumps(report.as_dict(), ensure_ascii=False),
                created_at=datetime.now(UTC),
            )
        )
    return project, report


def undo(project: Project, *, progress: bool = False) -> tuple[Project, VersionReport]:
    """Restore the transforms before the newest applied version and re-derive the store."""
    import time

    table = schema.transform_versions
    with project.store.engine.connect() as conn:
        row = conn.execute(
            select(table).where(table.c.undone_at.is_(None)).order_by(table.c.version.desc()).limit(1)
        ).first()
    if row is None:
        raise LlmpilotError("nothing to undo: no transform plan has been applied to this project")
    steps_after = json.loads(row.steps_after_json)
    current = list(project.config.transforms.steps)
    if current != steps_after:
        raise LlmpilotError(
            f"transforms.steps in {project.config_path} changed since version {row.version} was applied "
            f"({len(current)} steps now, {len(steps_after)} then); edit the steps by hand instead"
        )
    stored_units(project.store)
    t0 = time.perf_counter()
    before = StoreSnapshot.take(project)
    steps_before = json.loads(row.steps_before_json)
    project, problems = _switch(project, steps_before, progress=progress)
    after = StoreSnapshot.take(project)
    report = _compare("undo", int(row.version), len(current), len(steps_before), before, after)
    report.problems = problems
    report.seconds = time.perf_counter() - t0
    with project.store.transaction() as conn:
        conn.execute(update(table).where(table.c.version == row.version).values(undone_at=datetime.now(UTC)))
    return project, report


def history(store: Store) -> list[dict[str, Any]]:
    """Every applied version, oldest first: version, when, the request, steps, whether undone."""
    table = schema.transform_versions
    with store.engine.connect() as conn:
        rows = list(conn.execute(select(table).order_by(table.c.version)))
    return [
        {
            "version": r.version,
            "created_at": r.created_at.isoformat() if r.created_at else None,
            "request": r.request,
            "steps": len(json.loads(r.steps_after_json)) - len(json.loads(r.steps_before_json)),
            "plan": json.loads(r.plan_json),
            "report": json.loads(r.report_json),
            "undone_at": r.undone_at.isoformat() if r.undone_at else None,
        }
        for r in rows
    ]
