"""The model catalog: every model a user can pick from, with what it is and whether it is here.

Four kinds of entry:

- "local": the GGUF models shipped on PyPI (generation/models.py), present or not, with the command
  that gets them. Their facts come from the catalog's ModelCard: listing must not assemble or hash a
  model file (Gemma's GGUF is assembled on first use), so their headers are not read here.
- "gguf": any GGUF file given with `--gguf` or configured as `generator.model_path` in the project's
  config or a search space; its header is read without loading weights (chat_formats.read_gguf_header).
- "endpoint": OpenAI-compatible servers configured as the generator (base_url, model and the *name*
  of the key's environment variable; a key is never read or shown, and the server is not contacted).
- "adapter": fine-tuned adapters registered in the project's store (finetune/registry.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from llmpilot.config import PipelineConfig
from llmpilot.errors import LlmpilotError
from llmpilot.generation.chat_formats import HEADER_READER, choose_chat_format, read_gguf_header
from llmpilot.generation.fetched import FETCHED_MODELS, models_dir
from llmpilot.generation.models import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, LocalModel

log = logging.getLogger(__name__)

EntryKind = Literal["local", "gguf", "endpoint", "adapter"]


@dataclass(frozen=True)
class CatalogEntry:
    """One model in the catalog. Fields a kind cannot know are None (or empty)."""

    name: str
    kind: EntryKind
    description: str
    #: Whether it can be used now without a download: a local model installed or fetched, a GGUF file
    #: that exists, an adapter folder that exists. None for endpoints: listing does not contact them.
    available: bool | None
    #: The status in words ("installed", "fetched", "not installed: pip install …", …).
    status: str
    #: The generator config that uses it, e.g. {"name": "llama-cpp", "model": "smollm2-135m"}.
    generator: dict[str, str]
    parameters: str | None = None
    architecture: str | None = None
    context_length: int | None = None
    quantization: str | None = None
    chat_tuned: bool | None = None
    #: The prompt format in words, and where it comes from (the GGUF's template, the catalog, …).
    chat_format: str | None = None
    languages: tuple[str, ...] = ()
    licence: str | None = None
    #: Size of the model file (GGUF) on disk.
    file_bytes: int | None = None
    #: What getting it downloads (local models not yet here).
    download_bytes: int | None = None
    #: The command that gets it (local models).
    get: str | None = None
    #: Where it comes from: packages, a path, the config file that names it.
    source: str = ""
    path: str | None = None
    base_url: str | None = None
    #: The environment variable that holds an endpoint's key (its name only) and whether it is set.
    api_key_env: str | None = None
    api_key_set: bool | None = None
    #: How a GGUF header was read (gguf entries).
    header_reader: str | None = None
    #: Where the project uses it: "config", "space FILE".
    used_in: tuple[str, ...] = ()
    #: Anything else worth knowing (an adapter's metrics, a file that is missing).
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = list(self.languages)
        data["used_in"] = list(self.used_in)
        return data


def catalog_entries(
    *,
    project: Path | None = None,
    gguf: Sequence[Path] = (),
    spaces: Sequence[Path] = (),
    overrides: Sequence[str] = (),
) -> list[CatalogEntry]:
    """The catalog: local models, then GGUF files (`gguf`, then those the project's config and search
    spaces name), endpoints and registered adapters. A `gguf` path that is not a readable GGUF model is
    an error (ModelNotAvailableError); a configured path that is missing is listed as unavailable.
    `overrides`: `--set KEY=VALUE` items over the project's config."""
    configs: list[tuple[str, PipelineConfig]] = []
    store_adapters: list[CatalogEntry] = []
    if project is not None:
        from llmpilot.project import Project

        opened = Project.open(project, overrides)
        configs.append(("config", opened.config))
        store_adapters = _registered_adapters(opened)
    for space_path in spaces:
        configs.extend((f"space {space_path}", cfg) for cfg in _space_configs(space_path))

    entries = [_local_entry(m, _uses(configs, m.name)) for m in LOCAL_MODELS.values()]
    seen_paths: dict[str, int] = {}
    for path in gguf:
        _add_gguf(entries, seen_paths, path.expanduser().resolve(), "--gguf", strict=True)
    for where, cfg in configs:
        if cfg.generator.name == "llama-cpp" and cfg.generator.model_path is not None:
            path = Path(cfg.generator.model_path).expanduser().resolve()
            _add_gguf(entries, seen_paths, path, where, strict=False)
    entries.extend(_endpoint_entries(configs))
    entries.extend(store_adapters)
    return entries


def _uses(configs: Iterable[tuple[str, PipelineConfig]], name: str) -> tuple[str, ...]:
    """Where a local model is the configured llama-cpp model (None means the default model)."""
    return tuple(
        dict.fromkeys(
            where
            for where, cfg in configs
            if cfg.generator.name == "llama-cpp"
            and cfg.generator.model_path is None
            and (cfg.generator.model or DEFAULT_LOCAL_MODEL) == name
        )
    )


