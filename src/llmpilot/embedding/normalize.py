"""Shared helpers for embedders: output normalization, prefixes and cache-key identities."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from llmpilot.types import EmbedKind


def l2_normalize(vectors: Any) -> np.ndarray:
    """float32 copy of `vectors` (n, dim) with unit rows; an all-zero row stays zero instead of NaN."""
    out = np.array(vectors, dtype=np.float32, copy=True)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-d array of embeddings, got shape {out.shape}")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def empty(dim: int) -> np.ndarray:
    return np.zeros((0, dim), dtype=np.float32)


def batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def with_prefix(texts: Sequence[str], prefix: str) -> list[str]:
    return [prefix + t for t in texts] if prefix else list(texts)


def check_kind(kind: EmbedKind) -> None:
    # A typo here would silently embed queries as passages: fail loudly instead.
    if kind not in ("query", "passage"):
        raise ValueError(f"embed kind must be 'query' or 'passage', got {kind!r}")


def compose_model_id(base: str, query_prefix: str, passage_prefix: str) -> str:
    """`base` plus both prefixes: vectors made with other prefixes must not share cache entries."""
    q = json.dumps(query_prefix, ensure_ascii=False)
    p = json.dumps(passage_prefix, ensure_ascii=False)
    return f"{base} q={q} p={p}"
