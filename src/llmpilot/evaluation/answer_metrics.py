"""Answer metrics against reference answers: BLEU and chrF (sacrebleu; sentence level and corpus
level), ROUGE-1/2/L with a Korean-aware tokenizer, METEOR (nltk over Debian's WordNet), and
embedding similarity. All 0-1.

Korean text is tokenized into kiwipiepy morphemes before BLEU/ROUGE/METEOR (sacrebleu's ko-mecab
needs a MeCab install; stock rouge-score drops Hangul entirely); English is lowercased words. chrF
works on characters and needs no tokenizer. With several references, the best score counts at
sentence level; corpus BLEU/chrF use every reference (sacrebleu's multi-reference statistics).

Corpus BLEU/chrF are not means of sentence scores: n-gram statistics are summed over all
predictions first, then one score is computed (what MT papers report). They have no per-query
values, so their CI comes from `corpus_score_ci`: a bootstrap over queries that recomputes the
corpus score on each resample from per-sentence sufficient statistics.

METEOR and WordNet synonyms: nltk's `meteor_score` runs its stages as exact -> Porter stem ->
WordNet synonym, but hands the synonym stage the *stems* of the words still unmatched, and
WordNet has no entry for most stems ("automobile" -> "automobil", "large" -> "larg", "happy" ->
"happi", "purchased" -> "purchas"), so such words never match a synonym. Only words whose stem is
a WordNet lemma ("car", "big", "fast") do. The METEOR papers (Banerjee & Lavie 2005; Lavie &
Agarwal 2007) match synonyms on the words themselves. `meteor` therefore runs nltk's own three
stages but feeds the synonym stage the surface words; `meteor(..., nltk_compat=True)` reproduces
stock nltk exactly (e.g. to compare with numbers published from it).
"""

from __future__ import annotations

import functools
import re
import shutil
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from llmpilot.errors import ModelNotAvailableError
from llmpilot.evaluation.bootstrap import bootstrap_statistic_ci
from llmpilot.extras import requires_extra
from llmpilot.index.tokenizers import get_kiwi, is_korean
from llmpilot.protocols import Embedder

with requires_extra("eval", "Evaluation (llmpilot eval, bench, optimize)"):
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF

_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Morphemes for Korean text, lowercased words otherwise (punctuation dropped)."""
    if is_korean(text):
        return [t.form.lower() for t in get_kiwi().tokenize(text) if _WORD.fullmatch(t.form)]
    return _WORD.findall(text.lower())


def bleu(prediction: str, references: Sequence[str]) -> float:
    hyp = " ".join(tokenize(prediction))
    refs = [" ".join(tokenize(r)) for r in references]
    # sacrebleu's float arithmetic can land a hair above 100 on an exact match.
    return min(1.0, float(sacrebleu.sentence_bleu(hyp, refs, tokenize="none").score) / 100.0)


def chrf(prediction: str, references: Sequence[str]) -> float:
    return float(sacrebleu.sentence_chrf(prediction, list(references)).score) / 100.0


CorpusMetric = Literal["bleu", "chrf"]


def _corpus_statistics(
    metric: CorpusMetric, predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[Any, np.ndarray]:
    """sacrebleu's metric object and its per-sentence sufficient statistics (one row a prediction):
    a corpus score is the metric of the rows' sum, which makes bootstrap resamples cheap (this is
    how sacrebleu's own --confidence bootstrap works)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if not predictions:
        raise ValueError("a corpus score needs at least one prediction")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every prediction needs at least one reference answer")
    scorer: Any
    if metric == "bleu":
        # Same Korean-aware tokens as sentence-level `bleu`; sacrebleu must not re-tokenize.
        scorer = BLEU(tokenize="none")
        hyps = [" ".join(tokenize(p)) for p in predictions]
        refs = [[" ".join(tokenize(r)) for r in group] for group in references]
    elif metric == "chrf":
        scorer, hyps, refs = CHRF(), list(predictions), [list(group) for group in references]
    else:
        raise ValueError(f"unknown corpus metric {metric!r}; choose bleu or chrf")
    # sacrebleu takes reference *streams*; None pads queries with fewer references.
    width = max(len(group) for group in refs)
    streams = [[group[k] if k < len(group) else None for group in refs] for k in range(width)]
    # Both metrics' statistics are integer n-gram and length counts: sums stay exact.
    return scorer, np.asarray(scorer._extract_corpus_statistics(hyps, streams), dtype=np.int64)


def _score_from_statistics(scorer: Any, summed: np.ndarray) -> float:
    score = float(scorer._compute_score_from_stats(summed.tolist()).score) / 100.0
    return min(1.0, score)  # BLEU of an exact match can land a hair above 100


