"""`llmpilot cache …` and `llmpilot guard …`: measure and manage the answer cache and the guardrails
on the user's own data. Thin: the library does the work (llmpilot.cache, llmpilot.guardrails)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from llmpilot.cli_options import SetOpt
from llmpilot.errors import LlmpilotError
from llmpilot.project import Project

cache_app = typer.Typer(help="The answer cache: calibrate, measure, inspect, clear.", no_args_is_help=True)
guard_app = typer.Typer(
    help="Guardrails: measure the configured rails on labelled traffic.", no_args_is_help=True
)

out = Console()
err = Console(stderr=True)

ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", help="Project folder (holds llmpilot.yaml), or a config file.")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Config file (its folder is the project).")]


def _project(project: Path, config: Path | None, overrides: list[str] | None) -> Project:
    return Project.open(config if config is not None else project, overrides or ())


def _query_embedder(proj: Project) -> Callable[[Sequence[str]], np.ndarray]:
    """The project's embedder in query mode: what the served cache and rails embed questions with."""
    from llmpilot import factory

    embedder = factory.embedder(proj.config.embedder)
    return lambda texts: embedder.embed(list(texts), "query")


def _write_json(path: Path | None, data: dict[str, Any]) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if path is None:
        print(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    err.print(f"wrote {path}", markup=False, highlight=False)


@cache_app.command("calibrate")
def cache_calibrate(
    pairs: Annotated[Path, typer.Option(help="Paraphrase pairs, JSONL/CSV {id, origin, similar}.")],
    negatives: Annotated[
        list[Path] | None,
        typer.Option(
            help="Look-alike pairs that must NOT share an answer, JSONL/CSV {id, a, b} (repeatable)."
        ),
    ] = None,
    target_false_hit: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Highest false-hit rate allowed on the fit split.")
    ] = 0.01,
    holdout: Annotated[float, typer.Option(min=0.05, max=0.9, help="Share of pairs held out.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the fit/held-out split.")] = 0,
    per_language: Annotated[
        bool, typer.Option(help="Fit a Korean and an English threshold (threshold_ko, threshold_en).")
    ] = False,
    project: ProjectOpt = Path("."),
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    write: Annotated[bool, typer.Option(help="Write the fitted settings into the config file.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the curve and figures here.")] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write the hit / false-hit chart here.")
    ] = None,
) -> None:
    """Fit the semantic cache's threshold and verifier on labelled pairs (a seeded fit/held-out split),
    report the hit-rate / false-hit curve, and write the settings into the config."""
    from llmpilot.cache.calibrate import calibrate
    from llmpilot.cache.pairs import load_negatives, load_pairs
    from llmpilot.cache.report import curve_html
    from llmpilot.config import update_config_file

    proj = _project(project, config, overrides)
    rows = load_pairs(pairs)
    looks = [n for path in negatives or [] for n in load_negatives(path)]
    result = calibrate(
        rows,
        looks,
        _query_embedder(proj),
        proj.config.cache,
        target_false_hit=target_false_hit,
        holdout=holdout,
        seed=seed,
        per_language=per_language,
    )
    data = result.to_json()
    settings = result.settings()
    data["written_to"] = None
    if write:
        update_config_file(proj.config_path, {"cache": settings})
        data["written_to"] = str(proj.config_path)
        err.print(f"wrote cache settings {settings} to {proj.config_path}", markup=False, highlight=False)
    if html_out is not None:
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(curve_html(result), encoding="utf-8")
        err.print(f"wrote {html_out}", markup=False, highlight=False)
    _write_json(json_out, data)


@cache_app.command("eval")
def cache_eval(
    pairs: Annotated[Path, typer.Option(help="Paraphrase pairs, JSONL/CSV {id, origin, similar}.")],
    negatives: Annotated[
        Path | None, typer.Option(help="Look-alike pairs that must NOT share an answer, {id, a, b}.")
    ] = None,
    project: ProjectOpt = Path("."),
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
) -> None:
    """Measure the configured cache on your data: insert every origin and every `a`, ask every
    `similar` and `b`; paraphrase hit rate, look-alike hit rate, lookup time."""
    from llmpilot.cache.calibrate import evaluate
    from llmpilot.cache.pairs import load_negatives, load_pairs

    proj = _project(project, config, overrides)
    rows = load_pairs(pairs)
    looks = load_negatives(negatives) if negatives is not None else []
    _write_json(json_out, evaluate(rows, looks, _query_embedder(proj), proj.config.cache))


@cache_app.command("stats")
def cache_stats(
    project: ProjectOpt = Path("."),
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Entries, hits served and ages per tenant and collection in the project's store."""
    from llmpilot.cache.store import CacheStore

    proj = _project(project, config, overrides)
    items = CacheStore(proj.store).stats()
    data = {"enabled": proj.config.cache.enabled, "collections": items}
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    state = "on" if proj.config.cache.enabled else "off (cache.enabled: false)"
    out.print(f"answer cache: {state}", markup=False, highlight=False)
    if not items:
        out.print("no cached answers", markup=False, highlight=False)
    for item in items:
        out.print(
            f"{item['tenant']}/{item['collection']}: {item['entries']} entries, {item['hits']} hits served, "
            f"newest {item['newest']}, last hit {item['last_hit']}",
            markup=False,
            highlight=False,
        )


@cache_app.command("clear")
def cache_clear(
    project: ProjectOpt = Path("."),
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's entries.")] = None,
    collection: Annotated[str | None, typer.Option(help="Only this collection's entries.")] = None,
) -> None:
    """Delete cached answers (all, or a tenant's / a collection's)."""
    from llmpilot.cache.store import CacheStore

    proj = _project(project, config, overrides)
    n = CacheStore(proj.store).clear(tenant, collection)
    out.print(f"deleted {n} cached answer(s)", markup=False, highlight=False)


@guard_app.command("eval")
def guard_eval(
    data: Annotated[
        Path, typer.Option(help="Labelled rows, JSONL/CSV {id, text, label: attack|benign, lang}.")
    ],
    project: ProjectOpt = Path("."),
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
) -> None:
    """Measure the project's configured input rails on labelled traffic: per language recall,
    false-positive rate, precision and latency (blocked or warned = flagged)."""
    from llmpilot.guardrails import Guardrails, evaluate_rails, load_guard_rows

    proj = _project(project, config, overrides)
    if not proj.config.guardrails.enabled:
        raise LlmpilotError(
            f"{proj.config_path}: guardrails.enabled is false; turn them on to measure the rails"
        )
    rows = load_guard_rows(data)
    rails = Guardrails(proj.config.guardrails, embed=_query_embedder(proj))
    _write_json(json_out, evaluate_rails(rows, rails))
