"""Answer metrics against reference answers: BLEU and chrF (sacrebleu), ROUGE-1/2/L with a
Korean-aware tokenizer, and embedding similarity. All on a 0-1 scale.

Korean text is tokenized into kiwipiepy morphemes before BLEU/ROUGE (sacrebleu's ko-mecab needs
a MeCab install; stock rouge-score drops Hangul entirely); English is lowercased words. chrF works
on characters and needs no tokenizer. With several references, the best score counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import sacrebleu

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
    return float(sacrebleu.sentence_bleu(hyp, refs, tokenize="none").score) / 100.0


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
