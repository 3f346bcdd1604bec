"""`llmpilot advise`: gather the decision factors (use case, answers file, flags, or questions), call the
advisor, print the scores, the recommendation with its reasons and the expected costs. No logic here
beyond where each factor's value comes from."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmpilot.errors import ConfigError, LlmpilotError
from llmpilot.finetune.advisor import (
    APPROACHES,
    FACTOR_NAMES,
    USE_CASE_DEFAULTS,
    Advice,
    DecisionFactors,
    advise,
    allowed_values,
    factors_from,
    load_answers,
    load_measured,
    results_file,
    use_case_defaults,
)

out = Console()


def _help(name: str) -> str:
    description = DecisionFactors.model_fields[name].description or ""
    return f"{description} Takes {allowed_values(name)}."


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _stdin_is_tty() -> bool:
    """Separate so tests can pretend to be a terminal."""
    return sys.stdin.isatty()


#: One string per paragraph: rich would otherwise keep a docstring's hard line breaks. Set as the
#: command's docstring below, so `app.command("advise")(advise_command)` shows it as --help.
ADVISE_HELP = "\n\n".join(
    [
        "Recommend how to build the service: prompt engineering, RAG, fine-tuning, a hybrid (RAG + "
        "fine-tuning) or training from scratch, with the reasons and the expected costs.",
        "Factors come from --use-case defaults, then an --answers YAML file (factor names as keys), then "
        "one flag per factor; with neither --use-case nor --answers on a terminal, each factor is asked.",
        "--dataset takes the output folder of `llmpilot strategies` (or its results.json): the measured "
        "winner on the primary metric replaces the heuristic's pick when its advantage is significant "
        "(paired p < 0.05 or non-overlapping 95% CIs), and the reasons say what happened.",
        '--json writes {"recommendation", "heuristic_recommendation", "reasons", "scores", '
        '"score_breakdown", "costs", "factors", "factor_sources", "measured", "assumptions"}.',
    ]
)


def _ask(name: str, default: Any) -> Any:
    """One factor from the terminal; invalid answers are asked again."""
    field = DecisionFactors.model_fields[name]
    out.print(f"[bold]{name}[/]: {escape(field.description or '')}")
    if field.annotation is bool:
        return typer.confirm(name, default=bool(default))
    while True:
        answer = typer.prompt(
            f"{name} ({allowed_values(name)})", default="none" if default is None else default
        )
        try:
            factors_from({name: answer}, "answer")
        except ConfigError as exc:
            out.print(f"[red]{escape(str(exc))}[/]")
            continue
        return answer


def gather_factors(
    use_case: str | None, answers: Path | None, flags: dict[str, Any]
) -> tuple[DecisionFactors, dict[str, str]]:
    """Merge defaults < use case < answers file < flags (< questions on a terminal when neither a use
    case nor an answers file is given); also says where each value came from."""
    values: dict[str, Any] = {}
    sources = dict.fromkeys(FACTOR_NAMES, "default")
    if use_case is not None:
        values.update(use_case_defaults(use_case))
        sources.update(dict.fromkeys(FACTOR_NAMES, f"use case {use_case}"))
    if answers is not None:
        from_file = load_answers(answers)
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, f"answers {answers}"))
    given = {name: value for name, value in flags.items() if value is not None}
    for name, value in given.items():
        factors_from({name: value}, f"option {_flag(name)}")
    values.update(given)
    sources.update(dict.fromkeys(given, "option"))
    if use_case is None and answers is None and len(given) < len(FACTOR_NAMES):
        if not _stdin_is_tty():
            raise LlmpilotError(
                "no decision factors given: pass --use-case (one of "
                f"{', '.join(USE_CASE_DEFAULTS)}) or --answers FILE (YAML with the factors as keys: "
                f"{', '.join(FACTOR_NAMES)}), or run on a terminal to be asked"
            )
        neutral = DecisionFactors().model_dump()
        for name in FACTOR_NAMES:
            if name not in given:
                values[name] = _ask(name, neutral[name])
                sources[name] = "asked"
    return factors_from(values, "the merged factors"), sources


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and (value >= 1e6 or (0 < value < 0.01)):
        return f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def print_advice(advice: Advice) -> None:
    scores = Table(title="Scores", caption="additive: score_breakdown in --json has every row")
    scores.add_column("approach")
    scores.add_column("score", justify="right")
    scores.add_column("")
    for approach in sorted(APPROACHES, key=lambda a: -advice.scores[a]):
        mark = []
        if approach == advice.recommendation:
            mark.append("recommended")
        if approach == advice.heuristic and advice.heuristic != advice.recommendation:
            mark.append("heuristic's pick (overridden by the measurement)")
        scores.add_row(approach, f"{advice.scores[approach]:g}", ", ".join(mark))
    out.print(scores)
    out.print(f"[bold]Recommendation: {advice.recommendation}[/]")
    for reason in advice.reasons:
        out.print(f" • {escape(reason)}", soft_wrap=True)

    costs = Table(title="Expected costs (estimates; assumptions in --json)")
    for column in ("approach", "examples needed", "train GPU-h", "USD", "index MB", "extra prompt tokens"):
        costs.add_column(column, justify="left" if column == "approach" else "right")
    for approach in APPROACHES:
        c = advice.costs[approach]
        costs.add_row(
            approach,
            _number(c.get("examples_needed")),
            _number(c.get("gpu_hours")),
            _number(c.get("usd")),
            _number(c.get("index_mb")),
            _number(c.get("extra_prompt_tokens_per_answer")),
        )
    out.print(costs)
    a = advice.assumptions
    scratch = advice.costs["scratch"]
    out.print(
        f"scratch: N = {scratch['params']:.3g} parameters ({escape(scratch['basis'])}), "
        f"D = 20·N = {scratch['train_tokens']:.3g} tokens, 6·N·D = {scratch['flops']:.3g} FLOPs; "
        f"GPU-hours at {a.sustained_flops:.3g} FLOP/s sustained ({escape(a.gpu)}), "
        f"USD at {a.usd_per_gpu_hour}/GPU-hour.",
        soft_wrap=True,
    )


def advise_command(
    use_case: Annotated[
        str | None, typer.Option(help="Start from this use case's defaults: " + ", ".join(USE_CASE_DEFAULTS))
    ] = None,
    answers: Annotated[
        Path | None, typer.Option(help="YAML file answering the factors (factor names as keys).")
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(help="Output folder of `llmpilot strategies` (or its results.json): measured evidence."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the advice as JSON here.")] = None,
    external_data: Annotated[
        bool | None, typer.Option("--external-data/--no-external-data", help=_help("external_data"))
    ] = None,
    data_change: Annotated[str | None, typer.Option(help=_help("data_change"))] = None,
    style_change: Annotated[str | None, typer.Option(help=_help("style_change"))] = None,
    labeled_examples: Annotated[str | None, typer.Option(help=_help("labeled_examples"))] = None,
    hallucination_tolerance: Annotated[
        str | None, typer.Option(help=_help("hallucination_tolerance"))
    ] = None,
    citations_needed: Annotated[
        bool | None, typer.Option("--citations-needed/--no-citations-needed", help=_help("citations_needed"))
    ] = None,
    latency_budget_ms: Annotated[str | None, typer.Option(help=_help("latency_budget_ms"))] = None,
    budget: Annotated[str | None, typer.Option(help=_help("budget"))] = None,
    domain_shift: Annotated[str | None, typer.Option(help=_help("domain_shift"))] = None,
    corpus_tokens: Annotated[str | None, typer.Option(help=_help("corpus_tokens"))] = None,
) -> None:
    """Recommend prompt engineering, RAG, fine-tuning, a hybrid or training from scratch (the
    help text is ADVISE_HELP)."""
    flags = {
        "external_data": external_data,
        "data_change": data_change,
        "style_change": style_change,
        "labeled_examples": labeled_examples,
        "hallucination_tolerance": hallucination_tolerance,
        "citations_needed": citations_needed,
        "latency_budget_ms": latency_budget_ms,
        "budget": budget,
        "domain_shift": domain_shift,
        "corpus_tokens": corpus_tokens,
    }
    measured = load_measured(dataset) if dataset is not None else None
    factors, sources = gather_factors(use_case, answers, flags)
    source = str(results_file(dataset)) if dataset is not None else "measured comparison"
    advice = advise(factors, measured=measured, measured_source=source)
    print_advice(advice)
    if json_out is not None:
        payload = {**advice.as_dict(), "factor_sources": sources}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {json_out}")


advise_command.__doc__ = ADVISE_HELP
