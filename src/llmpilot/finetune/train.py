"""Parameter-efficient fine-tuning of a causal LM (PEFT on transformers): LoRA, prefix tuning,
prompt tuning, IA3, and QLoRA (LoRA on a 4-bit base, GPU only).

Each example is rendered with the model's chat template and the loss counts the answer's tokens
only (the prompt's labels are -100): the model learns to answer, not to echo questions. Training is
a plain AdamW loop, so the step count, the validation loss per epoch, early stopping and the peak
memory are measured here rather than inside a framework's callbacks.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.extras import requires_extra
from llmpilot.finetune.base import BaseModel, load_model, load_tokenizer, materialize
from llmpilot.finetune.data import TrainingExample, data_hash

Method = Literal["lora", "prefix", "prompt", "ia3", "qlora"]
METHODS: tuple[str, ...] = ("lora", "prefix", "prompt", "ia3", "qlora")
ADAPTER_META = "llmpilot-adapter.json"

#: Starting points, not tuned here (benchmarks/finetune.py compares the methods at these rates and
#: equal steps): soft prompts and IA3 scale vectors take far larger steps than LoRA's low-rank
#: matrices, as in the PEFT papers' settings. Prefix tuning at 1e-2 made SciTLDR's validation loss
#: worse in that benchmark: pass --lr to tune it.
DEFAULT_LEARNING_RATE: dict[str, float] = {
    "lora": 1e-3,
    "qlora": 1e-3,
    "prefix": 1e-2,
    "prompt": 3e-2,
    "ia3": 1e-2,
}


@dataclass(frozen=True)
class TrainSettings:
    method: Method = "lora"
    epochs: int = 3
    learning_rate: float | None = None
    batch_size: int = 4
    max_length: int = 512
    #: Stop when the validation loss has not improved for this many epochs (the best epoch's
    #: adapter is the one saved).
    patience: int = 1
    #: Stop after this many optimizer steps in all (None: the epochs decide).
    max_steps: int | None = None
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    virtual_tokens: int = 16
    seed: int = 0
    #: torch threads (None: torch's default, one per core).
    threads: int | None = None

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[self.method]


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float | None
    steps: int


@dataclass
class TrainResult:
    method: str
    base: str
    train_rows: int
    val_rows: int
    val_loss_before: float | None
    val_loss_after: float | None
    steps: int
    #: Wall time of the run, validation passes included ...
    seconds: float
    #: ... and of the optimizer steps alone, per step.
    seconds_per_step: float
    peak_memory_mb: float
    adapter_dir: str
    data_hash: str
    trainable_parameters: int
    total_parameters: int
    stopped_early: bool
    history: list[EpochRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_method(method: str, *, gpu: bool) -> None:
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: use one of {', '.join(METHODS)}")
    if method == "qlora" and not gpu:
        raise ModelNotAvailableError(
            "--method qlora trains LoRA on a 4-bit base (bitsandbytes), which needs a CUDA GPU and none is "
            "available here; use --method lora on CPU (same adapter format, a float32 base)"
        )


def peft_config(method: str, settings: TrainSettings) -> Any:
    with requires_extra("finetune", f"--method {method}"):
        from peft import (
            IA3Config,
            LoraConfig,
            PrefixTuningConfig,
            PromptTuningConfig,
            PromptTuningInit,
            TaskType,
        )
    task = TaskType.CAUSAL_LM
    if method in ("lora", "qlora"):
        # All linear layers, as QLoRA found best for quality at the same rank.
        return LoraConfig(
            task_type=task,
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules="all-linear",
        )
    if method == "prefix":
        return PrefixTuningConfig(task_type=task, num_virtual_tokens=settings.virtual_tokens)
    if method == "prompt":
        return PromptTuningConfig(
            task_type=task,
            num_virtual_tokens=settings.virtual_tokens,
            prompt_tuning_init=PromptTuningInit.RANDOM,
        )
    return IA3Config(task_type=task)


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


def encode_example(tokenizer: Any, example: TrainingExample, max_length: int) -> Encoded:
    """Token ids of the whole conversation and labels that are -100 except on the answer.

    The prompt is the chat template applied to every message but the last, with the generation
    prompt; the answer is what the full rendering adds after it (the answer text and the end-of-turn
    token, which the model must learn to emit to stop). Over-long examples lose the start of the prompt,
    never the answer's beginning.
    """
    prompt_text = tokenizer.apply_chat_template(
        list(example.prompt_messages), add_generation_prompt=True, tokenize=False
    )
    full_text = tokenizer.apply_chat_template(list(example.messages), tokenize=False)
    if full_text.startswith(prompt_text):
        answer_text = full_text[len(prompt_text) :]
    else:  # a template that renders the last turn differently: fall back to answer + EOS
        answer_text = example.answer + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
    answer_ids = answer_ids[: max(1, max_length // 2)] if len(answer_ids) > max_length // 2 else answer_ids
    room = max_length - len(answer_ids)
    prompt_ids = prompt_ids[-room:] if room > 0 else []
    return Encoded(prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids)


def _batches(items: Sequence[Encoded], size: int, rng: random.Random | None) -> list[list[Encoded]]:
    order = list(range(len(items)))
    if rng is not None:
        rng.shuffle(order)
    return [[items[i] for i in order[start : start + size]] for start in range(0, len(order), size)]


def _collate(batch: Sequence[Encoded], pad_id: int, device: Any) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
        mask[row, : len(e.input_ids)] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def validation_loss(model: Any, items: Sequence[Encoded], pad_id: int, batch_size: int) -> float | None:
    """Mean loss per answer token over `items` (token-weighted, so long answers count fully)."""
    if not items:
        return None
    import torch

    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in _batches(items, batch_size, None):
            inputs = _collate(batch, pad_id, device)
            count = int((inputs["labels"][:, 1:] != -100).sum())
            if count == 0:
                continue
            loss = model(**inputs).loss
            total += float(loss) * count
            tokens += count
    return total / tokens if tokens else None


class _PeakMemory:
    """The process's peak resident memory while training (sampled each step), or the GPU's."""

    def __init__(self, gpu: bool) -> None:
        self.gpu = gpu
        self.peak = 0.0
        if gpu:
            import torch

            torch.cuda.reset_peak_memory_stats()

    def sample(self) -> None:
        if self.gpu:
            import torch

            self.peak = max(self.peak, torch.cuda.max_memory_allocated() / 2**20)
            return
        import psutil

        self.peak = max(self.peak, psutil.Process().memory_info().rss / 2**20)


ProgressCallback = Callable[[int, int, float], None]  # (step, total steps, running loss)


def finetune(
    train: Sequence[TrainingExample],
    val: Sequence[TrainingExample],
    base: BaseModel,
    out: Path,
    settings: TrainSettings,
    *,
    on_step: ProgressCallback | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train an adapter of `settings.method` on `train`, keep the epoch with the best validation
    loss, and save it (PEFT files + tokenizer + llmpilot-adapter.json) to `out`."""
    with requires_extra("finetune", "llmpilot finetune"):
        import torch
        from peft import get_peft_model
    gpu = torch.cuda.is_available()
    check_method(settings.method, gpu=gpu)
    if not train:
        raise ConfigError("no training rows: the data file has no usable examples")
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    tokenizer = load_tokenizer(base)
    pad_id = int(tokenizer.pad_token_id)
    train_items = [encode_example(tokenizer, e, settings.max_length) for e in train]
    val_items = [encode_example(tokenizer, e, settings.max_length) for e in val]
    model = load_model(base, quantize_4bit=settings.method == "qlora")
    if gpu and settings.method != "qlora":  # a 4-bit base is placed on the GPU as it loads
        model = model.to("cuda")
    device = next(model.parameters()).device
    memory = _PeakMemory(gpu)
    memory.sample()
    before = validation_loss(model, val_items, pad_id, settings.batch_size)
    model = get_peft_model(model, peft_config(settings.method, settings))
    trainable, total = model.get_nb_trainable_parameters()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    steps_per_epoch = math.ceil(len(train_items) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    rng = random.Random(settings.seed)
    history: list[EpochRecord] = []
    best_loss: float | None = None
    best_state: dict[str, Any] | None = None
    stale = 0
    step = 0
    stopped_early = False
    step_seconds = 0.0
    started = time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        model.train()
        losses: list[float] = []
        for batch in _batches(train_items, settings.batch_size, rng):
            if step >= total_steps:
                break
            step_started = time.perf_counter()
            loss = model(**_collate(batch, pad_id, device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(float(loss.detach()))
            step_seconds += time.perf_counter() - step_started
            memory.sample()
            if on_step is not None:
                on_step(step, total_steps, sum(losses[-20:]) / len(losses[-20:]))
        val_loss = validation_loss(model, val_items, pad_id, settings.batch_size)
        record = EpochRecord(epoch, sum(losses) / max(1, len(losses)), val_loss, step)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if val_loss is None or best_loss is None or val_loss < best_loss:
            best_loss = val_loss
            best_state = {k: v.detach().clone() for k, v in _adapter_state(model).items()}
            stale = 0
        else:
            stale += 1
            if stale >= settings.patience:
                stopped_early = epoch < settings.epochs
                break
        if step >= total_steps:
            break
    seconds = time.perf_counter() - started
    if best_state is not None:
        _load_adapter_state(model, best_state)
    result = TrainResult(
        method=settings.method,
        base=base.name,
        train_rows=len(train),
        val_rows=len(val),
        val_loss_before=before,
        val_loss_after=best_loss,
        steps=step,
        seconds=round(seconds, 2),
        seconds_per_step=round(step_seconds / max(1, step), 3),
        peak_memory_mb=round(memory.peak, 1),
        adapter_dir=str(out.resolve()),
        data_hash=data_hash([*train, *val]),
        trainable_parameters=int(trainable),
        total_parameters=int(total),
        stopped_early=stopped_early,
        history=history,
    )
    save_adapter(model, tokenizer, base, out, settings, result)
    return result


def _adapter_state(model: Any) -> dict[str, Any]:
    from peft import get_peft_model_state_dict

    return dict(get_peft_model_state_dict(model))


def _load_adapter_state(model: Any, state: dict[str, Any]) -> None:
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, state)


def save_adapter(
    model: Any, tokenizer: Any, base: BaseModel, out: Path, settings: TrainSettings, result: TrainResult
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    meta = {
        "format": 1,
        "base": base.name,
        "base_folder": str(materialize(base)) if not base.gguf else None,
        "method": settings.method,
        "settings": asdict(settings),
        "metrics": {k: v for k, v in result.as_dict().items() if k != "history"},
        "history": [asdict(h) for h in result.history],
        "data_hash": result.data_hash,
        "created_at": datetime.now(UTC).isoformat(),
    }
    (out / ADAPTER_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def read_adapter_meta(folder: Path) -> dict[str, Any]:
    """The adapter folder's llmpilot-adapter.json; an error names the folder when it is not one."""
    path = folder / ADAPTER_META
    if not (folder / "adapter_config.json").is_file():
        raise ModelNotAvailableError(
            f"{folder}: not an adapter folder (no adapter_config.json); train one with `llmpilot finetune`"
        )
    if not path.is_file():
        raise ModelNotAvailableError(
            f"{folder}: adapter_config.json but no {ADAPTER_META}; give the base model explicitly "
            "(generator.model) for adapters trained outside llmpilot"
        )
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelNotAvailableError(f"{path}: unreadable ({exc}); re-train or restore the file") from None
    return meta
