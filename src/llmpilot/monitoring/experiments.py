"""Online comparison of a candidate config with the live one, and the decision to promote it.

- shadow: every live request is also answered by the candidate in the background (never shown); each
  pair is judged, and the paired judge scores decide.
- split: a fraction of the callers (sticky per API key) is served by the candidate; the judge scores
  of both arms and their feedback (thumbs-down / low-rating share) decide.

The judge: a question the eval set knows (an approved review item, a curated item) is judged against
its ground truth — 1 when the answer cites one of its documents and does not abstain — so the
question a user corrected is judged by the correction. Any other question is judged reference-free by
the answer policy's own checks: its support share when it answered, 0 when it abstained.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from llmpilot.evaluation.bootstrap import paired_bootstrap
from llmpilot.monitoring.evalset import EvalItem
from llmpilot.types import Answer

MODES = ("shadow", "split")


def normalize_question(text: str) -> str:
    return " ".join(text.lower().split()).rstrip("?？.! ")


def reference_index(items: Sequence[EvalItem]) -> dict[str, EvalItem]:
    """Eval items with ground truth (source documents), by normalized question."""
    return {normalize_question(i.question): i for i in items if i.doc_ids}


def judge_answer(answer: dict[str, Any], reference: EvalItem | None) -> dict[str, Any]:
    """Judge scores of one answer (an `answer_dict`-shaped mapping): `judge` in 0-1 and its parts."""
    abstained = bool(answer.get("abstained"))
    cited = [c.get("doc_id") for c in answer.get("citations", [])]
    support = float(answer.get("support", 1.0)) if cited else 0.0
    scores: dict[str, Any] = {
        "abstained": float(abstained),
        "support": support,
        "confidence": float(answer.get("confidence", 0.0)),
        "cited": float(bool(cited)),
        "cited_docs": cited,
    }
    if reference is not None:
        right = not abstained and any(doc in reference.doc_ids for doc in cited)
        scores.update(judge=float(right), judged_by="reference", reference=reference.id)
    else:
        scores.update(judge=0.0 if abstained else support, judged_by="policy")
    return scores


def answer_json(answer: Answer) -> dict[str, Any]:
    from llmpilot.answering import answer_dict

    return answer_dict(answer)


def split_arm(experiment_id: int, caller: str, fraction: float) -> str:
    """ "candidate" for a stable `fraction` of callers, else "live" (a caller stays in one arm)."""
    digest = hashlib.sha256(f"{experiment_id}:{caller}".encode()).digest()
    return "candidate" if int.from_bytes(digest[:8], "big") / 2**64 < fraction else "live"


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of a difference between two rates (normal approximation; 1.0 when undefined)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(k1 / n1 - k2 / n2) / se
    return math.erfc(z / math.sqrt(2))


NEGATIVE = ("thumbs_down", "correction", "rating:1", "rating:2")
POSITIVE = ("thumbs_up", "rating:4", "rating:5")


def decide(
    judged: Sequence[tuple[float, float]],
    *,
    alpha: float,
    feedback: dict[str, dict[str, int]] | None = None,
    min_pairs: int = 5,
) -> dict[str, Any]:
    """The verdict on (live judge, candidate judge) pairs — shadow pairs, or per-question means of the
    two arms of a split — plus, for a split, each arm's negative-feedback counts.

    promote: the candidate's judge score is significantly higher (paired bootstrap, p < alpha) and its
    negative-feedback rate is not significantly higher; keep: significantly lower, or significantly
    more negative feedback; inconclusive otherwise (or with fewer than `min_pairs` pairs)."""
    evidence: dict[str, Any] = {"n_pairs": len(judged), "alpha": alpha}
    verdict = "inconclusive"
    if len(judged) >= min_pairs:
        live = [a for a, _ in judged]
        cand = [b for _, b in judged]
        test = paired_bootstrap(cand, live)
        evidence["judge"] = {
            "live_mean": sum(live) / len(live),
            "candidate_mean": sum(cand) / len(cand),
            **test,
        }
        if test["p_value"] < alpha:
            verdict = "promote" if test["mean_diff"] > 0 else "keep"
    else:
        evidence["reason"] = f"{len(judged)} judged pairs; at least {min_pairs} are needed"
    if feedback:
        live_fb, cand_fb = feedback.get("live", {}), feedback.get("candidate", {})
        p = two_proportion_p(
            cand_fb.get("negative", 0),
            cand_fb.get("answers", 0),
            live_fb.get("negative", 0),
            live_fb.get("answers", 0),
        )
        worse = (
            cand_fb.get("answers", 0) > 0
            and live_fb.get("answers", 0) > 0
            and cand_fb.get("negative", 0) / cand_fb["answers"]
            > live_fb.get("negative", 0) / live_fb["answers"]
        )
        evidence["feedback"] = {"live": live_fb, "candidate": cand_fb, "p_value": p}
        if worse and p < alpha:
            verdict = "keep"
            evidence["reason"] = "the candidate gets significantly more negative feedback"
    return {"verdict": verdict, "evidence": evidence}


def feedback_counts(traces: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per arm: answers served, answers with negative and with positive feedback."""
    out: dict[str, dict[str, int]] = {}
    for t in traces:
        arm = out.setdefault(t["variant"], {"answers": 0, "negative": 0, "positive": 0})
        arm["answers"] += 1
        arm["negative"] += int(any(s in NEGATIVE for s in t["feedback"]))
        arm["positive"] += int(any(s in POSITIVE for s in t["feedback"]))
    return out


def unpaired_p(a: Sequence[float], b: Sequence[float], *, permutations: int = 2000, seed: int = 0) -> float:
    """Two-sided permutation p-value of a difference of means between two independent samples."""
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        return 1.0
    observed = abs(x.mean() - y.mean())
    pooled = np.concatenate([x, y])
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(permutations):
        rng.shuffle(pooled)
        hits += abs(pooled[: x.size].mean() - pooled[x.size :].mean()) >= observed - 1e-12
    return (hits + 1) / (permutations + 1)


def decide_split(
    live: Sequence[float],
    candidate: Sequence[float],
    *,
    alpha: float,
    feedback: dict[str, dict[str, int]],
    min_answers: int = 5,
) -> dict[str, Any]:
    """The verdict of a traffic split: the arms' judge scores (unpaired permutation test) and their
    negative-feedback rates (two-proportion test), with the same rule as `decide`."""
    evidence: dict[str, Any] = {"n_live": len(live), "n_candidate": len(candidate), "alpha": alpha}
    verdict = "inconclusive"
    if min(len(live), len(candidate)) >= min_answers:
        p = unpaired_p(candidate, live)
        diff = sum(candidate) / len(candidate) - sum(live) / len(live)
        evidence["judge"] = {
            "live_mean": sum(live) / len(live),
            "candidate_mean": sum(candidate) / len(candidate),
            "mean_diff": diff,
            "p_value": p,
        }
        if p < alpha:
            verdict = "promote" if diff > 0 else "keep"
    else:
        evidence["reason"] = f"each arm needs at least {min_answers} answers"
    rest = decide([], alpha=alpha, feedback=feedback, min_pairs=1)
    evidence["feedback"] = rest["evidence"].get("feedback")
    if rest["verdict"] == "keep":
        verdict = "keep"
        evidence["reason"] = rest["evidence"]["reason"]
    return {"verdict": verdict, "evidence": evidence}
