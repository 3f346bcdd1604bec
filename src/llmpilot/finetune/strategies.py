"""`llmpilot strategies`: prompt, RAG, fine-tuning and the hybrid, measured on one held-out split.

Every strategy answers the same test items with the same weights (the `transformers` generator; the
fine-tuned strategies add a LoRA adapter), greedy decoding and the same answer budget, so differences
come from the strategy and nothing else:

- prompt: the base model with an instruction prompt. "Tuned" = zero-shot or k-shot (k fixed train
  exemplars, `strategy_data.exemplars`), whichever scores better on the validation items; both scores
  are reported with the pick.
- rag: qa/chat — retrieval over the dataset's corpus with a pipeline config (`--config`, e.g. an
  optimizer's best.yaml; default BM25 with the language-aware tokenizer, top 3) answered through the
  project's answer path (`optimization.answers.AnswerGenerator` → `Responder.for_scoring`: abstention,
  citation checks, the strict retry, exactly as optimizer trials). summarize — there is no knowledge to
  look up, so RAG means *retrieval-augmented few-shot*: the `retrieved` train documents nearest to the
  input (BM25) and their reference summaries are the exemplars of the prompt.
- finetune: a PEFT adapter (`--method`, LoRA by default) trained on train items (question → answer,
  document → summary) in the zero-shot prompt, answered with that prompt and no retrieval.
- hybrid: an adapter trained on train items *with* what retrieval gives them at serving time in the
  prompt (RAFT-style; for summarize the neighbours exclude the item itself), answered through the rag path.

Everything is resumable: each answer is appended to OUT/predictions.jsonl keyed by (strategy, phase,
item id, settings hash) as it comes, and an adapter whose folder is complete is not trained again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmpilot.config import GeneratorConfig, PipelineConfig, load_config, parse_config, stable_hash
from llmpilot.errors import ConfigError
from llmpilot.finetune.data import TrainingExample, data_hash
from llmpilot.finetune.strategy_data import Item, Split, Task, exemplars, load_items, split_items
from llmpilot.finetune.strategy_scoring import (
    DEFAULT_METRICS,
    PRIMARY_METRIC,
    STRATEGIES,
    aggregate,
    paired_tests,
    recommend,
    score_items,
)

Messages = list[dict[str, str]]

#: System prompts of the prompt and finetune strategies (and the summarize rag/hybrid prompts).
INSTRUCTIONS: dict[str, str] = {
    "summarize": "Summarize the scientific abstract in one sentence (a TLDR). Write only that sentence.",
    "qa": "Answer the question briefly and accurately, in the language of the question.",
    "chat": "You are a customer-support assistant. Answer the customer's message briefly and politely, "
    "in the customer's language.",
}

#: What each strategy consists of and when it must be redone (the measured rows counts are added).
COMPLEXITY: dict[str, dict[str, Any]] = {
    "prompt": {
        "moving_parts": ["base model", "prompt template", "few-shot exemplars (if picked)"],
        "retraining": "none: edit the prompt",
    },
    "rag": {
        "moving_parts": [
            "base model",
            "prompt template",
            "ingest + chunking",
            "keyword/vector index",
            "retriever",
        ],
        "retraining": "none; re-index (incrementally) when the documents change",
    },
    "finetune": {
        "moving_parts": ["base model", "prompt template", "labeled training data", "training run", "adapter"],
        "retraining": "re-train the adapter whenever the facts or the wanted style change",
    },
    "hybrid": {
        "moving_parts": [
            "base model",
            "prompt template",
            "ingest + chunking",
            "keyword/vector index",
            "retriever",
            "labeled training data",
            "training run",
            "adapter",
        ],
        "retraining": "re-index when the documents change; re-train the adapter when the style changes",
    },
}


@dataclass(frozen=True)
class StrategySettings:
    task: Task
    base: str = "smollm2-135m"
    method: str = "lora"
    #: qa/chat: the pipeline config of the rag and hybrid strategies (None: `default_rag_config`).
    config: Path | None = None
    #: `--set KEY=VALUE` items applied over that config (llmpilot.config.parse_overrides).
    overrides: tuple[str, ...] = ()
    test_size: int = 40
    val_size: int = 6
    train_size: int | None = 200
    epochs: int = 2
    max_steps: int | None = None
    batch_size: int = 4
    max_length: int = 768
    learning_rate: float | None = None
    seed: int = 0
    max_tokens: int = 64
    #: Few-shot exemplars the prompt strategy may add; 0 = zero-shot only.
    shots: int = 2
    #: summarize: neighbours retrieved as exemplars by rag and hybrid.
    retrieved: int = 2
    bertscore: bool = False
    strategies: tuple[str, ...] = STRATEGIES
    n_threads: int | None = None
    n_ctx: int = 4096
    #: The generator plugin all four strategies answer with; `transformers` is the one that loads
    #: adapters (tests swap in a fake).
    generator: str = "transformers"

    def metrics(self) -> tuple[str, ...]:
        return DEFAULT_METRICS + (("bertscore_f1",) if self.bertscore else ())


@dataclass
class Prediction:
    strategy: str
    phase: str  # "test" or "val"
    item_id: str
    settings: str
    text: str
    seconds: float
    prompt_tokens: int
    abstained: bool = False
    rss_mb: float = 0.0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.strategy, self.phase, self.item_id, self.settings)


class PredictionLog:
    """OUT/predictions.jsonl: appended one answer at a time, read back on a re-run. A line cut short
    by a kill is ignored (that answer is simply generated again)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[tuple[str, str, str, str], Prediction] = {}
        self.skipped = 0
        if path.is_file():
            for line in path.read_text(encoding="utf-8").split("\n"):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    pred = Prediction(**{k: row[k] for k in Prediction.__dataclass_fields__ if k in row})
                except (json.JSONDecodeError, TypeError, KeyError):
                    self.skipped += 1
                    continue
                self.done[pred.key] = pred

    def add(self, pred: Prediction, reference: str) -> None:
        self.done[pred.key] = pred
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({**asdict(pred), "reference": reference}, ensure_ascii=False) + "\n")


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss / 2**20)


