"""MTEB-style embedder benchmarks on local files: `embed_bench(["e5-small", "minilm"], ["sts", ...])`.

A task is one set (e.g. "sts-ko"); a task *type* ("sts") selects every set of that type. Each run embeds
the set's texts with the embedder built by the component factory and scores them with MTEB's main metric
for the type (llmpilot.models.embed_metrics). Symmetric tasks (STS, classification, clustering, pairs)
embed every text as a query, which is what E5's authors prescribe ("query: " on both sides) and a no-op
for embedders without prefixes; retrieval embeds "title text" documents as passages, as BEIR/MTEB do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot import factory
from llmpilot.config import EmbedderConfig
from llmpilot.errors import ConfigError, DatasetError
from llmpilot.evaluation.datasets import RetrievalDataset, load_dataset
from llmpilot.models import embed_metrics as metrics
from llmpilot.models.embed_data import (
    DATA_DIR,
    PACKAGED,
    SHARED_RETRIEVAL,
    TASK_TYPES,
    TaskSpec,
    load_labelled,
    load_pairs,
    retrieval_spec,
    shared_data_dir,
)
from llmpilot.progress import Reporter, Task
from llmpilot.protocols import Embedder
from llmpilot.types import EmbedKind

#: What each task type reports as its main score (MTEB's names).
MAIN_METRIC = {
    "retrieval": "ndcg_at_10",
    "sts": "cosine_spearman",
    "classification": "accuracy",
    "clustering": "v_measure",
    "pair_classification": "max_ap",
}
#: Retrieval under --limit N keeps N queries and their judged documents plus this many others per query,
#: so a quick run still ranks against distractors (its scores are not comparable with a full run).
DISTRACTORS_PER_QUERY = 10
EMBED_BATCH = 32
#: Makes the progress task of one run, given its number of texts.
_NewTask = Callable[[int], Task]
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def parse_embedder(ref: str) -> EmbedderConfig:
    """ "e5-small", "minilm", or "NAME:MODEL" (e.g. "sentence-transformers:/models/ko-sroberta")."""
    name, _, model = ref.strip().partition(":")
    if not name:
        raise ConfigError(f"--embedders: empty embedder name in {ref!r}; give e.g. e5-small,minilm")
    return EmbedderConfig(name=name, model=model or None)


def project_retrieval_dir(project: Path) -> Path:
    """The user's eval set: `project` itself when it is a BEIR-format folder, else its `eval/` folder."""
    for folder in (project, project / "eval"):
        if (folder / "queries.jsonl").is_file():
            return folder
    raise DatasetError(
        f"{project}: no eval set found (looked for queries.jsonl, corpus.jsonl and qrels.jsonl in {project} "
        f"and {project / 'eval'}); make one with `llmpilot eval synth` or `llmpilot eval import`, or pass "
        "the dataset folder itself"
    )


def _guess_lang(texts: Sequence[str]) -> str:
    joined = "".join(texts[:200])
    letters = sum(ch.isalpha() for ch in joined) or 1
    return "ko" if len(_HANGUL.findall(joined)) / letters > 0.3 else "en"


def resolve_tasks(tasks: Sequence[str], project: Path | None) -> list[TaskSpec]:
    """Task names or types → specs, in the order given, each once. "retrieval" means the shared
    retrieval sets that exist here plus the project's eval set when `project` is given."""
    specs: dict[str, TaskSpec] = {}
    shared = shared_data_dir()
    retrieval: list[TaskSpec] = [
        retrieval_spec(name, shared / folder, lang, source, licence)
        for name, folder, lang, source, licence in SHARED_RETRIEVAL
        if (shared / folder).is_dir()
    ]
    if project is not None:
        folder = project_retrieval_dir(project)
        retrieval.insert(
            0, retrieval_spec("retrieval-project", folder, "?", f"the user's eval set {folder}", "own")
        )
    by_name = {**PACKAGED, **{s.name: s for s in retrieval}}
    for raw in tasks:
        name = raw.strip()
        if name in TASK_TYPES:
            chosen = retrieval if name == "retrieval" else [s for s in PACKAGED.values() if s.type == name]
        elif name in by_name:
            chosen = [by_name[name]]
        else:
            known = ", ".join([*TASK_TYPES, *by_name])
            raise ConfigError(f"--tasks: unknown task {name!r}; choose from {known}")
        for spec in chosen:
            specs.setdefault(spec.name, spec)
    if not specs:
        raise ConfigError("--tasks: no task to run (for retrieval: no dataset folder found; pass -p PROJECT)")
    return list(specs.values())


def _embed(embedder: Embedder, texts: Sequence[str], kind: EmbedKind, task: Task) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        parts.append(np.asarray(embedder.embed(batch, kind), dtype=np.float32))
        task.advance(len(batch))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


def _limit_retrieval(ds: RetrievalDataset, limit: int | None) -> RetrievalDataset:
    if limit is None:
        return ds
    queries = ds.queries[:limit]
    qrels = {q.id: ds.qrels[q.id] for q in queries if q.id in ds.qrels}
    judged = {doc for rel in qrels.values() for doc in rel}
    others = [d for d in ds.corpus if d.id not in judged][: DISTRACTORS_PER_QUERY * len(queries)]
    corpus = [d for d in ds.corpus if d.id in judged] + others
    return RetrievalDataset(name=ds.name, corpus=corpus, queries=queries, qrels=qrels)


