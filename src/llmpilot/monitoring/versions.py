"""Config versions: every config a project served or considered is kept in its store, forever.

The live version is the project's llmpilot.yaml: promoting a version writes its YAML there (and the
running server, which polls the store, swaps to it); rolling back promotes the version that was live
before. A candidate is prepared when it is added (its chunk set and indexes built from the stored
documents), so a promotion never makes the first request wait for indexing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from llmpilot.config import PipelineConfig, merge_config, parse_config, read_yaml_mapping
from llmpilot.errors import ConfigError, LlmpilotError
from llmpilot.monitoring.store import ConfigVersion, MonitorStore
from llmpilot.project import Project, resolve_model_paths

#: Settings a candidate never changes: where the store lives and how the service is monitored stay
#: the live project's.
PROJECT_SETTINGS = ("store", "monitoring")


def _file_config(project: Project) -> PipelineConfig:
    # The config as written in the file (paths unresolved), which is what a version keeps; a project
    # made in memory (Project.from_config: tests, benchmarks) has no file, and its config is the version.
    if not project.config_path.exists():
        return project.config
    return parse_config(
        read_yaml_mapping(project.config_path, "the project's config"), str(project.config_path)
    )


def ensure_live_version(project: Project, *, by: str = "llmpilot") -> ConfigVersion:
    """The live version, registering llmpilot.yaml as one when the store has none yet or when the file
    was edited by hand since the last promotion (recorded as an "adopt" deployment)."""
    monitor = MonitorStore(project.store)
    cfg = _file_config(project)
    live = monitor.live_version()
    if live is not None and live.config_hash == cfg.hash() and _same_yaml(live.config_yaml, cfg):
        return live
    source = project.config_path.name if live is None else f"{project.config_path.name} (edited by hand)"
    version = monitor.add_version(cfg.hash(), cfg.to_yaml(), source=source, status="candidate", by=by)
    monitor.make_live(version.id, action="adopt", actor=by, evidence={"source": source})
    found = monitor.version(version.id)
    assert found is not None
    return found


def _same_yaml(stored: str, cfg: PipelineConfig) -> bool:
    return yaml.safe_load(stored) == yaml.safe_load(cfg.to_yaml())


def version_config(project: Project, version: ConfigVersion) -> PipelineConfig:
    """The version's config with the project's `--set` overrides over it (settings of this process,
    whichever version it serves) and its model paths resolved against the project folder."""
    raw = yaml.safe_load(version.config_yaml) or {}
    cfg = parse_config(raw, f"config version {version.id}", overrides=project.overrides)
    return resolve_model_paths(cfg, project.root)


def project_for(project: Project, version: ConfigVersion) -> Project:
    """The project as it would be with `version` live: same folder, store and overrides, that
    version's config."""
    return Project(
        root=project.root,
        config=version_config(project, version),
        config_path=project.config_path,
        _store=project.store,  # one store, one engine: the version differs, the documents do not
        overrides=project.overrides,
    )


def overrides_note(project: Project, version: ConfigVersion) -> str | None:
    """One line when the project's `--set` overrides change a hashed setting of `version` (what is
    served then is not that recorded version); None when they change none (store, batch size,
    monitoring: deployment settings) or there are none. Overrides are never recorded as a version."""
    if not project.overrides:
        return None
    raw = yaml.safe_load(version.config_yaml) or {}
    recorded = parse_config(raw, f"config version {version.id}")
    served = parse_config(raw, f"config version {version.id}", overrides=project.overrides)
    if served.hash() == recorded.hash():
        return None
    changed = sorted(_changed_keys(served.hash_form(), recorded.hash_form()))
    return (
        f"--set changes {', '.join(changed)}: the served config ({served.hash()}) differs from live config "
        f"version {version.id} ({recorded.hash()}); put the change in {project.config_path.name} to record it"
    )


