"""`llmpilot finetune` and `llmpilot adapters …`: train a PEFT adapter on the user's examples, list
the registered ones, merge one into a standalone model. Thin: llmpilot.finetune does the work."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmpilot.cli_options import SetOpt
from llmpilot.errors import ConfigError

adapters_app = typer.Typer(
    help="Fine-tuned adapters: list the registered ones, merge-export.", no_args_is_help=True
)

out = Console()
err = Console(stderr=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    err.print(f"wrote {path}", markup=False, highlight=False)


def _project_store(project: Path, overrides: Sequence[str] = ()) -> Any | None:
    """The project at `project` (`overrides`: --set items over its config), or None when there is no
    project there."""
    from llmpilot.project import CONFIG_NAME, Project

    if not (project.is_file() or (project / CONFIG_NAME).is_file()):
        if overrides:
            raise ConfigError(f"--set overrides a project's config; no llmpilot project at {project}")
        return None
    return Project.open(project, overrides)


def load_examples(
    data: list[Path],
    dataset: list[Path],
    feedback: bool,
    project: Path,
    overrides: Sequence[str] = (),
) -> list[Any]:
    from llmpilot.finetune.data import examples_from_dataset, examples_from_feedback, load_training_file

    examples = [e for path in data for e in load_training_file(path)]
    examples += [e for folder in dataset for e in examples_from_dataset(folder)]
    if feedback:
        proj = _project_store(project, overrides)
        if proj is None:
            raise ConfigError(f"--feedback reads corrections from a project's store; no project at {project}")
        examples += examples_from_feedback(proj.store)
    if not examples:
        raise ConfigError("no training data: pass --data FILE (JSONL/CSV), --dataset DIR or --feedback")
    return examples


def finetune_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder the adapter is written to.")],
    data: Annotated[
        list[Path] | None,
        typer.Option(
            help="Training examples, JSONL or CSV: Alpaca {instruction, input?, output}, "
            "{prompt, completion} or OpenAI chat {messages} (repeatable)."
        ),
    ] = None,
    dataset: Annotated[
        list[Path] | None, typer.Option(help="An eval dataset folder: its questions and reference answers.")
    ] = None,
    feedback: Annotated[
        bool, typer.Option(help="Add the corrections users gave in the served app (the project's store).")
    ] = False,
    base: Annotated[
        str, typer.Option(help="Base model: smollm2-135m, gemma3-270m, a Hugging Face folder or a .gguf.")
    ] = "smollm2-135m",
    method: Annotated[str, typer.Option(help="lora | prefix | prompt | ia3 | qlora (GPU).")] = "lora",
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    learning_rate: Annotated[
        float | None,
        typer.Option("--lr", help="Default per method (lora 1e-3, prefix/ia3 1e-2, prompt 3e-2)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    max_length: Annotated[
        int, typer.Option(min=16, help="Tokens per example (the prompt is cut first).")
    ] = 512,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many steps.")] = None,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without validation gain before stopping.")] = 1,
    val_fraction: Annotated[float, typer.Option(min=0.01, max=0.9)] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
    lora_r: Annotated[int, typer.Option(min=1)] = 8,
    virtual_tokens: Annotated[int, typer.Option(min=1, help="prefix / prompt tuning: virtual tokens.")] = 16,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads (default: one per core).")] = None,
    with_context: Annotated[
        bool,
        typer.Option(
            help="Train on the project's served prompt: each question with the sources its retrieval finds "
            "(for a model that answers through RAG: the hybrid strategy)."
        ),
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Refuse to train when the data-quality report has warnings.")
    ] = False,
    name: Annotated[
        str | None, typer.Option(help="Name in the project's registry (default: the --out name).")
    ] = None,
    project: Annotated[
        Path,
        typer.Option("--project", "-p", help="Project whose store registers the adapter (if there is one)."),
    ] = Path("."),
    overrides: SetOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the run's figures here.")] = None,
) -> None:
    """Fine-tune a base model with a PEFT method on your examples (loss on the answers only), after a
    data-quality report; the best epoch's adapter is saved to --out and registered in the project."""
    from llmpilot.finetune.base import resolve_base
    from llmpilot.finetune.data import split_examples
    from llmpilot.finetune.quality import quality_report, render_quality
    from llmpilot.finetune.train import TrainSettings, check_method, finetune

    check_method(method, gpu=_cuda_available() if method == "qlora" else True)
    sets = tuple(overrides or ())
    examples = load_examples(data or [], dataset or [], feedback, project, sets)
    if with_context:
        examples = _with_context(project, examples, sets)
    report = quality_report(examples)
    render_quality(report, err)
    if strict and not report.ok:
        raise ConfigError(
            "the data-quality report has warnings (above) and --strict is set; fix the data first"
        )
    train, val = split_examples(examples, val_fraction=val_fraction, seed=seed)
    settings = TrainSettings(
        method=method,  # type: ignore[arg-type]  # checked by check_method
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        max_steps=max_steps,
        patience=patience,
        lora_r=lora_r,
        virtual_tokens=virtual_tokens,
        seed=seed,
        threads=threads,
    )
    base_model = resolve_base(base)
    err.print(
        f"fine-tuning {base_model.name} with {method}: {len(train)} training rows, {len(val)} validation"
    )
    with Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("train", total=None, loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, loss=f"{loss:.4f}")

        def on_epoch(record: Any) -> None:
            val_text = "-" if record.val_loss is None else f"{record.val_loss:.4f}"
            progress.console.print(
                f"epoch {record.epoch}: train loss {record.train_loss:.4f}, validation loss {val_text}"
            )

        result = finetune(train, val, base_model, out_dir, settings, on_step=on_step, on_epoch=on_epoch)
    figures = result.as_dict()
    figures["quality"] = report.as_dict()
    registered = _register(project, name or out_dir.name, result, settings, sets)
    figures["registered"] = registered
    before = "-" if result.val_loss_before is None else f"{result.val_loss_before:.4f}"
    after = "-" if result.val_loss_after is None else f"{result.val_loss_after:.4f}"
    out.print(
        f"adapter saved to {result.adapter_dir}: validation loss {before} -> {after}, "
        f"{result.steps} steps in {result.seconds:.0f} s, peak memory {result.peak_memory_mb:.0f} MB"
        + ("" if not result.stopped_early else " (stopped early)")
    )
    out.print(
        f"use it: generator: {{name: transformers, adapter: {result.adapter_dir}}}",
        markup=False,
        highlight=False,
    )
    if json_out is not None:
        _write_json(json_out, figures)