def _local_entry(m: LocalModel, used_in: tuple[str, ...]) -> CatalogEntry:
    card = m.card
    present = m.present()
    if present:
        status = "fetched" if m.fetched else "installed"
    else:
        status = f"not {'fetched' if m.fetched else 'installed'}: {m.get}"
    if card.chat_format is None:
        chat = f"{card.prompt_style}: the GGUF's own template"
    else:
        chat = f"{card.prompt_style}: llama-cpp-python's {card.chat_format!r} (the GGUF has no template)"
    fetched = FETCHED_MODELS.get(m.name)
    # Pinned only for fetched models; a package's file size is its wheel's business (download_bytes).
    file_bytes = fetched.bytes if fetched is not None else None
    return CatalogEntry(
        name=m.name,
        kind="local",
        description=m.description,
        available=present,
        status=status,
        generator={"name": "llama-cpp", "model": m.name},
        parameters=card.parameters,
        architecture=card.architecture,
        context_length=card.context_length,
        quantization=card.quantization,
        chat_tuned=card.chat_tuned,
        chat_format=chat,
        languages=card.languages,
        licence=m.licence,
        file_bytes=file_bytes,
        download_bytes=m.download_bytes,
        get=m.get,
        source=m.source,
        path=str(models_dir() / f"{m.name}.gguf") if m.fetched else None,
        used_in=used_in,
    )


def _add_gguf(
    entries: list[CatalogEntry], seen: dict[str, int], path: Path, where: str, *, strict: bool
) -> None:
    """Add (or mark as used) the entry of one GGUF file; `strict`: an unreadable file is an error."""
    key = str(path)
    if key in seen:
        index = seen[key]
        entry = entries[index]
        if where not in entry.used_in:
            entries[index] = replace(entry, used_in=(*entry.used_in, where))
        return
    used_in = () if where == "--gguf" else (where,)
    if not strict and not path.is_file():
        entry = CatalogEntry(
            name=path.name,
            kind="gguf",
            description=f"GGUF file named by generator.model_path in the {where}",
            available=False,
            status=f"missing: {path} does not exist",
            generator={"name": "llama-cpp", "model_path": key},
            source=where,
            path=key,
            used_in=used_in,
        )
    else:
        entry = gguf_entry(path, used_in=used_in, source=where)
    seen[key] = len(entries)
    entries.append(entry)


def gguf_entry(path: Path, *, used_in: tuple[str, ...] = (), source: str = "--gguf") -> CatalogEntry:
    """The entry of a GGUF file, from its header (no weights loaded); ModelNotAvailableError when it is
    not a readable GGUF model."""
    header = read_gguf_header(path)
    fmt = choose_chat_format(header)
    described = " ".join(x for x in (header.name, header.quantization) if x) or path.name
    return CatalogEntry(
        name=path.name,
        kind="gguf",
        description=f"{described} (GGUF file)",
        available=True,
        status="file",
        generator={"name": "llama-cpp", "model_path": header.path},
        parameters=header.size_label,
        architecture=header.architecture,
        context_length=header.context_length,
        quantization=header.quantization,
        # Only the template says it: a GGUF with a chat template was (almost always) chat-tuned.
        chat_tuned=True if header.chat_template is not None else None,
        chat_format=fmt.label,
        licence=header.license,
        file_bytes=header.bytes,
        source=source,
        path=header.path,
        header_reader=HEADER_READER,
        used_in=used_in,
    )


def _endpoint_entries(configs: Sequence[tuple[str, PipelineConfig]]) -> list[CatalogEntry]:
    found: dict[tuple[str | None, str | None, str | None], list[str]] = {}
    for where, cfg in configs:
        g = cfg.generator
        if g.name == "openai":
            found.setdefault((g.base_url, g.model, g.api_key_env), []).append(where)
    return [
        _endpoint_entry(base_url, model, key_env, tuple(dict.fromkeys(wheres)))
        for (base_url, model, key_env), wheres in found.items()
    ]


def _endpoint_entry(
    base_url: str | None, model: str | None, key_env: str | None, used_in: tuple[str, ...]
) -> CatalogEntry:
    # The openai generator requires base_url; a config without one is listed so that it can be fixed.
    url = base_url or "(generator.base_url not set: required)"
    generator = {"name": "openai"}
    if base_url:
        generator["base_url"] = base_url
    if model:
        generator["model"] = model
    return CatalogEntry(
        name=model or "(model not set)",
        kind="endpoint",
        description=f"OpenAI-compatible endpoint at {url}",
        available=None,
        status="configured, not contacted",
        generator=generator,
        source=", ".join(used_in),
        base_url=base_url,
        api_key_env=key_env,
        api_key_set=bool(os.environ.get(key_env)) if key_env else None,
        used_in=used_in,
    )


def _space_configs(path: Path) -> list[PipelineConfig]:
    """Every distinct config of a search space, its model paths resolved against the space's folder."""
    from llmpilot.optimization.space import SearchSpace
    from llmpilot.project import resolve_model_paths

    space = SearchSpace.load(path)
    root = path.expanduser().resolve().parent
    return [resolve_model_paths(c.config, root) for c in space.candidates()]


def _registered_adapters(project: Any) -> list[CatalogEntry]:
    """Adapters in the project's store; a store that cannot be opened is logged, not fatal: the rest
    of the catalog is still worth listing."""
    from llmpilot.finetune.registry import AdapterRegistry

    try:
        records = AdapterRegistry(project.store).list()
    except LlmpilotError as exc:
        log.warning("adapters not listed: %s", exc)
        return []
    entries = []
    for r in records:
        here = Path(r.adapter_dir).is_dir()
        entries.append(
            CatalogEntry(
                name=r.name,
                kind="adapter",
                description=f"{r.method} adapter on {r.base} (id {r.id[:12]})",
                available=here,
                status="registered" if here else f"registered, but {r.adapter_dir} is missing",
                generator={"name": "transformers", "adapter": r.adapter_dir},
                source=f"the store of {project.root}",
                path=r.adapter_dir,
                notes={
                    "metrics": r.metrics,
                    "data_hash": r.data_hash,
                    "created_at": r.created_at.isoformat(),
                },
            )
        )
    return entries
