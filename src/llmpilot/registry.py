"""Named component registries. Built-ins register here exactly as plugins do.

Third-party packages add components through the `llmpilot.components` entry point group:
each entry point is a module that, when imported, calls `register` on the registries below.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from llmpilot.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ConfigError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._factories)

    def builtin_names(self) -> list[str]:
        """Names registered by llmpilot itself (not by plugins or tests): each needs contract coverage."""
        return [n for n in self.names() if self._factories[n].__module__.startswith("llmpilot.")]

    def get(self, name: str) -> Callable[..., T]:
        load_plugins()
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, **kwargs: object) -> T:
        return self.get(name)(**kwargs)


_plugins_loaded = False


def load_plugins() -> None:
    """Import built-in component modules once, then third-party entry points."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    import llmpilot.components  # noqa: F401  (built-ins register on import)

    for ep in entry_points(group="llmpilot.components"):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not surface as a traceback from config loading
            package = ep.dist.name if ep.dist is not None else "its package"
            raise ConfigError(
                f"llmpilot plugin {ep.name!r} ({ep.value}, from {package}) failed to load: "
                f"{type(exc).__name__}: {exc}; fix it or uninstall {package}"
            ) from exc


# The registries of built-in stage kinds. Factories take the stage's config section.
# Typed loosely here (Any) to avoid an import cycle with protocols/config; each module
# documents the factory signature it registers.
from typing import Any  # noqa: E402

chunkers: Registry[Any] = Registry("chunker")  # factory(cfg: ChunkingConfig) -> Chunker
embedders: Registry[Any] = Registry("embedder")  # factory(cfg: EmbedderConfig) -> Embedder
tokenizers: Registry[Any] = Registry("tokenizer")  # factory() -> Tokenizer
vector_indexes: Registry[Any] = Registry("vector index")  # factory(cfg: VectorIndexConfig, dim: int)
generators: Registry[Any] = Registry("generator")  # factory(cfg: GeneratorConfig) -> Generator
