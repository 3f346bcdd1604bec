"""In-platform document transforms: normalization, PII redaction, language detection (per
document, pure) and deduplication (across documents, stateful)."""

from __future__ import annotations

from dataclasses import replace

from llmpilot.config import TransformsConfig
from llmpilot.transforms.dedup import Deduplicator
from llmpilot.transforms.language import detect_language
from llmpilot.transforms.normalize import normalize_unicode, normalize_whitespace, single_line
from llmpilot.transforms.pii import redact
from llmpilot.types import Document

__all__ = ["Deduplicator", "TransformPipeline", "detect_language", "redact"]


class TransformPipeline:
    """Applies the configured per-document transforms in a fixed order: unicode, whitespace,
    PII (after whitespace so numbers split by odd spaces are caught), language (on the final
    text)."""

    def __init__(self, cfg: TransformsConfig) -> None:
        self.cfg = cfg
        # Validate kinds once, at construction, rather than on the first document.
        redact("", cfg.pii, cfg.pii_replacement)

    def apply(self, doc: Document) -> Document:
        cfg = self.cfg
        text = normalize_unicode(doc.text, cfg.unicode)
        title = normalize_unicode(doc.title, cfg.unicode)
        if cfg.whitespace:
            text = normalize_whitespace(text)
            title = single_line(title)
        metadata = dict(doc.metadata)
        if cfg.pii:
            text, counts = redact(text, cfg.pii, cfg.pii_replacement)
            title, title_counts = redact(title, cfg.pii, cfg.pii_replacement)
            for kind, n in title_counts.items():
                counts[kind] = counts.get(kind, 0) + n
            if counts:
                metadata["pii_redacted"] = ",".join(f"{kind}:{n}" for kind, n in counts.items())
        language = detect_language(text) if cfg.detect_language else doc.language
        return replace(doc, text=text, title=title, language=language, metadata=metadata)
