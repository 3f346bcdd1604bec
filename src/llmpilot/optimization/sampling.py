"""Corpus samples for the early rungs of successive halving.

Halving already evaluates early rungs on a few queries; with corpus sampling it also indexes only
part of the corpus there: every document relevant to the rung's queries plus a fixed random share
of the corpus, growing with the rung's query share (the search takes its square root: samples as
small as the query share were so easy that most configs tied at the top). Early rungs then embed a fraction of
each (chunking, embedder) pair, and only the pairs that survive are embedded in full. Scores on a
sample are higher than on the full corpus (fewer distractors); within a rung every config sees the
same sample, which is what the ranking needs.

Samples are nested (a prefix of one fixed shuffle of the corpus, plus the relevant documents of
a growing query prefix), so a larger rung's sample contains the smaller one's.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from llmpilot.evaluation.datasets import Query, RetrievalDataset


@dataclass(frozen=True)
class CorpusSample:
    dataset: RetrievalDataset
    #: Identifies the sample's documents (the fingerprint its work store is keyed by).
    fingerprint: str
    fraction: float


def sample_corpus(
    dataset: RetrievalDataset, queries: Sequence[Query], fraction: float, seed: int = 0
) -> CorpusSample:
    """The documents relevant to `queries` plus a fixed random `fraction` of the corpus."""
    relevant = {doc for q in queries for doc, grade in dataset.qrels.get(q.id, {}).items() if grade > 0}
    # One fixed shuffle of the whole corpus, and a prefix of it: samples nest as the fraction grows.
    order = sorted(d.id for d in dataset.corpus)
    random.Random(seed).shuffle(order)
    keep = relevant | set(order[: math.ceil(len(order) * fraction)])
    corpus = [d for d in dataset.corpus if d.id in keep]
    ids = sorted(d.id for d in corpus)
    fingerprint = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    sampled = RetrievalDataset(
        name=f"{dataset.name}@sample-{fingerprint[:10]}",
        corpus=corpus,
        queries=list(queries),
        qrels={q.id: dataset.qrels.get(q.id, {}) for q in queries},
        spans={q.id: dataset.spans[q.id] for q in queries if q.id in dataset.spans},
    )
    return CorpusSample(sampled, fingerprint, len(corpus) / max(1, len(dataset.corpus)))
