"""Score a system's answers against a dataset's reference answers, without running our pipeline.

Predictions are JSONL `{"query_id", "answer", "contexts"?: [str]}`; every bad line is reported with
its number. Per-query scores are kept; every aggregate carries a bootstrap 95% CI.

Result (also the `eval score --json` file):
- "metrics": for each metric NAME, NAME (0-1) with NAME_ci_low and NAME_ci_high (95%, percentile
  bootstrap over queries, 1000 resamples, seed 0). Sentence-level metrics (bleu, chrf, rouge1/2/L,
  meteor, bertscore_f1, moverscore, semantic_similarity, judge criteria) are means of per-query
  values. bleu_corpus and chrf_corpus are sacrebleu corpus scores over all scored predictions
  (n-gram statistics summed first); they have no per-query values, and their CI resamples the
  queries and recomputes the corpus score.
- "per_query": one row per scored prediction with its sentence-level values.
- "n_queries", "missing" (queries without a reference or a prediction; per metric, how many
  per-query values are missing), and "options" (bertscore_idf, moverscore_idf as used).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmpilot.errors import DatasetError
from llmpilot.evaluation import answer_metrics, token_scores
from llmpilot.evaluation.bootstrap import bootstrap_ci
from llmpilot.evaluation.datasets import RetrievalDataset
from llmpilot.evaluation.judge import CRITERIA, judge
from llmpilot.evaluation.metric_names import SENTENCE_METRICS
from llmpilot.protocols import Embedder, Generator

#: Corpus-level metrics (one score over all predictions, no per-query values) and what they score.
_CORPUS_KIND: dict[str, answer_metrics.CorpusMetric] = {"bleu_corpus": "bleu", "chrf_corpus": "chrf"}
CORPUS_METRICS = tuple(_CORPUS_KIND)
#: Metrics with one value per answer (what an optimization trial can average, too).
TEXT_METRICS = (*SENTENCE_METRICS, *CORPUS_METRICS)


@dataclass(frozen=True)
class Prediction:
    query_id: str
    answer: str
    contexts: list[str] = field(default_factory=list)


def load_predictions(path: Path, dataset: RetrievalDataset) -> list[Prediction]:
    known = {q.id for q in dataset.queries}
    problems: list[str] = []
    out: list[Prediction] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: predictions file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 ({exc.reason}); re-save it as UTF-8") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{lineno}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{path}:{lineno}: expected a JSON object")
            continue
        qid, answer = str(row.get("query_id", "")), row.get("answer")
        contexts = row.get("contexts") or []
        if not qid:
            problems.append(f"{path}:{lineno}: missing 'query_id'")
        elif qid not in known:
            problems.append(f"{path}:{lineno}: unknown query_id {qid!r} (not in the dataset's queries)")
        elif qid in seen:
            problems.append(f"{path}:{lineno}: duplicate query_id {qid!r}")
        elif not isinstance(answer, str):
            problems.append(f"{path}:{lineno}: 'answer' must be a string")
        elif not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            problems.append(f"{path}:{lineno}: 'contexts' must be a list of strings")
        else:
            seen.add(qid)
            out.append(Prediction(qid, answer, contexts))
    if problems:
        raise DatasetError("invalid predictions:\n" + "\n".join(problems))
    return out


def score_answers(
    answers: Sequence[str],
    references: Sequence[Sequence[str]],
    metrics: Sequence[str] = SENTENCE_METRICS,
    *,
    bertscore_idf: bool = False,
    moverscore_idf: bool = True,
) -> list[dict[str, float]]:
    """Sentence-level scores of each answer against its references (the best reference counts),
    one row per answer, for the requested metrics among SENTENCE_METRICS."""
    rows: list[dict[str, float]] = []
    for answer, refs in zip(answers, references, strict=True):
        row: dict[str, float] = {}
        if "bleu" in metrics:
            row["bleu"] = answer_metrics.bleu(answer, refs)
        if "chrf" in metrics:
            row["chrf"] = answer_metrics.chrf(answer, refs)
        if "meteor" in metrics:
            row["meteor"] = answer_metrics.meteor(answer, refs)
        if {"rouge1", "rouge2", "rougeL"} & set(metrics):
            row.update({k: v for k, v in answer_metrics.rouge(answer, refs).items() if k in metrics})
        rows.append(row)
    token_metrics: dict[str, Any] = {
        "bertscore_f1": lambda: token_scores.bertscore_f1(answers, references, idf=bertscore_idf),
        "moverscore": lambda: token_scores.moverscore(answers, references, idf=moverscore_idf),
    }
    for name, compute in token_metrics.items():
        if name in metrics and rows:
            for row, value in zip(rows, compute(), strict=True):
                row[name] = value
    return rows


def score_predictions(
    dataset: RetrievalDataset,
    predictions: Sequence[Prediction],
    *,
    metrics: Sequence[str] = TEXT_METRICS,
    embedder: Embedder | None = None,
    judge_generator: Generator | None = None,
    bertscore_idf: bool = False,
    moverscore_idf: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Score `predictions` against `dataset`'s reference answers (see the module docstring for the
    result). idf options follow bert-score (off) and MoverScore (on); `seed` seeds every bootstrap."""
    answers = {q.id: q.answers for q in dataset.queries}
    scored = [p for p in predictions if answers.get(p.query_id)]
    missing: dict[str, Any] = {
        "no_reference_answer": sorted(p.query_id for p in predictions if not answers.get(p.query_id)),
        "no_prediction": sorted(set(answers) - {p.query_id for p in predictions}),
    }
    texts, refs_of = [p.answer for p in scored], [answers[p.query_id] for p in scored]
    per_query: list[dict[str, Any]] = [
        {"query_id": p.query_id, **row}
        for p, row in zip(
            scored,
            score_answers(
                texts, refs_of, metrics, bertscore_idf=bertscore_idf, moverscore_idf=moverscore_idf
            ),
            strict=True,
        )
    ]
    if embedder is not None and scored:
        sims = answer_metrics.semantic_similarity(texts, refs_of, embedder)
        for row, sim in zip(per_query, sims, strict=True):
            row["semantic_similarity"] = sim
    if judge_generator is not None:
        questions = {q.id: q.text for q in dataset.queries}
        for p, row in zip(scored, per_query, strict=True):
            for criterion in CRITERIA:
                if criterion != "answer_relevance" and not p.contexts:
                    row[criterion], row[f"{criterion}_missing"] = None, "no contexts in the prediction"
                    continue
                verdict = judge(
                    judge_generator,
                    criterion,
                    question=questions[p.query_id],
                    answer=p.answer,
                    contexts=p.contexts,
                )
                row[criterion] = verdict.score
                if verdict.score is None:
                    row[f"{criterion}_missing"] = verdict.reason
    aggregate: dict[str, float] = {}
    names = list(
        dict.fromkeys(k for row in per_query for k in row if k != "query_id" and not k.endswith("_missing"))
    )
    for name in names:
        values = [row[name] for row in per_query if row.get(name) is not None]
        n_missing = len(per_query) - len(values)
        if n_missing:
            missing[name] = n_missing
        if not values:
            continue  # every judgement missing: reported in "missing", never averaged as 0 or NaN
        mean, low, high = bootstrap_ci(values, seed=seed)
        aggregate.update({name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high})
    for name, kind in _CORPUS_KIND.items():
        if name in metrics and scored:
            value, low, high = answer_metrics.corpus_score_ci(kind, texts, refs_of, seed=seed)
            aggregate.update({name: value, f"{name}_ci_low": low, f"{name}_ci_high": high})
    options = {"bertscore_idf": bertscore_idf, "moverscore_idf": moverscore_idf}
    return {
        "metrics": aggregate,
        "per_query": per_query,
        "n_queries": len(per_query),
        "missing": missing,
        "options": options,
    }
