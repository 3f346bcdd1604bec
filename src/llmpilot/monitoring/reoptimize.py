"""Re-optimize on the grown eval set: the project's documents and eval items become a dataset folder,
`optimize` searches a space on it, and the best config becomes a candidate version (the settings the
space does not vary stay the live config's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from llmpilot.errors import LlmpilotError
from llmpilot.monitoring.evalset import EvalItem, eval_set_path, load_eval_set
from llmpilot.monitoring.store import ConfigVersion
from llmpilot.monitoring.versions import add_candidate, ensure_live_version
from llmpilot.project import Project


def export_dataset(project: Project, items: list[EvalItem], folder: Path) -> int:
    """corpus.jsonl (the stored documents, duplicates left out), queries.jsonl and qrels.jsonl (the
    items with source documents); returns the number of judged queries."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = [d for d in project.store.documents() if d.duplicate_of is None]
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for stored in docs:
            doc = {"id": stored.document.id, "title": stored.document.title, "text": stored.document.text}
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    known = {d.document.id for d in docs}
    judged = [i for i in items if any(doc_id in known for doc_id in i.doc_ids)]
    with (
        (folder / "queries.jsonl").open("w", encoding="utf-8") as q,
        (folder / "qrels.jsonl").open("w", encoding="utf-8") as r,
    ):
        for item in judged:
            row: dict[str, Any] = {"id": item.id, "text": item.question}
            if item.answer:
                row["answers"] = [item.answer]
            q.write(json.dumps(row, ensure_ascii=False) + "\n")
            for doc_id in item.doc_ids:
                if doc_id in known:
                    r.write(json.dumps({"query_id": item.id, "doc_id": doc_id, "score": 1}) + "\n")
    return len(judged)


def _leaf_paths(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            paths += _leaf_paths(value, (*prefix, key))
        else:
            paths.append((*prefix, key))
    return paths


def merge_best(live: dict[str, Any], best: dict[str, Any], space: dict[str, Any]) -> dict[str, Any]:
    """The live config with every setting the space names taken from the best config."""
    merged = json.loads(json.dumps(live))
    for path in _leaf_paths(space):
        source: Any = best
        for key in path:
            source = source.get(key) if isinstance(source, dict) else None
        target = merged
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = source
    return merged


def reoptimize(
    project: Project,
    space_file: Path,
    out: Path,
    *,
    workdir: Path,
    by: str = "llmpilot",
    progress: bool = False,
    answer_metrics: tuple[str, ...] = (),
) -> tuple[ConfigVersion, Path]:
    """Search `space_file` on the project's eval set; register the best config as a candidate version.
    Returns the version and the optimize report (report.html)."""
    from llmpilot.optimization.run import optimize
    from llmpilot.optimization.settings import SearchSettings

    path = eval_set_path(project)
    items = load_eval_set(path)
    dataset = out / "dataset"
    if export_dataset(project, items, dataset) == 0:
        raise LlmpilotError(
            f"{path}: no item names a stored source document (doc_ids); re-optimizing needs judged items "
            "(approve review items with --doc-id)"
        )
    settings = SearchSettings(strategy="grid", answer_metrics=answer_metrics)
    result = optimize(dataset, space_file, out, settings, workdir=workdir, progress=progress)
    live = ensure_live_version(project, by=by)
    best = yaml.safe_load(result.best_yaml.read_text(encoding="utf-8")) or {}
    space = yaml.safe_load(space_file.read_text(encoding="utf-8")) or {}
    raw = merge_best(yaml.safe_load(live.config_yaml) or {}, best, space)
    trial = result.results.best_trial()
    note = ", ".join(f"{name} {m.mean:.3f}" for name, m in list(trial.metrics.items())[:3])
    version = add_candidate(
        project,
        raw=raw,
        source=f"reoptimize: {space_file.name} on {len(items)} eval items ({result.best_yaml})",
        note=note,
        by=by,
    )
    return version, result.report_html
