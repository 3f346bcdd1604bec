"""`transform preview`: what a plan would do to the project's documents, worked out on the kept
originals exactly as `transform apply` would derive them, with nothing written."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from llmpilot.project import Project
from llmpilot.transforms import TransformPipeline
from llmpilot.transforms.plan import TransformPlan, steps_as_config
from llmpilot.transforms.rederive import stored_units
from llmpilot.types import Document

#: Lines of diff shown per document.
MAX_DIFF_LINES = 40


@dataclass
class DocumentChange:
    id: str
    status: str  # changed | removed | added | emptied
    chars_before: int
    chars_after: int
    diff: list[str]


@dataclass
class PreviewReport:
    request: str | None
    steps: int
    documents_before: int
    documents_after: int
    documents_changed: int
    documents_removed: int
    documents_added: int
    #: Documents the plan leaves without text (ingest would skip them): listed in full.
    emptied: list[str]
    chars_before: int
    chars_after: int
    #: Per plan step: op, documents changed / dropped / added, characters removed / added.
    step_stats: list[dict[str, Any]]
    #: Up to `sample` changed documents with their diffs (emptied ones first).
    samples: list[DocumentChange] = field(default_factory=list)

    @property
    def chars_removed(self) -> int:
        return sum(int(s.get("chars_removed", 0)) for s in self.step_stats)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["chars_removed"] = self.chars_removed
        return out


def _diff(before: str, after: str) -> list[str]:
    lines = list(
        difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", n=1, lineterm="")
    )[2:]
    return lines[:MAX_DIFF_LINES] + (
        [f"… {len(lines) - MAX_DIFF_LINES} more diff lines"] if len(lines) > MAX_DIFF_LINES else []
    )


def derive(
    pipeline: TransformPipeline, originals: list[Document], extra: TransformPipeline | None = None
) -> tuple[list[Document], list[Any]]:
    """A unit's documents through `pipeline`; with `extra`, the extra pipeline's plan steps run
    after `pipeline`'s (and their stats are returned)."""
    from llmpilot.transforms.ops import apply_steps

    docs = [pipeline.normalize(d) for d in originals]
    if pipeline.steps:
        docs, _ = apply_steps(pipeline.steps, docs)
    stats: list[Any] = []
    if extra is not None and extra.steps:
        docs, stats = apply_steps(extra.steps, docs)
    return [pipeline.finish(d) for d in docs], stats


def preview_plan(project: Project, plan: TransformPlan, *, sample: int = 5) -> PreviewReport:
    """Before = the documents the current transforms derive; after = with the plan's steps appended.
    Counts cover every document; diffs are shown for `sample` changed ones."""
    cfg = project.config.transforms
    current = TransformPipeline(cfg)
    added = TransformPipeline(cfg.model_copy(update={"steps": steps_as_config(plan)}))
    before_docs: dict[str, Document] = {}
    after_docs: dict[str, Document] = {}
    totals: dict[int, dict[str, Any]] = {}
    for unit in stored_units(project.store):
        originals = unit.load().documents
        before, _ = derive(current, originals)
        after, stats = derive(current, originals, added)
        before_docs.update((d.id, d) for d in before)
        after_docs.update((d.id, d) for d in after)
        for s in stats:
            row = totals.setdefault(s.index, {"index": s.index, "op": s.op})
            for key, value in asdict(s).items():
                if key not in ("index", "op"):
                    row[key] = row.get(key, 0) + value
    emptied = sorted(
        i for i, d in after_docs.items() if not d.text.strip() and before_docs.get(i, d).text.strip()
    )
    changed = [
        i
        for i, b in before_docs.items()
        if i in after_docs and (after_docs[i].text != b.text or after_docs[i].title != b.title)
    ]
    removed = sorted(before_docs.keys() - after_docs.keys())
    new = sorted(after_docs.keys() - before_docs.keys())
    report = PreviewReport(
        request=plan.request,
        steps=len(plan.steps),
        documents_before=len(before_docs),
        documents_after=len(after_docs),
        documents_changed=len(changed),
        documents_removed=len(removed),
        documents_added=len(new),
        emptied=emptied,
        chars_before=sum(len(d.text) for d in before_docs.values()),
        chars_after=sum(len(d.text) for d in after_docs.values()),
        step_stats=[totals[k] for k in sorted(totals)],
    )
    order = emptied + [i for i in sorted(changed) if i not in emptied] + removed + new
    for doc_id in order[: max(sample, len(emptied))]:
        b, a = before_docs.get(doc_id), after_docs.get(doc_id)
        status = (
            "emptied"
            if doc_id in emptied
            else "removed"
            if a is None
            else "added"
            if b is None
            else "changed"
        )
        report.samples.append(
            DocumentChange(
                id=doc_id,
                status=status,
                chars_before=len(b.text) if b else 0,
                chars_after=len(a.text) if a else 0,
                diff=_diff(b.text if b else "", a.text if a else ""),
            )
        )
    return report