def _changed_keys(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key in set(a) | set(b):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out |= _changed_keys(x, y, f"{prefix}{key}.")
        elif x != y:
            out.add(prefix + key)
    return out


def get_version(project: Project, version_id: int) -> ConfigVersion:
    found = MonitorStore(project.store).version(version_id)
    if found is None:
        raise LlmpilotError(f"no config version {version_id} (see `llmpilot deploy list`)")
    return found


def candidate_config(project: Project, raw: dict[str, Any], source: str) -> PipelineConfig:
    """A candidate's config: the live config with `raw` (a whole config such as best.yaml, or only the
    settings a variant changes) merged over it, keeping the project's own store and monitoring
    settings; validated like llmpilot.yaml."""
    live = _file_config(project).model_dump(mode="json")
    merged = merge_config(live, raw)
    for key in PROJECT_SETTINGS:
        merged[key] = live[key]
    cfg = parse_config(merged, source)
    if cfg.transforms_hash() != PipelineConfig.model_validate(live).transforms_hash():
        raise ConfigError(
            f"{source}: its `transforms` differ from the live config's; the stored documents were made "
            "with the live transforms, so this candidate needs its own project (ingest with it)"
        )
    return cfg


def add_candidate(
    project: Project,
    config_file: Path | None = None,
    *,
    raw: dict[str, Any] | None = None,
    source: str | None = None,
    note: str = "",
    by: str = "llmpilot",
    prepare: bool = True,
) -> ConfigVersion:
    """Register a candidate version from a config file (best.yaml from `optimize`, a hand-written
    variant) or a config mapping; builds its chunk set and indexes from the stored documents."""
    ensure_live_version(project, by=by)
    if raw is None:
        if config_file is None:
            raise LlmpilotError("give the candidate's config file")
        raw = read_yaml_mapping(config_file, "a candidate config (e.g. best.yaml from `llmpilot optimize`)")
        source = source or str(config_file)
    cfg = candidate_config(project, raw, source or "candidate config")
    monitor = MonitorStore(project.store)
    version = monitor.add_version(
        cfg.hash(), cfg.to_yaml(), source=source or "candidate config", note=note, status="candidate", by=by
    )
    if prepare:
        prepare_version(project, version)
    return version


def prepare_version(project: Project, version: ConfigVersion) -> None:
    """Chunk the stored documents for the version's chunk set and build its indexes (no source file is
    read again: the store of record has the documents)."""
    from llmpilot.ingest import Ingestor
    from llmpilot.pipeline import Pipeline

    candidate = project_for(project, version)
    Ingestor(candidate).run([], origins=[])
    _ = Pipeline(candidate).indexes


def write_config_file(project: Project, version: ConfigVersion) -> None:
    """llmpilot.yaml := the version's YAML (atomically: a crash leaves the old file or the new one)."""
    header = (
        f"# llmpilot config version {version.id} (promoted by `llmpilot deploy`; every version is kept in\n"
        "# the store: `llmpilot deploy list`, `llmpilot deploy rollback`).\n"
    )
    tmp = project.config_path.with_suffix(".yaml.tmp")
    tmp.write_text(header + version.config_yaml, encoding="utf-8")
    os.replace(tmp, project.config_path)


def promote(
    project: Project, version_id: int, *, actor: str, evidence: dict[str, Any] | None = None
) -> tuple[ConfigVersion, int | None]:
    """Make `version_id` live: llmpilot.yaml is rewritten and a running server swaps to it. Returns
    the version and the previously live version id."""
    ensure_live_version(project, by=actor)
    version = get_version(project, version_id)
    if version.status == "live":
        raise LlmpilotError(f"config version {version_id} is already live")
    prepare_version(project, version)
    previous = MonitorStore(project.store).make_live(
        version_id, action="promote", actor=actor, evidence=evidence or {}
    )
    write_config_file(project, version)
    return get_version(project, version_id), previous


def rollback(project: Project, *, actor: str, to: int | None = None) -> tuple[ConfigVersion, int | None]:
    """Make the version that was live before the current one live again (or version `to`)."""
    monitor = MonitorStore(project.store)
    ensure_live_version(project, by=actor)
    live = monitor.live_version()
    assert live is not None
    if to is None:
        previous = [d["previous_version"] for d in monitor.deployments() if d["version"] == live.id]
        target = next((v for v in reversed(previous) if v is not None), None)
        if target is None:
            raise LlmpilotError(
                f"config version {live.id} has no earlier live version to roll back to "
                "(give one with --to; see `llmpilot deploy list`)"
            )
        to = target
    version = get_version(project, to)
    if version.id == live.id:
        raise LlmpilotError(f"config version {to} is already live")
    prepare_version(project, version)
    before = monitor.make_live(to, action="rollback", actor=actor, evidence={"from": live.id})
    write_config_file(project, version)
    return get_version(project, to), before
