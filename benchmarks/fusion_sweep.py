"""Fusion sweep with an honest estimate: how good is a tuned fusion weight on unseen queries?

    .venv/bin/python benchmarks/fusion_sweep.py --dataset autorag-ko \
        --json benchmarks/results/fusion_sweep-ko.json

Candidate lists (keyword and dense) are computed once per query through the real pipeline, then
fused with every (method, weight, normalization). Tuning the weight on the same queries it is
scored on is optimistic, so the script also reports k-fold cross-validation: the weight is picked
on k-1 folds and scored on the held-out fold.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from llmpilot.config import load_config
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.retrieval_metrics import ndcg_at_k
from llmpilot.ingest import Ingestor
from llmpilot.optimization.evaluate import dataset_unit
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.retrieval.fusion import convex, rrf

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CONFIGS = {"autorag-ko": "examples/hybrid-ko.yaml", "scifact": "examples/hybrid-en.yaml"}


def doc_ranking(fused: list[tuple[str, float]], chunk_doc: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(chunk_doc[c] for c, _ in fused))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="autorag-ko", choices=sorted(CONFIGS))
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    cfg = load_config(ROOT / CONFIGS[args.dataset])
    dataset = load_dataset(SHARED / args.dataset)
    project = Project.from_config(
        args.workdir / dataset.name, cfg.model_copy(update={"store": "sqlite:///bench.db"})
    )
    Ingestor(project).run([dataset_unit(dataset, SHARED / args.dataset)])
    pipeline = Pipeline(project)
    chunk_doc = {c.id: c.doc_id for c in pipeline.indexes.chunks}
    lists = pipeline.retriever.candidate_lists([q.text for q in dataset.queries], 100)

    settings: list[tuple[str, float, str]] = [("rrf", 0.0, "-")]
    for norm in ("minmax", "zscore"):
        settings += [("convex", w / 20, norm) for w in range(21)]
    per_setting: dict[tuple[str, float, str], list[float]] = {}
    for method, weight, norm in settings:
        scores = []
        for query, cands in zip(dataset.queries, lists, strict=True):
            if method == "rrf":
                fused = rrf(cands, 60)
            else:
                fused = convex(cands, {"dense": weight, "keyword": 1 - weight}, norm)
            scores.append(ndcg_at_k(doc_ranking(fused, chunk_doc), dataset.qrels[query.id], 10))
        per_setting[(method, weight, norm)] = scores

    n = len(dataset.queries)
    mean = {s: sum(v) / n for s, v in per_setting.items()}
    best = max(mean, key=lambda s: mean[s])
    order = list(range(n))
    random.Random(0).shuffle(order)
    folds = [order[i :: args.folds] for i in range(args.folds)]
    held_out: list[float] = []
    picks = []
    for fold in folds:
        train = [i for i in order if i not in set(fold)]
        convex_settings = [s for s in per_setting if s[0] == "convex" and s[2] == "minmax"]
        pick = max(convex_settings, key=lambda s: sum(per_setting[s][i] for i in train))
        picks.append(pick[1])
        held_out += [per_setting[pick][i] for i in fold]
    result = {
        "dataset": dataset.name,
        "config_file": CONFIGS[args.dataset],
        "queries": n,
        "sweep": [
            {"method": m, "weight": w, "normalization": norm, "ndcg@10": round(mean[(m, w, norm)], 4)}
            for m, w, norm in settings
        ],
        "best_in_sample": {
            "method": best[0],
            "weight": best[1],
            "normalization": best[2],
            "ndcg@10": mean[best],
        },
        "cross_validated": {"folds": args.folds, "weights_picked": picks, "ndcg@10": sum(held_out) / n},
        "keyword_only": mean[("convex", 0.0, "minmax")],
        "dense_only": mean[("convex", 1.0, "minmax")],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for m, w, norm in settings:
        print(f"{m:6} {norm:6} w={w:.2f} nDCG@10 {mean[(m, w, norm)]:.4f}")
    print(
        f"best in-sample {best} {mean[best]:.4f}; "
        f"{args.folds}-fold CV {result['cross_validated']['ndcg@10']:.4f} "
        f"(weights picked {picks})"
    )
    project.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
