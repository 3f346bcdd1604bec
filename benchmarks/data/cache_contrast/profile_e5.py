"""How hard is the contrast set for a cosine threshold alone? (multilingual-e5-small, query side)

Prints, per file and per kind, the cosine between the two texts of each row, and the
threshold-only trade-off the issue describes: the largest threshold at which >= 80% of true
paraphrases still hit, and the share of look-alike pairs that would hit at it. It also lists the
closest cross-row neighbours (a `similar` nearer to another row's `origin`/`a` than to its own
origin), which a data author should eyeball: a near-duplicate meaning across rows would make a
correct cache hit count as a wrong one.

This describes the data; the cache benchmark (`benchmarks/cache.py`) measures the cache.

    python benchmarks/data/cache_contrast/profile_e5.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from llmpilot.config import EmbedderConfig
from llmpilot.embedding.local import E5SmallEmbedder

HERE = Path(__file__).resolve().parent


def load(name: str) -> list[dict[str, str]]:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def quantiles(values: np.ndarray) -> dict[str, float]:
    return {q: round(float(np.quantile(values, p)), 4) for q, p in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))}


def profile(lang: str, embedder: E5SmallEmbedder) -> dict[str, object]:
    pairs = load(f"pairs-{lang}.jsonl")
    negs = load(f"negatives-{lang}.jsonl")
    origin = embedder.embed([p["origin"] for p in pairs], "query")
    similar = embedder.embed([p["similar"] for p in pairs], "query")
    a = embedder.embed([n["a"] for n in negs], "query")
    b = embedder.embed([n["b"] for n in negs], "query")
    pos = np.einsum("ij,ij->i", origin, similar)
    neg = np.einsum("ij,ij->i", a, b)

    # Threshold-only view: keep 80% of paraphrases -> how many look-alikes pass too?
    t80 = float(np.quantile(pos, 0.2))
    by_kind: dict[str, list[float]] = defaultdict(list)
    for row, cos in zip(negs, neg, strict=True):
        by_kind[row["kind"]].append(float(cos))
    kinds = {
        k: {"n": len(v), **quantiles(np.array(v)), "hit_at_t80": round(float(np.mean(np.array(v) >= t80)), 3)}
        for k, v in sorted(by_kind.items())
    }
    # Threshold that lets <= 1% of look-alikes through -> paraphrase hits kept.
    t01 = float(np.quantile(neg, 0.99))

    # Cross-row neighbours: every query vs everything a benchmark inserts (origins + a's).
    inserted = np.vstack([origin, a])
    labels = [p["id"] for p in pairs] + [n["id"] for n in negs]
    suspects = []
    for i, vec in enumerate(similar):
        sims = inserted @ vec
        j = int(np.argmax(sims))
        if labels[j] != pairs[i]["id"]:
            other = pairs[j]["origin"] if j < len(pairs) else negs[j - len(pairs)]["a"]
            suspects.append(
                {
                    "id": pairs[i]["id"],
                    "similar": pairs[i]["similar"],
                    "nearest": labels[j],
                    "text": other,
                    "cos_nearest": round(float(sims[j]), 4),
                    "cos_own": round(float(pos[i]), 4),
                }
            )
    return {
        "n_pairs": len(pairs),
        "n_negatives": len(negs),
        "paraphrase_cos": quantiles(pos),
        "negative_cos": quantiles(neg),
        "threshold_keep_80pct_paraphrases": round(t80, 4),
        "negative_hit_rate_at_that_threshold": round(float(np.mean(neg >= t80)), 4),
        "threshold_1pct_negatives": round(t01, 4),
        "paraphrase_hit_rate_at_that_threshold": round(float(np.mean(pos > t01)), 4),
        "negatives_by_kind": kinds,
        "paraphrases_nearest_to_another_row": suspects,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    embedder = E5SmallEmbedder(EmbedderConfig())
    report = {"embedder": embedder.model_id, **{lang: profile(lang, embedder) for lang in ("ko", "en")}}
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
