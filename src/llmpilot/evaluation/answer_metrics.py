"""Answer metrics against reference answers: BLEU and chrF (sacrebleu), ROUGE-1/2/L with a
Korean-aware tokenizer, METEOR (nltk over Debian's WordNet), and embedding similarity. All 0-1.

Korean text is tokenized into kiwipiepy morphemes before BLEU/ROUGE (sacrebleu's ko-mecab needs
a MeCab install; stock rouge-score drops Hangul entirely); English is lowercased words. chrF works
on characters and needs no tokenizer. With several references, the best score counts.
"""

from __future__ import annotations

import functools
import re
import shutil
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sacrebleu

from llmpilot.errors import ModelNotAvailableError
from llmpilot.index.tokenizers import get_kiwi, is_korean
from llmpilot.protocols import Embedder

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


def meteor(prediction: str, references: Sequence[str]) -> float:
    """nltk's METEOR (exact, Porter-stem and WordNet-synonym matches). Korean gets exact morpheme
    matches only: WordNet and the Porter stemmer are English."""
    from nltk.translate.meteor_score import meteor_score

    pred = tokenize(prediction)
    refs = [tokenize(r) for r in references]
    if not pred or not any(refs):
        return 0.0
    return float(meteor_score(refs, pred, wordnet=_wordnet()))