def _run_retrieval(
    spec: TaskSpec, embedder: Embedder, limit: int | None, new_task: _NewTask
) -> tuple[float, int]:
    ds = _limit_retrieval(load_dataset(Path(spec.location), for_retrieval=True), limit)
    docs = [f"{d.title} {d.text}".strip() for d in ds.corpus]
    queries = [q.text for q in ds.queries]
    task = new_task(len(docs) + len(queries))
    doc_emb = _embed(embedder, docs, "passage", task)
    query_emb = _embed(embedder, queries, "query", task)
    score = metrics.retrieval_ndcg(
        query_emb, [q.id for q in ds.queries], doc_emb, [d.id for d in ds.corpus], ds.qrels
    )
    return score.ndcg_at_10, len(ds.queries)


def _run_pairs(
    spec: TaskSpec, embedder: Embedder, limit: int | None, new_task: _NewTask
) -> tuple[float, int]:
    is_sts = spec.type == "sts"
    pairs = load_pairs(
        DATA_DIR / spec.location, "score" if is_sts else "label", binary=not is_sts, limit=limit
    )
    task = new_task(2 * len(pairs))
    e1 = _embed(embedder, [p.text1 for p in pairs], "query", task)
    e2 = _embed(embedder, [p.text2 for p in pairs], "query", task)
    values = [p.value for p in pairs]
    if is_sts:
        return metrics.sts_spearman(e1, e2, values), len(pairs)
    return metrics.pair_max_ap(e1, e2, [int(v) for v in values]), len(pairs)


def _run_labelled(
    spec: TaskSpec, embedder: Embedder, limit: int | None, new_task: _NewTask
) -> tuple[float, int]:
    is_cls = spec.type == "classification"
    rows = load_labelled(DATA_DIR / spec.location, needs_split=is_cls, limit=limit)
    task = new_task(len(rows))
    emb = _embed(embedder, [r.text for r in rows], "query", task)
    labels = [r.label for r in rows]
    if not is_cls:
        return metrics.clustering_v_measure(emb, labels), len(rows)
    train = [i for i, r in enumerate(rows) if r.split == "train"]
    test = [i for i, r in enumerate(rows) if r.split == "test"]
    score = metrics.classification_accuracy(
        emb[train], [labels[i] for i in train], emb[test], [labels[i] for i in test]
    )
    return score, len(test)


_RUNNERS = {
    "retrieval": _run_retrieval,
    "sts": _run_pairs,
    "pair_classification": _run_pairs,
    "classification": _run_labelled,
    "clustering": _run_labelled,
}


def run_task(
    spec: TaskSpec, embedder: Embedder, *, limit: int | None = None, new_task: _NewTask | None = None
) -> dict[str, Any]:
    """One embedder on one set: {"main_score", "metric", "n", "seconds", "lang"}."""
    started = time.perf_counter()
    main, n = _RUNNERS[spec.type](
        spec, embedder, limit, new_task or (lambda total: Reporter(False).task("", total))
    )
    return {
        "main_score": round(main, 6),
        "metric": MAIN_METRIC[spec.type],
        "n": n,
        "seconds": round(time.perf_counter() - started, 2),
        "lang": spec.lang,
    }


def _task_lang(spec: TaskSpec) -> TaskSpec:
    """The project's eval set's language, guessed from its queries (Hangul share)."""
    if spec.lang != "?":
        return spec
    ds = load_dataset(Path(spec.location), for_retrieval=True)
    return TaskSpec(
        spec.name,
        spec.type,
        _guess_lang([q.text for q in ds.queries]),
        spec.location,
        spec.source,
        spec.licence,
    )


def embed_bench(
    embedders: Sequence[str],
    tasks: Sequence[str],
    *,
    limit: int | None = None,
    project: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Every embedder on every task. Returns {"embedders": {name: {task: {"main_score", "metric", "n",
    "seconds", "lang"}}}, "tasks": {task: {"type", "lang", "source", "licence", "n"}}}. `limit` caps the
    items of each set (per split for classification; queries for retrieval)."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if not embedders:
        raise ConfigError("--embedders: give at least one embedder, e.g. e5-small,minilm")
    specs = [_task_lang(s) for s in resolve_tasks(tasks, project)]
    configs = {ref: parse_embedder(ref) for ref in embedders}
    built = {ref: factory.embedder(cfg) for ref, cfg in configs.items()}
    results: dict[str, dict[str, Any]] = {ref: {} for ref in embedders}
    task_info: dict[str, dict[str, Any]] = {}
    reporter = Reporter(progress)
    with reporter.session():
        for ref, embedder in built.items():
            for spec in specs:

                def new_task(total: int, label: str = f"{ref} {spec.name}") -> Task:
                    return reporter.task(label, total)

                result = run_task(spec, embedder, limit=limit, new_task=new_task)
                results[ref][spec.name] = result
                task_info[spec.name] = {
                    "type": spec.type,
                    "lang": spec.lang,
                    "source": spec.source,
                    "licence": spec.licence,
                    "n": result["n"],
                }
    return {"embedders": results, "tasks": task_info}
