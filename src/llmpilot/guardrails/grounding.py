"""Grounding check on a finished answer: is each sentence supported by the chunks it cites?

The lexical judgement is the answer policy's own (`llmpilot.support`, already stored on the answer
as `unsupported_sentences`); this rail adds the embedding view, so a faithful paraphrase in other
words is not reported: a lexically unsupported sentence still counts as supported when its
embedding's cosine to one of its cited chunks (all retrieved chunks when it cites none) reaches
`min_cosine`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from llmpilot.answering import cited_markers, strip_markers
from llmpilot.types import Answer, Hit

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Grounding:
    #: Sentences neither lexical nor embedding support covers.
    unsupported: list[str]
    #: Lexically unsupported sentences the embedding check accepted.
    rescued: int
    #: Best cosine of each lexically unsupported sentence to its cited chunk(s).
    cosines: list[float]


def check_grounding(answer: Answer, hits: Sequence[Hit], embed: Embed | None, min_cosine: float) -> Grounding:
    lexical = list(answer.unsupported_sentences)
    if not lexical or embed is None or not hits:
        return Grounding(lexical, 0, [])
    cited = []
    for sentence in lexical:
        marks = [n for n in cited_markers(sentence) if 1 <= n <= len(hits)]
        cited.append(marks or list(range(1, len(hits) + 1)))
    needed = sorted({n for marks in cited for n in marks})
    plain = [strip_markers(s, set(cited_markers(s))) for s in lexical]
    vectors = np.asarray(embed([*plain, *(hits[n - 1].chunk.text for n in needed)]), dtype=np.float32)
    sentence_vecs, chunk_vecs = vectors[: len(plain)], vectors[len(plain) :]
    row = {n: i for i, n in enumerate(needed)}
    unsupported: list[str] = []
    cosines: list[float] = []
    for sentence, vec, marks in zip(lexical, sentence_vecs, cited, strict=True):
        best = max(float(vec @ chunk_vecs[row[n]]) for n in marks)
        cosines.append(best)
        if best < min_cosine:
            unsupported.append(sentence)
    return Grounding(unsupported, len(lexical) - len(unsupported), cosines)
