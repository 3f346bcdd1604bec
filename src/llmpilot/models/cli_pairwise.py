"""`llmpilot models pairwise`: two models answer the user's questions, a judge compares each pair in both
orders; prints model A's win rate with its CI and the judge's position bias, writes the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llmpilot.cli_options import SetOpt, check_overrides_have_project

console = Console()

#: One string per paragraph: rich would otherwise keep a docstring's hard line breaks. Set as the
#: command's docstring below, so `models_app.command("pairwise")(pairwise_command)` shows it as --help.
PAIRWISE_HELP = "\n\n".join(
    [
        "AlpacaEval-style pairwise win rate of model A against model B on your own questions.",
        "Both models answer every question through the project's answer path (its retrieval, prompt, "
        "guardrails and answer policy; only the generator differs), or, without --project, the bare "
        "question. The judge (default: the project's generator) compares each pair twice, in both orders: "
        "a model wins a question only when both orders prefer it; a verdict that flips with the order is a "
        "tie; a reply the judge does not make readable after one retry is counted as missing, not as a tie. "
        "A judge that is one of the two models tends to prefer its own answers.",
        "Models: a catalog name (llmpilot models list), a .gguf file, extractive, openai:MODEL@URL, "
        "or a YAML file with a generator: section. Questions: --questions (JSONL {id?, text}, or any "
        "eval set that `llmpilot eval import` reads), else the project's eval set in PROJECT/eval.",
        "--out keeps answers.jsonl and judgements.jsonl: a rerun or an interrupted run makes only what is "
        "missing (delete them after re-ingesting documents). --json writes {model_a, model_b, judge, n, "
        "win_rate, ci, wins, losses, ties, missing, position_bias, consistent, seconds, …, records}.",
    ]
)


def pairwise_command(
    models: Annotated[str, typer.Option(help="The two models to compare, A,B (win rate is A's).")],
    json_out: Annotated[
        Path, typer.Option("--json", help="Write the summary and per-question records here.")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the cached answers and verdicts (resumable).")],
    judge: Annotated[
        str | None, typer.Option(help="The judge model (same forms); default: the project's generator.")
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project", "-p", help="Project folder (holds llmpilot.yaml), or a config file inside one."
        ),
    ] = None,
    overrides: SetOpt = None,
    questions: Annotated[
        Path | None, typer.Option(help='Questions: JSONL {"id"?, "text"} or an eval set (any import format).')
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use only the first N questions.")] = None,
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="Answer length for both models (default: their config's).")
    ] = None,
    judge_max_tokens: Annotated[int, typer.Option(min=4, help="Length of the judge's reply.")] = 48,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap CI.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
) -> None:
    """Pairwise win rate of model A against model B, judged in both orders (help: PAIRWISE_HELP)."""
    from llmpilot.models.pairwise import judge_spec_default, load_questions, run_pairwise
    from llmpilot.models.pairwise_specs import parse_spec, split_models
    from llmpilot.project import Project

    check_overrides_have_project(overrides, project)
    proj = Project.open(project, overrides or ()) if project is not None else None
    base = proj.config.generator if proj is not None else None
    spec_a, spec_b = (parse_spec(s, base, what="--models") for s in split_models(models))
    if max_tokens is not None:
        spec_a, spec_b = (
            type(s)(s.label, s.config.model_copy(update={"max_tokens": max_tokens})) for s in (spec_a, spec_b)
        )
    judge_spec = parse_spec(judge, base, what="--judge") if judge is not None else judge_spec_default(proj)
    try:
        asked = load_questions(questions, project=proj, limit=limit, workdir=out)
        result = run_pairwise(
            spec_a,
            spec_b,
            judge_spec,
            asked,
            project=proj,
            out=out,
            progress=progress,
            judge_max_tokens=judge_max_tokens,
            seed=seed,
        )
    finally:
        if proj is not None:
            proj.close()
    payload = result.as_dict()
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_summary(payload)
    console.print(f"wrote {escape(str(json_out))}; answers and verdicts in {escape(str(out))}")


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_summary(s: dict[str, object]) -> None:
    a, b, judge = (escape(str(s[k])) for k in ("model_a", "model_b", "judge"))
    ci = s["ci"]
    shown_ci = f"[95% CI {ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, list) else "(no judged question)"
    console.print(f"[bold]{a}[/] vs [bold]{b}[/], judged by {judge} in both orders")
    console.print(
        f"win rate of {a}: {_rate(s['win_rate'] if isinstance(s['win_rate'], float) else None)} {shown_ci}"
        + (" — significant" if s["significant"] else " — not significantly different from 0.5"),
        soft_wrap=True,
    )
    console.print(
        f"{s['n']} questions judged: {s['wins']} wins, {s['losses']} losses, {s['ties']} ties; "
        f"{s['missing']} missing (unreadable verdicts)"
    )
    bias = s["position_bias"] if isinstance(s["position_bias"], float) else None
    consistent = s["consistent"] if isinstance(s["consistent"], float) else None
    console.print(
        f"position bias: {_rate(bias)} of the judge's verdicts picked the answer shown first; "
        f"{_rate(consistent)} of the questions got the same verdict in both orders",
        soft_wrap=True,
    )
    p50 = s["answer_seconds_p50"]
    if isinstance(p50, dict):
        console.print(
            f"seconds per answer (p50): {a} {p50['a']}, {b} {p50['b']}; total {s['seconds']} s",
            soft_wrap=True,
        )


pairwise_command.__doc__ = PAIRWISE_HELP
