"""In-platform document transforms: normalization, plan steps (llmpilot.transforms.ops), PII
redaction, language detection (per unit of documents, pure) and deduplication (across documents,
stateful)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from llmpilot.config import TransformsConfig
from llmpilot.transforms.dedup import Deduplicator
from llmpilot.transforms.language import detect_language
from llmpilot.transforms.normalize import normalize_unicode, normalize_whitespace, single_line
from llmpilot.transforms.pii import redact
from llmpilot.types import Document

if TYPE_CHECKING:
    from llmpilot.transforms.plan import Step

__all__ = ["Deduplicator", "TransformPipeline", "detect_language", "redact"]


class TransformPipeline:
    """Applies the configured transforms in a fixed order: unicode, whitespace, plan steps (they see
    the text the profile saw), PII (after whitespace so numbers split by odd spaces are caught),
    language (on the final text). `deduplicate` steps are not applied per unit: they switch on the
    corpus-wide deduplication ingest runs (see `dedup_settings`)."""

    def __init__(self, cfg: TransformsConfig) -> None:
        self.cfg = cfg
        # Validate kinds once, at construction, rather than on the first document.
        redact("", cfg.pii, cfg.pii_replacement)
        self.steps: list[Step] = []
        self.dedup_steps: list[Step] = []
        if cfg.steps:
            from llmpilot.transforms.plan import parse_plan

            for step in parse_plan({"version": 1, "steps": cfg.steps}, where="transforms.steps").steps:
                (self.dedup_steps if step.op == "deduplicate" else self.steps).append(step)

    def dedup_settings(self) -> tuple[bool, bool, float]:
        """(exact, near, threshold) for ingest's corpus-wide deduplication: the config's switches,
        turned on by any `deduplicate` step (the strictest threshold wins)."""
        from llmpilot.transforms.plan import Deduplicate

        exact, near, threshold = self.cfg.dedup_exact, self.cfg.dedup_near, self.cfg.near_threshold
        for step in self.dedup_steps:
            assert isinstance(step, Deduplicate)
            exact = True
            if step.near:
                threshold = min(threshold, step.threshold) if near else step.threshold
                near = True
        return exact, near, threshold

    def normalize(self, doc: Document) -> Document:
        """Unicode and whitespace normalization: the text plan steps and the data profile see."""
        cfg = self.cfg
        text = normalize_unicode(doc.text, cfg.unicode)
        title = normalize_unicode(doc.title, cfg.unicode)
        if cfg.whitespace:
            text = normalize_whitespace(text)
            title = single_line(title)
        return replace(doc, text=text, title=title)

    def finish(self, doc: Document) -> Document:
        """PII redaction and language detection, after the plan steps."""
        cfg = self.cfg
        text, title = doc.text, doc.title
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

    def apply(self, doc: Document) -> Document:
        """One document through the per-document transforms, without plan steps (which may split or
        drop documents: use `apply_unit`)."""
        return self.finish(self.normalize(doc))

    def apply_unit(self, docs: Sequence[Document]) -> list[Document]:
        """A unit's loaded documents through every transform; plan steps may split, drop or merge
        nothing else, so the result is the unit's documents in load order."""
        normalized = [self.normalize(d) for d in docs]
        if self.steps:
            from llmpilot.transforms.ops import apply_steps

            normalized, _ = apply_steps(self.steps, normalized)
        return [self.finish(d) for d in normalized]