def corpus_bleu(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """sacrebleu's corpus BLEU over all predictions, on the same tokens as `bleu`; 0-1."""
    scorer, stats = _corpus_statistics("bleu", predictions, references)
    return _score_from_statistics(scorer, stats.sum(axis=0))


def corpus_chrf(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """sacrebleu's corpus chrF (character n-grams summed over all predictions); 0-1."""
    scorer, stats = _corpus_statistics("chrf", predictions, references)
    return _score_from_statistics(scorer, stats.sum(axis=0))


def corpus_score_ci(
    metric: CorpusMetric,
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(corpus score, low, high): percentile bootstrap over queries. Each resample draws queries
    with replacement and recomputes the corpus score; deterministic for a seed."""
    scorer, stats = _corpus_statistics(metric, predictions, references)
    return bootstrap_statistic_ci(
        len(stats),
        lambda idx: _score_from_statistics(scorer, stats[idx].sum(axis=0)),
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    p, r = overlap / n_pred, overlap / n_ref
    return 2 * p * r / (p + r)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[-1]))
        prev = cur
    return prev[-1]


def rouge(prediction: str, references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 (best over references), as rouge-score computes them."""
    pred = tokenize(prediction)
    best = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for reference in references:
        ref = tokenize(reference)
        for n, name in ((1, "rouge1"), (2, "rouge2")):
            p, r = _ngrams(pred, n), _ngrams(ref, n)
            score = _f1(sum((p & r).values()), sum(p.values()), sum(r.values()))
            best[name] = max(best[name], score)
        best["rougeL"] = max(best["rougeL"], _f1(_lcs(pred, ref), len(pred), len(ref)))
    return best


def semantic_similarity(
    predictions: Sequence[str], references: Sequence[Sequence[str]], embedder: Embedder
) -> list[float]:
    """Cosine of passage embeddings, best over references, clipped to 0-1."""
    flat = [r for refs in references for r in refs]
    pred_vecs = embedder.embed(list(predictions), "passage")
    ref_vecs = embedder.embed(flat, "passage")
    out, i = [], 0
    for vec, refs in zip(pred_vecs, references, strict=True):
        sims = ref_vecs[i : i + len(refs)] @ vec
        i += len(refs)
        out.append(float(np.clip(sims.max(), 0.0, 1.0)) if len(refs) else 0.0)
    return out


#: Debian's `wordnet-base` package (WordNet 3.0); nltk cannot download its own copy offline.
WORDNET_DIR = Path("/usr/share/wordnet")
#: WordNet 3.0's lexicographer file list, which Debian's package leaves out and nltk requires.
_LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_POS_CODE = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def _wordnet_root() -> Path:
    """A folder nltk can read: a copy of Debian's WordNet files (nltk refuses symlinks that leave
    its data folders), plus `lexnames`."""
    root = Path.home() / ".cache" / "llmpilot" / "wordnet"
    if not (root / "lexnames").exists():
        root.mkdir(parents=True, exist_ok=True)
        for src in WORDNET_DIR.iterdir():
            if not (root / src.name).exists():
                shutil.copyfile(src, root / src.name)
        lines = [f"{i:02d}\t{name}\t{_POS_CODE[name.split('.')[0]]}" for i, name in enumerate(_LEXNAMES)]
        (root / "lexnames").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@functools.cache
def _wordnet() -> Any:
    if not (WORDNET_DIR / "data.noun").exists():
        raise ModelNotAvailableError(
            f"METEOR needs WordNet at {WORDNET_DIR}: run scripts/install_debian_deps.sh (wordnet-base)"
        )
    with requires_extra("eval", "METEOR"):
        import nltk
        from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class LocalWordNet(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            # The mapping onto nltk's own WordNet copy serves multilingual OMW data, unused here.
            return None

    root = _wordnet_root()
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # nltk only reads corpora under its data paths
    with warnings.catch_warnings():  # "multilingual functions are not available": expected, OMW unused
        warnings.simplefilter("ignore", UserWarning)
        return LocalWordNet(str(root), None)


def _align(hyp: Sequence[str], ref: Sequence[str], wordnet: Any) -> list[tuple[int, int]]:
    """nltk's exact -> Porter stem -> WordNet synonym stages, with the synonym stage looking up the
    words themselves (nltk passes it the stems; see the module docstring)."""
    from nltk.translate.meteor_score import _enum_stem_match, _enum_wordnetsyn_match, _match_enums

    enum_hyp, enum_ref = list(enumerate(hyp)), list(enumerate(ref))
    exact, enum_hyp, enum_ref = _match_enums(enum_hyp, enum_ref)
    stem, stemmed_hyp, stemmed_ref = _enum_stem_match(enum_hyp, enum_ref)
    # Back from stems to the surface words, by position (the enums carry the original indices).
    surface_hyp = [(i, hyp[i]) for i, _ in stemmed_hyp]
    surface_ref = [(j, ref[j]) for j, _ in stemmed_ref]
    synonym, _, _ = _enum_wordnetsyn_match(surface_hyp, surface_ref, wordnet=wordnet)
    return sorted(exact + stem + synonym, key=lambda pair: pair[0])


def _meteor_single(
    hyp: Sequence[str],
    ref: Sequence[str],
    wordnet: Any,
    alpha: float = 0.9,
    beta: float = 3.0,
    gamma: float = 0.5,
) -> float:
    """nltk's `single_meteor_score` arithmetic (same parameters) over `_align`'s matches."""
    from nltk.translate.meteor_score import _count_chunks

    matches = _align(hyp, ref, wordnet)
    if not matches or not hyp or not ref:
        return 0.0
    precision, recall = len(matches) / len(hyp), len(matches) / len(ref)
    fmean = precision * recall / (alpha * precision + (1 - alpha) * recall)
    penalty = gamma * (_count_chunks(matches) / len(matches)) ** beta
    return (1 - penalty) * fmean


def meteor(prediction: str, references: Sequence[str], *, nltk_compat: bool = False) -> float:
    """METEOR (exact, Porter-stem and WordNet-synonym matches; best over references). Synonyms are
    looked up on the words, as in the METEOR papers; `nltk_compat=True` gives stock nltk
    `meteor_score`, which looks them up on Porter stems. Korean gets exact morpheme matches only:
    WordNet and the Porter stemmer are English."""
    pred = tokenize(prediction)
    refs = [tokenize(r) for r in references]
    if not pred or not any(refs):
        return 0.0
    if nltk_compat:
        with requires_extra("eval", "METEOR"):
            from nltk.translate.meteor_score import meteor_score

        return float(meteor_score(refs, pred, wordnet=_wordnet()))
    return max(_meteor_single(pred, ref, _wordnet()) for ref in refs)