def folder_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 3)


def unload_models() -> None:
    """Free the loaded transformers models, so each strategy's peak memory is its own."""
    from llmpilot.generation import hf

    hf.unload()


def prompt_tokens(generator: object, messages: Messages) -> int:
    """Tokens of the prompt's text by the generator's own tokenizer (0 when it exposes none: remote
    endpoints), counted the way the answer path fits contexts (`generation.prompting.fit_context`)."""
    count = getattr(generator, "count_tokens", None)
    return int(count("\n".join(m["content"] for m in messages))) if callable(count) else 0


def prompt_messages(task: Task, text: str, shots: Sequence[Item]) -> Messages:
    """System instruction, one user/assistant turn per exemplar, then the input."""
    messages = [{"role": "system", "content": INSTRUCTIONS[task]}]
    for shot in shots:
        messages += [{"role": "user", "content": shot.text}, {"role": "assistant", "content": shot.reference}]
    messages.append({"role": "user", "content": text})
    return messages


def training_example(source: str, messages: Messages, answer: str) -> TrainingExample:
    return TrainingExample(source, (*({**m} for m in messages), {"role": "assistant", "content": answer}))


def default_rag_config() -> PipelineConfig:
    """BM25 over the language-aware tokenizer, top 3, corpus kept as published (no PII redaction or
    de-duplication, as the benchmark configs), 1,500 characters of context (small models' windows).

    No abstention: every held-out item has its answer in the corpus, and the comparison is of answers.
    The served default (0.81) is a cosine threshold measured for e5-small; on BM25's confidence scale
    it refused all 12 test questions of support-chat-ko (an 8-document corpus: low IDF)."""
    return PipelineConfig.model_validate(
        {
            "transforms": {"pii": [], "dedup_exact": False, "dedup_near": False},
            "chunking": {"method": "recursive", "size": 1500, "overlap": 0},
            "index": {"keyword": {"tokenizer": "auto"}},
            "retrieval": {"mode": "keyword", "top_k": 3},
            "prompt": {"max_context_chars": 1500},
            "answer": {"abstain_below": 0.0},
        }
    )


# --- retrieval -------------------------------------------------------------------------------------


