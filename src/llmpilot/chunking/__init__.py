"""Chunkers: fixed windows, recursive separators, sentence packing; sizes in chars or tokens.

Each registers in `registry.chunkers` as factory(cfg: ChunkingConfig) -> Chunker.
"""

from __future__ import annotations

from llmpilot.config import ChunkingConfig
from llmpilot.protocols import Chunker
from llmpilot.registry import chunkers


def create_chunker(cfg: ChunkingConfig) -> Chunker:
    """The chunker named by `cfg.method`."""
    chunker: Chunker = chunkers.create(cfg.method, cfg=cfg)
    return chunker
