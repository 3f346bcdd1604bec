"""How a study searches: the strategy and its knobs. Part of a study's identity (its trials are
keyed by a hash of these settings), so changing a field's default changes which trials resume."""

from __future__ import annotations

from dataclasses import dataclass

STRATEGIES = ("grid", "random", "halving", "greedy")


@dataclass(frozen=True)
class SearchSettings:
    strategy: str = "halving"
    primary_metric: str = "ndcg@10"
    #: random: how many configs; halving: ignored; grid/greedy: ignored.
    budget: int | None = None
    #: halving: keep the best 1/eta at each rung and grow the query subset eta times.
    eta: int = 3
    #: halving: queries in the first rung (at least).
    min_queries: int = 12
    seed: int = 0
    #: Answer metrics scored per trial (generation); empty = retrieval metrics only. `optimize`
    #: fills the default set when the space varies the generator or the prompt.
    answer_metrics: tuple[str, ...] = ()
    #: Evaluate on a fixed random sample of this many queries (generation is expensive).
    max_queries: int | None = None
    #: halving: early rungs index a corpus sample (relevant docs + a growing share of the rest),
    #: so pairs of (chunking, embedder) eliminated early are never embedded in full.
    sample_corpus: bool = False