class ExemplarRetriever:
    """summarize's "retrieval": BM25 over the train documents; an item never retrieves itself."""

    def __init__(self, train: Sequence[Item], index_dir: Path) -> None:
        from llmpilot.config import KeywordIndexConfig
        from llmpilot.index.keyword import BM25Index

        self.items = {i.id: i for i in train}
        self.index = BM25Index(KeywordIndexConfig(tokenizer="auto"))
        self.index.build([i.id for i in train], [i.text for i in train])
        self.index.save(index_dir)
        self.disk_mb = folder_mb(index_dir)

    def neighbours(self, item: Item, k: int) -> list[Item]:
        ranked = self.index.search([item.text], k + 1)[0]
        return [self.items[r.id] for r in ranked if r.id != item.id][:k]


class CorpusRetrieval:
    """qa/chat: the dataset's corpus ingested and indexed like an optimizer's work store, and answers
    through the project's answer path."""

    def __init__(self, dataset_dir: Path, workdir: Path, cfg: PipelineConfig) -> None:
        from llmpilot.evaluation.datasets import load_dataset
        from llmpilot.optimization.answers import AnswerGenerator
        from llmpilot.optimization.evaluate import Evaluator
        from llmpilot.retrieval.retriever import Retriever

        dataset = load_dataset(dataset_dir, for_retrieval=True)
        self.cfg = cfg
        self.evaluator = Evaluator(dataset, dataset_dir, workdir)
        prepared = self.evaluator.prepare(cfg)
        self.retriever = Retriever(cfg.retrieval, prepared.indexes, prepared.embedder)
        self.answerer = AnswerGenerator(self.evaluator.root, self.evaluator.store.document_texts)
        self.disk_mb = folder_mb(self.evaluator.root)
        self.corpus_docs = len(dataset.corpus)

    def close(self) -> None:
        self.evaluator.close()

    def hits(self, text: str) -> list[Any]:
        return self.retriever.retrieve(text, self.cfg.retrieval.top_k)

    def messages(self, gen_cfg: GeneratorConfig, text: str, hits: Sequence[Any]) -> Messages:
        """The prompt the answer path builds for these hits (for training rows and token counts)."""
        from llmpilot.generation.prompting import messages_for_generator

        generator = self.answerer.generator(gen_cfg)
        template = self.answerer.template(self.cfg.prompt.template)
        messages, _ = messages_for_generator(
            generator, template, text, hits, self.cfg.prompt.max_context_chars, gen_cfg.max_tokens
        )
        return messages


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    predictions: dict[str, Prediction] = field(default_factory=dict)  # item id -> prediction
    train: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _Progress:
    """A rich bar per strategy's answers and one for training (with the running loss), on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None

    @contextmanager
    def session(self) -> Iterator[_Progress]:
        if not self.enabled:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as progress:
            self._progress = progress
            yield self
        self._progress = None

    def task(self, description: str, total: int) -> Callable[..., None]:
        """An update function: call with advance=1 and/or completed/total/note."""
        if self._progress is None:
            return lambda **_: None
        progress = self._progress
        task_id = progress.add_task(description, total=total, note="")
        return lambda **kw: progress.update(task_id, **kw)

    def print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)


class StrategyRun:
    def __init__(
        self, dataset: Path, out: Path, settings: StrategySettings, *, progress: bool = True
    ) -> None:
        if settings.method == "qlora":
            from llmpilot.finetune.train import check_method

            check_method("qlora", gpu=_cuda())
        unknown = [s for s in settings.strategies if s not in STRATEGIES]
        if unknown:
            raise ConfigError(f"unknown strategy {', '.join(unknown)}; use any of {', '.join(STRATEGIES)}")
        self.dataset = Path(dataset)
        self.out = Path(out)
        self.settings = settings
        self.items = load_items(self.dataset, settings.task)
        self.split: Split = split_items(
            self.items,
            test_size=settings.test_size,
            val_size=settings.val_size,
            train_size=settings.train_size,
            seed=settings.seed,
        )
        self.cfg = self._rag_config()
        self.log = PredictionLog(self.out / "predictions.jsonl")
        self.progress = _Progress(progress)
        self._retrieval: CorpusRetrieval | None = None
        self._exemplars: ExemplarRetriever | None = None

    # settings and shared pieces

    def _rag_config(self) -> PipelineConfig:
        s = self.settings
        if s.config is not None:
            cfg = load_config(s.config, s.overrides)
        else:
            cfg = default_rag_config()
            if s.overrides:
                cfg = parse_config(cfg.model_dump(mode="json"), "the default rag config", s.overrides)
        return cfg.model_copy(update={"generator": self.generator_config(None)})

    def generator_config(self, adapter: Path | None) -> GeneratorConfig:
        s = self.settings
        return GeneratorConfig(
            name=s.generator,
            model=s.base,
            adapter=str(adapter.resolve()) if adapter else None,
            max_tokens=s.max_tokens,
            temperature=0.0,
            n_ctx=s.n_ctx,
            n_threads=s.n_threads,
            seed=s.seed,
        )

    def _common(self) -> dict[str, Any]:
        s = self.settings
        common = {
            "task": s.task,
            "base": s.base,
            "max_tokens": s.max_tokens,
            "seed": s.seed,
            "n_ctx": s.n_ctx,
        }
        if s.generator != "transformers":  # the default is left out, so stored hashes stay valid
            common["generator"] = s.generator
        return common

    @property
    def rag_retrieval(self) -> CorpusRetrieval:
        if self._retrieval is None:
            self._retrieval = CorpusRetrieval(self.dataset, self.out / "work", self.cfg)
        return self._retrieval

    @property
    def exemplar_retriever(self) -> ExemplarRetriever:
        if self._exemplars is None:
            self._exemplars = ExemplarRetriever(self.split.train, self.out / "indexes" / "exemplars-bm25")
        return self._exemplars

    # answering

    def _direct(self, gen_cfg: GeneratorConfig, messages: Messages) -> tuple[str, float, int, bool]:
        from llmpilot import factory

        generator = factory.generator(gen_cfg)
        tokens = prompt_tokens(generator, messages)
        t0 = time.perf_counter()
        text = generator.generate(messages, max_tokens=gen_cfg.max_tokens, temperature=gen_cfg.temperature)
        return text.strip(), time.perf_counter() - t0, tokens, False

    def _prompted(
        self, gen_cfg: GeneratorConfig, shots: Sequence[Item]
    ) -> Callable[[Item], tuple[str, float, int, bool]]:
        """Answers with the instruction prompt and these fixed exemplars."""
        task = self.settings.task
        return lambda item: self._direct(gen_cfg, prompt_messages(task, item.text, shots))

    def _rag_answer(self, gen_cfg: GeneratorConfig, item: Item) -> tuple[str, float, int, bool]:
        retrieval = self.rag_retrieval
        t0 = time.perf_counter()
        hits = retrieval.hits(item.text)
        retrieve_s = time.perf_counter() - t0
        cfg = self.cfg.model_copy(update={"generator": gen_cfg})
        answer = retrieval.answerer.answer(cfg, item.text, hits)
        tokens = 0
        if answer.seconds > 0:  # generated (an abstention before generation sends no prompt)
            generator = retrieval.answerer.generator(gen_cfg)
            tokens = prompt_tokens(generator, retrieval.messages(gen_cfg, item.text, hits))
        return answer.text, retrieve_s + answer.seconds, tokens, answer.abstained

    def _answer_items(
        self,
        name: str,
        phase: str,
        items: Sequence[Item],
        settings_hash: str,
        answer: Callable[[Item], tuple[str, float, int, bool]],
    ) -> dict[str, Prediction]:
        out: dict[str, Prediction] = {}
        update = self.progress.task(f"{name} ({phase})", len(items))
        for item in items:
            key = (name, phase, item.id, settings_hash)
            pred = self.log.done.get(key)
            if pred is None:
                text, seconds, tokens, abstained = answer(item)
                pred = Prediction(
                    name, phase, item.id, settings_hash, text, round(seconds, 4), tokens, abstained, _rss_mb()
                )
                self.log.add(pred, item.reference)
            out[item.id] = pred
            update(advance=1)
        return out

    # training

    def _train(
        self, name: str, train: Sequence[TrainingExample], val: Sequence[TrainingExample]
    ) -> tuple[Path, dict[str, Any]]:
        from llmpilot.finetune.base import resolve_base
        from llmpilot.finetune.train import ADAPTER_META, TrainSettings, finetune, read_adapter_meta

        s = self.settings
        settings = TrainSettings(
            method=s.method,  # type: ignore[arg-type]  # checked by finetune (check_method)
            epochs=s.epochs,
            learning_rate=s.learning_rate,
            batch_size=s.batch_size,
            max_length=s.max_length,
            max_steps=s.max_steps,
            seed=s.seed,
        )
        digest = stable_hash(
            {"data": data_hash([*train, *val]), "settings": asdict(settings), "base": s.base}
        )
        folder = self.out / "adapters" / f"{name}-{digest}"
        if (folder / ADAPTER_META).is_file():
            meta = read_adapter_meta(folder)
            self.progress.print(f"{name}: adapter {folder.name} is already trained; reusing it")
            return folder, {**meta.get("metrics", {}), "reused": True, "history": meta.get("history", [])}
        update = self.progress.task(f"{name} (training)", s.max_steps or 1)

        def on_step(step: int, total: int, loss: float) -> None:
            update(completed=step, total=total, note=f"loss {loss:.4f}")

        result = finetune(train, val, resolve_base(s.base), folder, settings, on_step=on_step)
        return folder, {**result.as_dict(), "reused": False}

    def _examples(self, items: Sequence[Item], with_context: bool) -> list[TrainingExample]:
        task = self.settings.task
        rows = []
        for item in items:
            if not with_context:
                messages = prompt_messages(task, item.text, [])
            elif task == "summarize":
                shots = self.exemplar_retriever.neighbours(item, self.settings.retrieved)
                messages = prompt_messages(task, item.text, shots)
            else:
                hits = self.rag_retrieval.hits(item.text)
                messages = self.rag_retrieval.messages(self.generator_config(None), item.text, hits)
            rows.append(training_example(f"{self.dataset.name}:{item.id}", messages, item.reference))
        return rows

    # the four strategies

    def run_prompt(self) -> _Outcome:
        s = self.settings
        gen_cfg = self.generator_config(None)
        variants: dict[str, list[Item]] = {"zero-shot": []}
        shots = exemplars(self.split.train, s.shots)
        if shots:
            variants[f"{len(shots)}-shot"] = shots
        tuning: dict[str, Any] = {}
        scored: dict[str, float] = {}
        tuning_seconds = 0.0
        for variant, chosen in variants.items():
            h = stable_hash({**self._common(), "variant": variant, "shots": [i.id for i in chosen]})
            if self.split.val and len(variants) > 1:
                preds = self._answer_items(
                    f"prompt:{variant}",
                    "val",
                    self.split.val,
                    h,
                    self._prompted(gen_cfg, chosen),
                )
                values = score_items(
                    [preds[i.id].text for i in self.split.val],
                    [i.references for i in self.split.val],
                    [PRIMARY_METRIC],
                )[PRIMARY_METRIC]
                scored[variant] = sum(values) / len(values)
                tuning_seconds += sum(p.seconds for p in preds.values())
            tuning[variant] = {
                "settings": h,
                "shots": [i.id for i in chosen],
                "val_score": scored.get(variant),
            }
        # Ties go to zero-shot (listed first): the shorter prompt is cheaper per answer.
        pick = max(variants, key=lambda v: (scored.get(v, 0.0), -list(variants).index(v)))
        chosen = variants[pick]
        preds = self._answer_items(
            "prompt",
            "test",
            self.split.test,
            tuning[pick]["settings"],
            self._prompted(gen_cfg, chosen),
        )
        return _Outcome(
            preds,
            extra={
                "prompt_tuning": {
                    "metric": PRIMARY_METRIC,
                    "val_items": len(self.split.val),
                    "variants": tuning,
                    "picked": pick,
                },
                "tuning_seconds": round(tuning_seconds, 2),
                "labeled_rows": len(chosen) + (len(self.split.val) if len(variants) > 1 else 0),
            },
        )

    def run_rag(self) -> _Outcome:
        s = self.settings
        gen_cfg = self.generator_config(None)
        if s.task == "summarize":
            h = stable_hash(
                {**self._common(), "rag": "exemplars", "k": s.retrieved, "pool": self._pool_hash()}
            )
            retriever = self.exemplar_retriever

            preds = self._answer_items("rag", "test", self.split.test, h, self._exemplar_answer(gen_cfg))
            return _Outcome(
                preds, extra={"disk_mb": retriever.disk_mb, "labeled_rows": len(self.split.train)}
            )
        h = stable_hash({**self._common(), "rag": self.cfg.hash()})
        preds = self._answer_items(
            "rag", "test", self.split.test, h, lambda item: self._rag_answer(gen_cfg, item)
        )
        retrieval = self.rag_retrieval
        return _Outcome(
            preds,
            extra={"disk_mb": retrieval.disk_mb, "corpus_docs": retrieval.corpus_docs, "labeled_rows": 0},
        )

    def _exemplar_answer(self, gen_cfg: GeneratorConfig) -> Callable[[Item], tuple[str, float, int, bool]]:
        """summarize's retrieval-augmented answer (rag, and hybrid with its adapter): the nearest train
        pairs as exemplars; the retrieval's seconds count toward the answer's."""
        s = self.settings
        retriever = self.exemplar_retriever

        def answer(item: Item) -> tuple[str, float, int, bool]:
            t0 = time.perf_counter()
            shots = retriever.neighbours(item, s.retrieved)
            retrieve_s = time.perf_counter() - t0
            text, seconds, tokens, abstained = self._direct(
                gen_cfg, prompt_messages(s.task, item.text, shots)
            )
            return text, seconds + retrieve_s, tokens, abstained

        return answer

    def _pool_hash(self) -> str:
        return hashlib.sha256("\n".join(i.id for i in self.split.train).encode()).hexdigest()[:16]

    def run_finetune(self) -> _Outcome:
        adapter, train = self._train(
            "finetune", self._examples(self.split.train, False), self._examples(self.split.val, False)
        )
        gen_cfg = self.generator_config(adapter)
        h = stable_hash({**self._common(), "adapter": adapter.name, "prompt": "zero-shot"})
        preds = self._answer_items(
            "finetune",
            "test",
            self.split.test,
            h,
            self._prompted(gen_cfg, []),
        )
        return _Outcome(
            preds,
            train=train,
            extra={
                "disk_mb": folder_mb(adapter),
                "labeled_rows": len(self.split.train) + len(self.split.val),
            },
        )

    def run_hybrid(self) -> _Outcome:
        s = self.settings
        adapter, train = self._train(
            "hybrid", self._examples(self.split.train, True), self._examples(self.split.val, True)
        )
        gen_cfg = self.generator_config(adapter)
        rows = len(self.split.train) + len(self.split.val)
        if s.task == "summarize":
            retriever = self.exemplar_retriever
            h = stable_hash(
                {**self._common(), "adapter": adapter.name, "k": s.retrieved, "pool": self._pool_hash()}
            )

            preds = self._answer_items("hybrid", "test", self.split.test, h, self._exemplar_answer(gen_cfg))
            disk = folder_mb(adapter) + retriever.disk_mb
            return _Outcome(preds, train=train, extra={"disk_mb": round(disk, 3), "labeled_rows": rows})
        h = stable_hash({**self._common(), "adapter": adapter.name, "rag": self.cfg.hash()})
        preds = self._answer_items(
            "hybrid", "test", self.split.test, h, lambda item: self._rag_answer(gen_cfg, item)
        )
        retrieval = self.rag_retrieval
        disk = folder_mb(adapter) + retrieval.disk_mb
        return _Outcome(
            preds,
            train=train,
            extra={"disk_mb": round(disk, 3), "corpus_docs": retrieval.corpus_docs, "labeled_rows": rows},
        )

    # results

    def run(self) -> dict[str, Any]:
        runners = {
            "prompt": self.run_prompt,
            "rag": self.run_rag,
            "finetune": self.run_finetune,
            "hybrid": self.run_hybrid,
        }
        started = time.perf_counter()
        outcomes: dict[str, _Outcome] = {}
        try:
            with self.progress.session():
                for name in (s for s in STRATEGIES if s in self.settings.strategies):
                    unload_models()
                    outcomes[name] = runners[name]()
        finally:
            if self._retrieval is not None:
                self._retrieval.close()
            unload_models()
        results = self.results(outcomes, time.perf_counter() - started)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(
            json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        from llmpilot.finetune.strategy_report import render_report

        render_report(results, self.examples(outcomes), self.out / "report.html")
        return results

    def examples(self, outcomes: dict[str, _Outcome], n: int = 4) -> list[dict[str, Any]]:
        """The first n test items with every strategy's answer, for the report."""
        return [
            {
                "id": item.id,
                "input": item.text,
                "reference": item.reference,
                "answers": {name: o.predictions[item.id].text for name, o in outcomes.items()},
            }
            for item in self.split.test[:n]
        ]

    def results(self, outcomes: dict[str, _Outcome], seconds: float) -> dict[str, Any]:
        s = self.settings
        test = self.split.test
        references = [i.references for i in test]
        metrics = s.metrics()
        per_item: dict[str, dict[str, list[float]]] = {}
        strategies: dict[str, Any] = {}
        for name, outcome in outcomes.items():
            preds = [outcome.predictions[i.id] for i in test]
            per_item[name] = score_items([p.text for p in preds], references, metrics)
            agg = aggregate(per_item[name], seed=s.seed)
            train = outcome.train or {}
            peak = max([p.rss_mb for p in preds] + [float(train.get("peak_memory_mb") or 0.0)])
            cost = {
                "train_seconds": float(train.get("seconds") or 0.0),
                "seconds_per_answer": round(sum(p.seconds for p in preds) / len(preds), 4),
                "seconds_per_answer_p50": round(sorted(p.seconds for p in preds)[len(preds) // 2], 4),
                "prompt_tokens_per_answer": round(sum(p.prompt_tokens for p in preds) / len(preds), 1),
                "peak_memory_mb": round(peak, 1),
                "disk_mb": float(outcome.extra.get("disk_mb", 0.0)),
                "abstained": sum(p.abstained for p in preds),
            }
            if "tuning_seconds" in outcome.extra:
                cost["tuning_seconds"] = outcome.extra["tuning_seconds"]
            complexity = {
                **COMPLEXITY[name],
                "n_moving_parts": len(COMPLEXITY[name]["moving_parts"]),
                "data_needed": {
                    "labeled_rows": int(outcome.extra.get("labeled_rows", 0)),
                    "corpus_documents": int(outcome.extra.get("corpus_docs", 0)),
                },
            }
            entry: dict[str, Any] = {
                "metrics": agg.metrics,
                "ci": {k: list(v) for k, v in agg.ci.items()},
                "cost": cost,
                "complexity": complexity,
                "settings_hash": preds[0].settings if preds else None,
            }
            if outcome.train is not None:
                entry["training"] = {k: v for k, v in outcome.train.items() if k != "history"} | {
                    "history": outcome.train.get("history", [])
                }
            if "prompt_tuning" in outcome.extra:
                entry["prompt_tuning"] = outcome.extra["prompt_tuning"]
            strategies[name] = entry
        paired = paired_tests(per_item, PRIMARY_METRIC, seed=s.seed)
        means = {name: strategies[name]["metrics"][PRIMARY_METRIC] for name in strategies}
        recommended, reason = recommend(means, paired, PRIMARY_METRIC)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()}
        return {
            "task": s.task,
            "dataset": str(self.dataset),
            "primary_metric": PRIMARY_METRIC,
            "strategies": strategies,
            "paired": paired,
            "recommended": recommended,
            "recommendation_reason": reason,
            "n": self.split.sizes(),
            "split": {
                "seed": s.seed,
                "test_ids": [i.id for i in test],
                "val_ids": [i.id for i in self.split.val],
                "train_ids": [i.id for i in self.split.train],
            },
            "settings": settings,
            "rag_config": self.cfg.hash_form() if s.task != "summarize" else None,
            "rag_definition": (
                f"retrieval-augmented few-shot: the {s.retrieved} train documents nearest to the input "
                "(BM25) with their reference summaries as exemplars"
                if s.task == "summarize"
                else "retrieval over the corpus with the rag config, answered through the project's answer "
                "path (Responder.for_scoring: abstention, citation checks, one strict retry)"
            ),
            "seconds": round(seconds, 1),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "per_item": {
                name: {"ids": [i.id for i in test], PRIMARY_METRIC: values[PRIMARY_METRIC]}
                for name, values in per_item.items()
            },
        }


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def run_strategies(
    dataset: Path, out: Path, settings: StrategySettings, *, progress: bool = True
) -> dict[str, Any]:
    """Run the comparison; writes OUT/results.json, OUT/report.html, OUT/predictions.jsonl, OUT/adapters/."""
    return StrategyRun(dataset, out, settings, progress=progress).run()
