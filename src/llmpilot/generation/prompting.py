"""Prompt templates (files) and citation handling."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llmpilot.errors import ConfigError
from llmpilot.types import Citation, Hit

SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class PromptTemplate:
    """A template file: the system message, a line `---`, then the user message with
    `{context}` and `{question}` placeholders."""

    name: str
    system: str
    user: str

    @classmethod
    def parse(cls, name: str, text: str) -> PromptTemplate:
        system, sep, user = text.partition(SEPARATOR)
        if not sep:
            system, user = "", text
        if "{question}" not in user:
            raise ConfigError(f"prompt template {name}: the user part needs a {{question}} placeholder")
        if "{context}" not in user:
            raise ConfigError(f"prompt template {name}: the user part needs a {{context}} placeholder")
        return cls(name=name, system=system.strip(), user=user.strip())

    def messages(self, question: str, context: str) -> list[dict[str, str]]:
        # str.replace, not str.format: documents are full of braces.
        user = self.user.replace("{context}", context).replace("{question}", question)
        out = [{"role": "system", "content": self.system}] if self.system else []
        out.append({"role": "user", "content": user})
        return out


def load_template(spec: str, base: Path) -> PromptTemplate:
    """A built-in template name, or a file path (relative to `base`)."""
    builtin = resources.files("llmpilot") / "prompts" / f"{spec}.txt"
    if "/" not in spec and "." not in spec and builtin.is_file():
        return PromptTemplate.parse(spec, builtin.read_text(encoding="utf-8"))
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ConfigError(f"prompt.template: {path} not found (use 'default' or a template file path)")
    return PromptTemplate.parse(str(path), path.read_text(encoding="utf-8"))


def format_context(hits: Sequence[Hit], max_chars: int) -> tuple[str, list[Hit]]:
    """Numbered sources, in rank order, within max_chars; returns the text and the hits used."""
    parts: list[str] = []
    used: list[Hit] = []
    total = 0
    for hit in hits:
        header = f"[{len(used) + 1}]" + (f" {hit.title}" if hit.title else "")
        body = hit.chunk.text
        room = max_chars - total - len(header) - 2
        if room <= 0:
            break
        if len(body) > room:
            if used:  # a later source that doesn't fit is dropped rather than cut mid-thought
                break
            body = body[:room]
        parts.append(f"{header}\n{body}")
        used.append(hit)
        total += len(header) + len(body) + 2
    return "\n\n".join(parts), used


def fit_context(
    template: PromptTemplate,
    question: str,
    hits: Sequence[Hit],
    max_chars: int,
    budget_tokens: int | None,
    count_tokens: Callable[[str], int] | None,
) -> tuple[list[dict[str, str]], list[Hit]]:
    """Messages whose prompt fits the generator's token budget, dropping the lowest-ranked sources first."""
    chars = max_chars
    while True:
        context, used = format_context(hits, chars)
        messages = template.messages(question, context)
        if budget_tokens is None or count_tokens is None:
            return messages, used
        size = count_tokens("\n".join(m["content"] for m in messages)) + 16 * len(messages)
        if size <= budget_tokens or chars <= 200:
            return messages, used
        chars = int(chars * max(0.5, min(0.9, budget_tokens / size)))


_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def cited_numbers(answer: str, n_sources: int) -> list[int]:
    """Source numbers cited as [n], [n, m] or [n][m], in order of first use; out-of-range ones ignored."""
    found: list[int] = []
    for match in _CITE.finditer(answer):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if 1 <= n <= n_sources and n not in found:
                found.append(n)
    return found


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def build_citations(answer: str, sources: Sequence[Hit]) -> list[Citation]:
    return [
        Citation(
            n=n,
            doc_id=sources[n - 1].chunk.doc_id,
            chunk_id=sources[n - 1].chunk.id,
            title=sources[n - 1].title,
            snippet=snippet(sources[n - 1].chunk.text),
            start=sources[n - 1].chunk.start,
            end=sources[n - 1].chunk.end,
            score=sources[n - 1].score,
        )
        for n in cited_numbers(answer, len(sources))
    ]


def messages_for_generator(
    generator: object,
    template: PromptTemplate,
    question: str,
    hits: Sequence[Hit],
    max_context_chars: int,
    max_tokens: int,
) -> tuple[list[dict[str, str]], list[Hit]]:
    """`fit_context` with the generator's own window and tokenizer when it exposes them
    (llama-cpp does; remote endpoints fall back to the character budget)."""
    window = getattr(generator, "context_window", None)
    count = getattr(generator, "count_tokens", None)
    budget = window - max_tokens if isinstance(window, int) else None
    return fit_context(template, question, hits, max_context_chars, budget, count)
