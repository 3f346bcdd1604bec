"""A search space: the pipeline config with lists where values vary.

    chunking: {size: [400, 800]}
    retrieval: {mode: [keyword, hybrid], fusion: {weight: [0.2, 0.5]}}

A field whose type is itself a list (e.g. `transforms.pii`) varies only when given a list of lists.
Configs that differ only in settings their pipeline ignores (fusion for keyword-only retrieval, the
embedder for keyword-only retrieval) collapse into one, so no trial is spent twice.
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmpilot.config import PipelineConfig, merge_config, parse_config, parse_overrides, read_yaml_mapping
from llmpilot.errors import ConfigError


@dataclass(frozen=True)
class Candidate:
    config: PipelineConfig
    #: Only the varied keys, dotted ("retrieval.fusion.weight"), with this candidate's values.
    params: dict[str, Any]

    @property
    def trial_id(self) -> str:
        return self.config.hash()


def _is_list_field(model: type[BaseModel], path: tuple[str, ...]) -> bool:
    """Whether the config field at `path` is itself list-typed."""
    current: Any = model
    for i, key in enumerate(path):
        if (
            not (isinstance(current, type) and issubclass(current, BaseModel))
            or key not in current.model_fields
        ):
            return False
        annotation = current.model_fields[key].annotation
        if i == len(path) - 1:
            origins = {typing.get_origin(a) for a in (annotation, *typing.get_args(annotation))}
            return list in origins
        current = annotation
    return False


def _split(raw: dict[str, Any], prefix: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Separate fixed values from varied ones (dotted key -> alternatives)."""
    fixed: dict[str, Any] = {}
    varied: dict[str, list[Any]] = {}
    for key, value in raw.items():
        path = (*prefix, key)
        if isinstance(value, dict):
            sub_fixed, sub_varied = _split(value, path)
            fixed[key] = sub_fixed
            varied.update(sub_varied)
        elif isinstance(value, list):
            list_field = _is_list_field(PipelineConfig, path)
            if list_field and not (value and all(isinstance(v, list) for v in value)):
                fixed[key] = value  # a plain value of a list-typed field
            elif not value:
                raise ConfigError(f"search space: {'.'.join(path)} lists no alternatives")
            else:
                varied[".".join(path)] = value
        else:
            fixed[key] = value
    return fixed, varied


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def canonical(cfg: PipelineConfig) -> PipelineConfig:
    """Reset settings the pipeline would ignore, so equivalent configs hash alike."""
    data = cfg.model_dump(mode="json")
    default = PipelineConfig().model_dump(mode="json")
    mode = data["retrieval"]["mode"]
    if mode != "hybrid":
        data["retrieval"]["fusion"] = default["retrieval"]["fusion"]
    elif data["retrieval"]["fusion"]["method"] == "rrf":
        for key in ("weight", "normalization"):
            data["retrieval"]["fusion"][key] = default["retrieval"]["fusion"][key]
    else:
        data["retrieval"]["fusion"]["rrf_k"] = default["retrieval"]["fusion"]["rrf_k"]
    if mode == "keyword":
        data["embedder"] = default["embedder"]
        data["index"]["vector"] = default["index"]["vector"]
    if mode == "dense":
        data["index"]["keyword"] = default["index"]["keyword"]
    return PipelineConfig.model_validate(data)


@dataclass(frozen=True)
class SearchSpace:
    fixed: dict[str, Any]
    varied: dict[str, list[Any]]
    source: str = "space"

    @classmethod
    def load(cls, path: Path, overrides: Sequence[str] = ()) -> SearchSpace:
        """The space in the YAML file at `path`; `overrides` (`--set KEY=VALUE` items,
        llmpilot.config.parse_overrides) replace the file's value of their key, varied or not."""
        raw = read_yaml_mapping(path, "search space file not found")
        space = cls.from_dict(raw, source=str(path))
        if not overrides:
            return space
        # Checked on the space's first config first, so a bad value is reported under its --set item.
        parse_config(space.base().model_dump(mode="json"), str(path), overrides)
        return cls.from_dict(merge_config(raw, parse_overrides(overrides)), source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "space") -> SearchSpace:
        fixed, varied = _split(raw)
        space = cls(fixed=fixed, varied=varied, source=source)
        space.base()  # fail early, naming the field, if the fixed part is invalid
        return space

    def base(self) -> PipelineConfig:
        tree: dict[str, Any] = {}
        for key, values in self.varied.items():
            _set(tree, key, values[0])
        return parse_config(merge_config(self.fixed, tree), source=self.source)

    def size(self) -> int:
        n = 1
        for values in self.varied.values():
            n *= len(values)
        return n

    def config_for(self, params: dict[str, Any]) -> PipelineConfig:
        """The canonical config with these values for the varied keys."""
        tree: dict[str, Any] = {}
        for key, value in params.items():
            _set(tree, key, value)
        return canonical(parse_config(merge_config(self.fixed, tree), source=self.source))

    def candidates(self) -> list[Candidate]:
        """Every distinct config of the space, in a stable order."""
        keys = list(self.varied)
        seen: dict[str, Candidate] = {}
        for combo in itertools.product(*(self.varied[k] for k in keys)):
            tree: dict[str, Any] = {}
            for key, value in zip(keys, combo, strict=True):
                _set(tree, key, value)
            cfg = canonical(parse_config(merge_config(self.fixed, tree), source=self.source))
            if cfg.hash() in seen:
                continue
            chosen = dict(zip(keys, combo, strict=True))
            # Only the keys this config depends on: a keyword-only config has no fusion weight.
            params = {
                k: _get(cfg.model_dump(mode="json"), k) for k in keys if self._matters(chosen, k, cfg.hash())
            }
            seen[cfg.hash()] = Candidate(config=cfg, params=params)
        return list(seen.values())

    def _matters(self, chosen: dict[str, Any], key: str, trial_id: str) -> bool:
        """Whether another value of `key` would give another config (canonicalization decides)."""
        return any(
            self.config_for({**chosen, key: value}).hash() != trial_id
            for value in self.varied[key]
            if value != chosen[key]
        )


def _get(tree: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        tree = tree[key]
    return tree
