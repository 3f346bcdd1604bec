"""Content hashes used as cache keys and change detectors."""

from __future__ import annotations

import hashlib


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_hash(title: str, text: str) -> str:
    return text_hash(f"{title}\x00{text}")
