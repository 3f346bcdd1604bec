"""Embedder fine-tuning on SciFact, measured out of sample: dense alone and hybrid, before and after.

    nice -n 10 .venv/bin/python benchmarks/finetune_embedder.py \
        --json benchmarks/results/finetune_embedder.json [--max-folds N]

On 2 shared cores one corpus embedding takes 8-12 min and the synthetic training ~19 min, so
`--max-folds N` trains only the first N of the k fold models (the JSON says how many); every
model and candidate list is cached in --workdir, so a later run with a larger N adds folds.

Models, each trained by `llmpilot.finetune.embedder.finetune_embedder` (what `llmpilot
finetune-embedder` runs) and loaded back through the `sentence-transformers` embedder by its folder,
as a config would load it:

- base: all-MiniLM-L6-v2 untouched (the reference, measured in this run);
- synthetic: trained on queries the corpus writes itself (titles, sentences); no labelled query is
  ever trained on, so all 300 test queries are out of sample;
- synthetic+train (k-fold): for each of k folds, the synthetic model trained further on the judged
  (query, document) pairs of the other k-1 folds and scored on the held-out fold only.

Hybrid is the shipped fusion (BM25 `en` + dense, convex min-max, dense weight 0.5), and also with
the weight picked on the training folds only (0..1 in steps of 0.05) and scored on the held-out fold.
Documents are indexed as the pipeline indexes them with examples/hybrid-en.yaml (title + text, one
chunk per abstract), scored with llmpilot's pytrec_eval-parity metrics; the base model's hybrid 0.5
over all queries reproduces README's 0.729. Candidate lists are cached in --workdir per model folder,
so a rerun only recomputes what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot import factory
from llmpilot.config import EmbedderConfig, KeywordIndexConfig, VectorIndexConfig
from llmpilot.evaluation.bootstrap import paired_bootstrap
from llmpilot.evaluation.datasets import RetrievalDataset, load_dataset
from llmpilot.evaluation.retrieval_metrics import ndcg_at_k, recall_at_k
from llmpilot.finetune.embedder import MANIFEST, finetune_embedder
from llmpilot.index.keyword import BM25Index
from llmpilot.indexing import passage_text
from llmpilot.retrieval.fusion import convex
from llmpilot.types import ScoredId

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEPTH = 100
WEIGHTS = [w / 20 for w in range(21)]
SHIPPED_WEIGHT = 0.5
Lists = list[dict[str, list[ScoredId]]]


def folds_of(n: int, k: int) -> list[list[int]]:
    """The same folds as benchmarks/fusion_sweep.py: a seeded shuffle dealt round-robin."""
    order = list(range(n))
    random.Random(0).shuffle(order)
    return [order[i::k] for i in range(k)]


def keyword_lists(dataset: RetrievalDataset) -> list[list[ScoredId]]:
    index = BM25Index(KeywordIndexConfig(tokenizer="en"))
    index.build([d.id for d in dataset.corpus], [passage_text(d.title, d.text, True) for d in dataset.corpus])
    return index.search([q.text for q in dataset.queries], DEPTH)


def dense_lists(
    dataset: RetrievalDataset, cfg: EmbedderConfig, cache: Path
) -> tuple[list[list[ScoredId]], float]:
    """Top-DEPTH documents per query with this embedder (exact index), and the seconds it took to
    embed the corpus; cached as JSON in `cache`."""
    if cache.is_file():
        data = json.loads(cache.read_text(encoding="utf-8"))
        return [[ScoredId(i, s) for i, s in row] for row in data["lists"]], data["embed_seconds"]
    embedder = factory.embedder(cfg)
    t0 = time.perf_counter()
    vectors = embedder.embed([passage_text(d.title, d.text, True) for d in dataset.corpus], "passage")
    embed_seconds = time.perf_counter() - t0
    index = factory.vector_index(VectorIndexConfig(kind="exact"), vectors.shape[1])
    index.build([d.id for d in dataset.corpus], vectors)
    lists = index.search(embedder.embed([q.text for q in dataset.queries], "query"), DEPTH)
    cache.parent.mkdir(parents=True, exist_ok=True)
    payload = {"embed_seconds": embed_seconds, "lists": [[[h.id, h.score] for h in row] for row in lists]}
    cache.write_text(json.dumps(payload), encoding="utf-8")
    return lists, embed_seconds


def per_query(dataset: RetrievalDataset, lists: Lists, weight: float) -> dict[str, list[float]]:
    """nDCG@10 and recall@10 per query for one dense weight (1.0 = dense alone, 0.0 = BM25 alone)."""
    ndcg, recall = [], []
    for query, cands in zip(dataset.queries, lists, strict=True):
        if weight == 1.0:
            ranked = [h.id for h in cands["dense"]]
        elif weight == 0.0:
            ranked = [h.id for h in cands["keyword"]]
        else:
            ranked = [doc for doc, _ in convex(cands, {"dense": weight, "keyword": 1 - weight}, "minmax")]
        ndcg.append(ndcg_at_k(ranked, dataset.qrels[query.id], 10))
        recall.append(recall_at_k(ranked, dataset.qrels[query.id], 10))
    return {"ndcg@10": ndcg, "recall@10": recall}


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def summarize(scores: dict[int, dict[str, float]], folds: list[list[int]], used: list[int]) -> dict[str, Any]:
    queries = [i for f in used for i in folds[f]]
    return {
        "queries": len(queries),
        "ndcg@10": round(mean([scores[i]["ndcg@10"] for i in queries]), 4),
        "recall@10": round(mean([scores[i]["recall@10"] for i in queries]), 4),
        "per_fold_ndcg@10": {f: round(mean([scores[i]["ndcg@10"] for i in folds[f]]), 4) for f in used},
    }


def evaluate(
    dataset: RetrievalDataset, fold_lists: dict[int, Lists], folds: list[list[int]]
) -> tuple[dict[str, Any], dict[str, dict[int, float]]]:
    """Dense alone, hybrid at the shipped weight, and hybrid at the dense weight picked on the
    training folds only, each held-out query scored with its own fold's model (`fold_lists[f]`:
    the same lists for every fold, or those of the model trained without fold f). Only the folds in
    `fold_lists` are scored. Returns the summary and the per-query nDCG@10 of each method."""
    n = len(dataset.queries)
    used = sorted(fold_lists)
    rows: dict[str, dict[int, dict[str, float]]] = {"dense": {}, "hybrid_0.5": {}, "hybrid_cv_weight": {}}
    picks = {}
    for f in used:
        held = set(folds[f])
        by_weight = {w: per_query(dataset, fold_lists[f], w) for w in WEIGHTS}
        best = max(WEIGHTS, key=lambda w: sum(by_weight[w]["ndcg@10"][i] for i in range(n) if i not in held))
        picks[f] = best
        for label, weight in (("dense", 1.0), ("hybrid_0.5", SHIPPED_WEIGHT), ("hybrid_cv_weight", best)):
            for i in folds[f]:
                rows[label][i] = {m: by_weight[weight][m][i] for m in ("ndcg@10", "recall@10")}
    summary = {label: summarize(scores, folds, used) for label, scores in rows.items()}
    summary["hybrid_cv_weight"]["weights_picked"] = picks
    per_query_scores = {label: {i: v["ndcg@10"] for i, v in scores.items()} for label, scores in rows.items()}
    return summary, per_query_scores


def train(dataset_dir: Path, base: str, out: Path, args: argparse.Namespace, **kw: Any) -> dict[str, Any]:
    """Train unless `out` already holds a model trained with these settings (its manifest says so)."""
    kw.setdefault("epochs", args.epochs)
    want = {"seed": args.seed, "batch_size": args.batch_size, **kw}
    want.pop("train_query_ids", None)
    manifest = out / MANIFEST
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if all(data["settings"].get(k) == v for k, v in want.items()):
            print(f"reusing {out}", flush=True)
            return {"reused": True, **data["metrics"]}
    print(f"training {out.name} from {Path(base).name} ...", flush=True)
    result = finetune_embedder(
        dataset_dir, base, out, batch_size=args.batch_size, seed=args.seed, tokenizer="en", **kw
    )
    print(f"  {result.train_pairs} pairs, {result.steps} steps, {result.seconds:.0f} s", flush=True)
    return {
        "reused": False,
        "train_pairs": result.train_pairs,
        "pair_sources": result.pair_sources,
        "steps": result.steps,
        "train_seconds": result.seconds,
        "mine_seconds": result.mine_seconds,
        "loss_first": result.losses[0],
        "loss_last": result.losses[-1],
    }


def model_tag(folder: Path) -> str:
    """Cache key of a trained model: its manifest (settings, data hash and losses) hashed."""
    return hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=SHARED / "scifact")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "finetune_embedder.json"
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench" / "finetune_embedder")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--fold-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-synthetic", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-folds", type=int, default=None, help="Train only the first N fold models (0: none)."
    )
    args = parser.parse_args()

    dataset = load_dataset(args.dataset, for_retrieval=True)
    folds = folds_of(len(dataset.queries), args.folds)
    keyword = keyword_lists(dataset)
    work = args.workdir / dataset.name

    def lists_for(cfg: EmbedderConfig, tag: str) -> tuple[Lists, float]:
        dense, seconds = dense_lists(dataset, cfg, work / "lists" / f"{tag}.json")
        return [{"keyword": k, "dense": d} for k, d in zip(keyword, dense, strict=True)], seconds

    models: dict[str, Any] = {}
    per_query_scores: dict[str, dict[str, dict[int, float]]] = {}

    base_lists, base_embed = lists_for(EmbedderConfig(name="minilm", batch_size=64), "base")
    every = range(len(folds))
    summary, per_query_scores["base"] = evaluate(dataset, dict.fromkeys(every, base_lists), folds)
    models["base"] = {
        "model": "all-MiniLM-L6-v2 (untouched)",
        "embed_seconds": round(base_embed, 1),
        **summary,
    }
    print("base", json.dumps(summary), flush=True)

    synth_dir = work / "models" / "synthetic"
    training = train(
        args.dataset, "minilm", synth_dir, args, queries="synthetic", max_synthetic=args.max_synthetic
    )
    synth_cfg = EmbedderConfig(name="sentence-transformers", model=str(synth_dir), batch_size=64)
    synth_lists, synth_embed = lists_for(synth_cfg, f"synthetic-{model_tag(synth_dir)}")
    summary, per_query_scores["synthetic"] = evaluate(dataset, dict.fromkeys(every, synth_lists), folds)
    models["synthetic"] = {"training": training, "embed_seconds": round(synth_embed, 1), **summary}
    print("synthetic", json.dumps(summary), flush=True)

    n_folds = len(folds) if args.max_folds is None else min(args.max_folds, len(folds))
    fold_lists: dict[int, Lists] = {}
    fold_training = []
    for f in range(n_folds):
        held = {dataset.queries[i].id for i in folds[f]}
        train_ids = [q.id for q in dataset.queries if q.id not in held]
        out = work / "models" / f"fold{f}"
        info = train(
            args.dataset,
            str(synth_dir),
            out,
            args,
            queries="train",
            train_query_ids=train_ids,
            epochs=args.fold_epochs,
        )
        cfg = EmbedderConfig(name="sentence-transformers", model=str(out), batch_size=64)
        fold_lists[f], seconds = lists_for(cfg, f"fold{f}-{model_tag(out)}")
        fold_training.append(
            {"fold": f, "held_out_queries": len(folds[f]), **info, "embed_seconds": round(seconds, 1)}
        )
        print(f"fold {f} done", flush=True)
    if fold_lists:
        summary, per_query_scores["synthetic+train"] = evaluate(dataset, fold_lists, folds)
        models["synthetic+train (k-fold)"] = {"training": fold_training, **summary}
        print("synthetic+train", json.dumps(summary), flush=True)

    # Paired comparisons on the queries every model was scored on (the trained folds' queries).
    shared = sorted(set.intersection(*(set(s["dense"]) for s in per_query_scores.values())))
    comparisons = {
        f"{name} vs base, {label}": {
            k: round(v, 4)
            for k, v in paired_bootstrap(
                [scores[label][i] for i in shared], [per_query_scores["base"][label][i] for i in shared]
            ).items()
        }
        for name, scores in per_query_scores.items()
        if name != "base"
        for label in ("dense", "hybrid_0.5", "hybrid_cv_weight")
    }
    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "dataset": dataset.name,
        "queries": len(dataset.queries),
        "docs": len(dataset.corpus),
        "folds": args.folds,
        "fold_models_trained": n_folds,
        "settings": {
            "epochs": args.epochs,
            "fold_epochs": args.fold_epochs,
            "batch_size": args.batch_size,
            "max_synthetic": args.max_synthetic,
            "seed": args.seed,
            "shipped_weight": SHIPPED_WEIGHT,
            "weights_swept": WEIGHTS,
        },
        "goal": {"hybrid ndcg@10": 0.74, "shipped today": 0.7295},
        "models": models,
        "paired_bootstrap_ndcg@10": {"queries": len(shared), **comparisons},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
