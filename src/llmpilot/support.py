"""Is each sentence of an answer supported by the source it cites?

A verified [n] only says that source n exists and is the stored text; a small model's word salad
ending in "[1]" passes that check. Here every sentence is judged against the source(s) it cites
(its own [n] markers, else the source that post-hoc attribution finds for it):

- lexical support: at least `MIN_SUPPORT_SHARE` of the sentence's distinct content tokens (the
  project's tokenizer: Kiwi morphemes + bigrams for Korean, stemmed non-stopwords for English;
  markers and punctuation never count) occur in the source's title + chunk;
- every figure (with its unit, as `answering.unsupported_numbers` reads them) and every code-like
  token (E07, SBX-2210) of the sentence occurs in that same source: "E12" with a source that
  only says "E07" is not supported however many other words match.

Sentences with fewer than `MIN_JUDGED_TOKENS` content tokens ("Yes.", "네.") are not judged, nor
are sentences that only restate the question (fewer than `MIN_NEW_TOKENS` content tokens that are
not the question's): an echo of the question shares words with the source that answers it but
states nothing, and a small model's "answer" is often just that.
A judged sentence that cites nothing and that attribution cannot place is unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmpilot.answering import MIN_ATTRIBUTION_TOKENS, cited_markers, strip_markers, unsupported_numbers
from llmpilot.types import Hit

Tokenize = Callable[[Sequence[str]], list[list[str]]]

#: Measured by benchmarks/support_threshold.py on the sample corpus (docs/SERVING.md, "Sentence
#: support"): 13 quoted or paraphrased sentences (Korean with other particles and endings too)
#: keep >= 0.636 of their tokens in the cited source; word salad and wrong explanations in other
#: words ("E12 is a warning that the battery is damaged") keep <= 0.5. Salad made only of the
#: source's own words (0.67-0.70) is beyond any lexical threshold that keeps paraphrases.
MIN_SUPPORT_SHARE = 0.6
#: Fewer content tokens than this: too short to judge (and too short to attribute).
MIN_JUDGED_TOKENS = MIN_ATTRIBUTION_TOKENS
#: Content tokens beyond the question's that a sentence needs to state anything ("10 years").
MIN_NEW_TOKENS = 2

#: Error codes, model and serial numbers: letters then (a hyphen and) a digit: E07, SBX-2210, A4.
_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,6}-?\d[A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9])")


def codes(text: str) -> set[str]:
    """Code-like tokens of `text`, upper-cased (E07, SBX-2210)."""
    return {c.upper() for c in _CODE.findall(text)}


@dataclass(frozen=True)
class SentenceCheck:
    """One answer sentence: the sources it cites ([n] markers, else attributed) and which of them
    support it. `judged` is False for sentences too short to judge."""

    text: str
    cited: tuple[int, ...]
    attributed: bool
    judged: bool
    supported_by: tuple[int, ...]
    #: Best lexical share among the cited sources (for traces and threshold measurements).
    share: float

    @property
    def supported(self) -> bool:
        return bool(self.supported_by)


@dataclass(frozen=True)
class SupportCheck:
    sentences: tuple[SentenceCheck, ...]

    @property
    def judged(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.judged]

    @property
    def support(self) -> float:
        """Share of judged sentences that are supported (1.0 when none is judged)."""
        judged = self.judged
        return 1.0 if not judged else sum(s.supported for s in judged) / len(judged)

    @property
    def unsupported(self) -> list[str]:
        """Judged sentences no cited source supports (uncited ones included)."""
        return [s.text for s in self.judged if not s.supported]

    @property
    def nothing_supported(self) -> bool:
        """There is content to judge and none of it is supported."""
        judged = self.judged
        return bool(judged) and not any(s.supported for s in judged)

    def unsupported_markers(self) -> set[int]:
        """[n] markers written by the model that support none of the sentences citing them (only
        when every sentence citing n was judged: "Yes [1]." keeps [1])."""
        marked = [s for s in self.sentences if not s.attributed]
        cited = {n for s in marked for n in s.cited}
        return {n for n in cited if all(s.judged and n not in s.supported_by for s in marked if n in s.cited)}

    def attributed_sources(self) -> list[int]:
        """Sources attribution placed under unmarked sentences that they support, in order of use."""
        out: list[int] = []
        for s in self.sentences:
            if s.attributed:
                out.extend(n for n in s.supported_by if n not in out)
        return out


def lexical_share(sentence_tokens: set[str], source_tokens: set[str]) -> float:
    return len(sentence_tokens & source_tokens) / len(sentence_tokens) if sentence_tokens else 0.0


def figures_and_codes_found(sentence: str, hit: Hit) -> bool:
    """Every figure (with its unit) and code of `sentence` occurs in the source `hit`."""
    source = f"{hit.title}\n{hit.chunk.text}"
    return not unsupported_numbers(sentence, [hit]) and codes(sentence) <= codes(source)


def check_support(
    sentences: Sequence[str],
    hits: Sequence[Hit],
    tokenize: Tokenize,
    *,
    verifiable: Callable[[int], bool],
    attribute_min_overlap: float,
    min_share: float = MIN_SUPPORT_SHARE,
    question: str = "",
) -> SupportCheck:
    """Judge each sentence against the sources it cites: its valid [n] markers (invalid ones were
    already removed from the text), else the verifiable source(s) holding the largest share of its
    tokens when that share is at least `attribute_min_overlap` (post-hoc attribution)."""
    if not sentences:
        return SupportCheck(())
    plain = [strip_markers(s, set(cited_markers(s))) for s in sentences]
    sources = [f"{h.title}\n{h.chunk.text}" for h in hits]
    token_sets = [set(tokens) for tokens in tokenize([*plain, *sources, question])]
    sentence_sets, source_sets = token_sets[: len(plain)], token_sets[len(plain) : -1]
    asked = token_sets[-1]
    checks: list[SentenceCheck] = []
    for sentence, words in zip(sentences, sentence_sets, strict=True):
        marked = [n for n in cited_markers(sentence) if 1 <= n <= len(hits)]
        judged = len(words) >= MIN_JUDGED_TOKENS and len(words - asked) >= MIN_NEW_TOKENS
        attributed = not marked
        cited = marked
        if attributed and judged and hits:
            overlaps = [lexical_share(words, src) for src in source_sets]
            best = max(overlaps)
            if best >= attribute_min_overlap:
                cited = [i + 1 for i, v in enumerate(overlaps) if v == best and verifiable(i + 1)]
        shares = {n: lexical_share(words, source_sets[n - 1]) for n in cited}
        supported_by = tuple(
            n
            for n in cited
            if judged and shares[n] >= min_share and figures_and_codes_found(sentence, hits[n - 1])
        )
        checks.append(
            SentenceCheck(
                text=sentence,
                cited=tuple(cited),
                attributed=attributed,
                judged=judged,
                supported_by=supported_by,
                share=max(shares.values(), default=0.0),
            )
        )
    return SupportCheck(tuple(checks))
