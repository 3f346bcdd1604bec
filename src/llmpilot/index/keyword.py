"""BM25 keyword index on bm25s, with a tokenizer chosen by name from the registry.

Persisted as a folder: `bm25s/` (bm25s's own sparse-matrix files), `ids.json` and `manifest.json`
(format version, config, document count). Loading reads those files; nothing is re-tokenized.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import bm25s
import numpy as np
from pydantic import ValidationError

from llmpilot import factory
from llmpilot.config import KeywordIndexConfig
from llmpilot.errors import StoreError
from llmpilot.index import (
    FORMAT_VERSION,
    IDS_FILE,
    MANIFEST,
    begin_save,
    check_unique_ids,
    read_ids,
    read_manifest,
    write_json,
)
from llmpilot.protocols import KeywordIndex
from llmpilot.types import ScoredId

if TYPE_CHECKING:
    from llmpilot.index.pg_fts import PgFtsIndex

KIND = "bm25"
BM25_DIR = "bm25s"


class BM25Index:
    """Okapi BM25 (Lucene variant) over tokenized texts; implements `protocols.KeywordIndex`."""

    def __init__(self, cfg: KeywordIndexConfig) -> None:
        self.cfg = cfg
        # Built once: Kiwi-backed tokenizers are expensive to construct, never per query.
        self._tokenize = factory.tokenizer(cfg.tokenizer)
        self._ids: list[str] = []
        self._bm25: bm25s.BM25 | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index `texts` under `ids`, replacing any previous contents."""
        if len(ids) != len(texts):
            raise ValueError(f"build got {len(ids)} ids but {len(texts)} texts; they must pair up")
        check_unique_ids(ids)
        self._ids = list(ids)
        if not ids:
            self._bm25 = None
            return
        corpus_tokens = self._tokenize(texts)
        bm25 = bm25s.BM25(k1=self.cfg.k1, b=self.cfg.b, method="lucene")
        # A document with no tokens is fine: bm25s gives it an all-zero row.
        bm25.index(corpus_tokens, show_progress=False)
        self._bm25 = bm25

    def search(self, queries: Sequence[str], k: int) -> list[list[ScoredId]]:
        """Top `k` ids per query, best first; only documents that share a term with the query."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        results: list[list[ScoredId]] = [[] for _ in queries]
        if self._bm25 is None or not queries:
            return results
        vocab: dict[str, int] = self._bm25.vocab_dict
        # Map tokens to ids ourselves: bm25s cannot score an empty query, and a query whose tokens
        # are all unknown would be scored as the empty token. Such queries simply have no results.
        token_ids = [
            [vocab[t] for t in tokens if t in vocab and t != ""] for tokens in self._tokenize(queries)
        ]
        todo = [i for i, q in enumerate(token_ids) if q]
        if not todo:
            return results
        top = min(k, len(self._ids))
        docs, scores = self._bm25.retrieve(
            [token_ids[i] for i in todo], k=top, show_progress=False, sorted=True
        )
        for row, qi in enumerate(todo):
            results[qi] = self._ranked(np.asarray(docs[row]), np.asarray(scores[row]))
        return results

    def _ranked(self, docs: np.ndarray, scores: np.ndarray) -> list[ScoredId]:
        keep = scores > 0
        docs, scores = docs[keep], scores[keep]
        # Ties broken by insertion order so that results are deterministic across save/load.
        order = np.lexsort((docs, -scores))
        return [ScoredId(self._ids[int(docs[i])], float(scores[i])) for i in order]

    def save(self, path: Path) -> None:
        begin_save(path)
        if self._bm25 is not None:
            self._bm25.save(str(path / BM25_DIR), show_progress=False)
        write_json(path / IDS_FILE, self._ids)
        # The manifest goes last: a folder with a manifest is a complete index.
        write_json(
            path / MANIFEST,
            {
                "kind": KIND,
                "format": FORMAT_VERSION,
                "count": len(self._ids),
                "config": self.cfg.model_dump(mode="json"),
                "bm25s_version": getattr(bm25s, "__version__", "unknown"),
            },
        )

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        manifest = read_manifest(path, [KIND])
        try:
            cfg = KeywordIndexConfig.model_validate(manifest.get("config"))
        except ValidationError as exc:
            raise StoreError(
                f"{path / MANIFEST}: invalid keyword index config ({exc}); rebuild the index"
            ) from None
        count: int = manifest["count"]
        index = cls(cfg)
        index._ids = read_ids(path, count)
        if count:
            try:
                bm25 = bm25s.BM25.load(str(path / BM25_DIR), show_progress=False)
            except (OSError, ValueError, KeyError) as exc:
                raise StoreError(
                    f"{path / BM25_DIR}: missing or corrupt bm25s files ({exc}); rebuild the index"
                ) from None
            if int(bm25.scores["num_docs"]) != count:
                raise StoreError(
                    f"{path}: bm25s holds {bm25.scores['num_docs']} documents but {IDS_FILE} lists {count}; "
                    "rebuild the index"
                )
            index._bm25 = bm25
        return index


def create_keyword_index(cfg: KeywordIndexConfig) -> KeywordIndex:
    """The keyword index `llmpilot.factory.keyword_index` builds; its tokenizer comes from the factory."""
    return factory.keyword_index(cfg)


def load_keyword_index(path: Path) -> BM25Index | PgFtsIndex:
    """Load a saved keyword index of whichever kind its manifest names."""
    if read_manifest(path, [KIND, "pg_fts"]).get("kind") == "pg_fts":
        from llmpilot.index.pg_fts import PgFtsIndex  # here: it imports the factory, as this module

        return PgFtsIndex.load(path)
    return BM25Index.load(path)