def _with_context(project: Path, examples: list[Any], overrides: Sequence[str] = ()) -> list[Any]:
    from llmpilot.finetune.context import with_retrieved_context
    from llmpilot.pipeline import Pipeline

    proj = _project_store(project, overrides)
    if proj is None:
        raise ConfigError(f"--with-context retrieves from a project's documents; no project at {project}")
    try:
        return with_retrieved_context(Pipeline(proj), examples)
    finally:
        proj.close()


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _register(
    project: Path, name: str, result: Any, settings: Any, overrides: Sequence[str] = ()
) -> str | None:
    """Registers the adapter in the project's store; returns its id (None without a project)."""
    from dataclasses import asdict

    from llmpilot.finetune.registry import AdapterRegistry

    proj = _project_store(project, overrides)
    if proj is None:
        err.print(f"not registered: no llmpilot project at {project} (pass --project to register it)")
        return None
    try:
        metrics = {
            k: v for k, v in result.as_dict().items() if k not in ("history", "adapter_dir", "data_hash")
        }
        record = AdapterRegistry(proj.store).register(
            name=name,
            method=result.method,
            base=result.base,
            data_hash=result.data_hash,
            adapter_dir=Path(result.adapter_dir),
            config=asdict(settings),
            metrics=metrics,
        )
    finally:
        proj.close()
    err.print(f"registered as {name!r} ({record.id}) in {project}")
    return record.id


@adapters_app.command("list")
def adapters_list(
    project: Annotated[Path, typer.Option("--project", "-p", help="Project folder.")] = Path("."),
    overrides: SetOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The adapters registered in the project: method, base, data, validation loss, folder."""
    from llmpilot.finetune.registry import AdapterRegistry

    proj = _project_store(project, tuple(overrides or ()))
    if proj is None:
        raise ConfigError(f"no llmpilot project at {project}")
    try:
        records = AdapterRegistry(proj.store).list()
    finally:
        proj.close()
    if json_out:
        rows = [
            {
                "id": r.id,
                "name": r.name,
                "method": r.method,
                "base": r.base,
                "data_hash": r.data_hash,
                "adapter_dir": r.adapter_dir,
                "metrics": r.metrics,
                "created_at": r.created_at.isoformat(),
            }
            for r in records
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("name", "method", "base", "rows", "val loss", "folder", "created")
    for r in records:
        loss = r.metrics.get("val_loss_after")
        table.add_row(
            r.name,
            r.method,
            r.base,
            f"{r.metrics.get('train_rows', '?')}+{r.metrics.get('val_rows', '?')}",
            "-" if loss is None else f"{loss:.4f}",
            r.adapter_dir,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@adapters_app.command("export")
def adapters_export(
    adapter: Annotated[Path, typer.Option(help="An adapter folder from `llmpilot finetune`.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the merged, standalone model (LoRA, IA3).")
    ] = None,
    gguf: Annotated[
        Path | None,
        typer.Option(
            help="A GGUF LoRA file for llama.cpp (LoRA on a Llama-architecture base such as SmolLM2)."
        ),
    ] = None,
) -> None:
    """Merge a LoRA/IA3 adapter into its base as a standalone Hugging Face folder (`--out`; serve it with
    `generator: {name: transformers, model: FOLDER}`), and/or write a LoRA adapter as a GGUF LoRA file
    (`--gguf`; serve it on the quantized base with `generator: {name: llama-cpp, adapter: FILE}`)."""
    if out_dir is None and gguf is None:
        raise ConfigError(
            "adapters export: pass --out FOLDER (merged model) and/or --gguf FILE (llama.cpp LoRA)"
        )
    if out_dir is not None:
        from llmpilot.finetune.export import merge_and_export

        out.print(f"merged model saved to {merge_and_export(adapter, out_dir)}")
    if gguf is not None:
        from llmpilot.finetune.gguf_export import lora_to_gguf

        written = lora_to_gguf(adapter, gguf)
        out.print(
            f"GGUF LoRA saved to {written}: generator: {{name: llama-cpp, adapter: {written}}}", markup=False
        )
