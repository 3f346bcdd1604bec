"""MTEB-style embedder metrics on hand-made embeddings with known answers, the set loaders' errors, task
resolution, and one whole `embed_bench` run with the (real, model-free) hashing embedder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from llmpilot import components  # noqa: F401  (registers the embedders)
from llmpilot.errors import ConfigError, DatasetError
from llmpilot.models import embed_metrics as m
from llmpilot.models.embed_data import DATA_DIR, PACKAGED, balanced, load_labelled, load_pairs
from llmpilot.models.embed_tasks import embed_bench, parse_embedder, project_retrieval_dir, resolve_tasks


def unit(rows: list[list[float]]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def angles(degrees: list[float]) -> np.ndarray:
    return unit([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees])


# ------------------------------------------------------------------------------------------- metrics


def test_sts_spearman_follows_the_rank_of_the_cosines() -> None:
    base = angles([0, 0, 0, 0])
    other = angles([80, 10, 40, 60])  # cosines rank: pair 1 > 2 > 3 > 0
    assert m.sts_spearman(base, other, [0.0, 5.0, 4.0, 3.0]) == pytest.approx(1.0)
    assert m.sts_spearman(base, other, [5.0, 0.0, 1.0, 2.0]) == pytest.approx(-1.0)
    # one swap among four: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert m.sts_spearman(base, other, [0.0, 5.0, 3.0, 4.0]) == pytest.approx(0.8)


def test_sts_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="do not match"):
        m.sts_spearman(angles([0, 0]), angles([0, 0]), [1.0])


def test_undersample_draws_as_mteb_does() -> None:
    labels = ["a", "b"] * 10
    draws = m.undersample(labels, n_experiments=3, per_label=2, seed=42)
    idxs = list(range(20))
    for chosen in draws:
        np.random.RandomState(42).shuffle(idxs)  # the same list, shuffled again each experiment
        expected = [i for i in idxs if labels[i] == "a"][:2] + [i for i in idxs if labels[i] == "b"][:2]
        assert sorted(chosen) == sorted(expected)
        assert sorted(labels[i] for i in chosen) == ["a", "a", "b", "b"]
    assert draws[0] != draws[1]  # each experiment sees a different training set


def test_classification_separable_clusters_score_one() -> None:
    rng = np.random.default_rng(0)
    centres = {"x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0], "z": [0.0, 0.0, 1.0]}
    labels = [lab for lab in centres for _ in range(12)]
    emb = unit([[c + rng.normal(0, 0.05) for c in centres[lab]] for lab in labels])
    acc = m.classification_accuracy(emb, labels, emb, labels, samples_per_label=4, n_experiments=3)
    assert acc == pytest.approx(1.0)


def test_classification_needs_two_labels() -> None:
    with pytest.raises(ValueError, match="two labels"):
        m.classification_accuracy(angles([0, 1]), ["a", "a"], angles([0]), ["a"])


def test_clustering_v_measure_one_for_separated_groups_and_low_for_noise() -> None:
    rng = np.random.default_rng(1)
    labels = [lab for lab in range(3) for _ in range(20)]
    emb = angles([lab * 120 + rng.normal(0, 2) for lab in labels])
    assert m.clustering_v_measure(emb, labels) == pytest.approx(1.0)
    shuffled = list(rng.permutation(labels))
    assert m.clustering_v_measure(emb, shuffled) < 0.3
    assert m.clustering_v_measure(emb, ["only"] * len(labels)) == 1.0


def test_pair_max_ap_known_values() -> None:
    first = angles([0, 0, 0, 0])
    assert m.pair_max_ap(first, angles([5, 10, 80, 90]), [1, 1, 0, 0]) == pytest.approx(1.0)
    # ranked by similarity: pos, neg, pos, neg -> AP = (1/1 + 2/3) / 2
    assert m.pair_max_ap(first, angles([5, 10, 20, 90]), [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)


def test_retrieval_ndcg_known_ranks() -> None:
    docs = angles([0, 30, 60, 90])
    query = angles([0, 90])
    qrels = {"q1": {"d2": 1}, "q2": {"d4": 2, "d1": 1}, "q3": {"d1": 1}}  # q3 is never asked: scores 0
    score = m.retrieval_ndcg(query, ["q1", "q2"], docs, ["d1", "d2", "d3", "d4"], qrels)
    assert score.per_query["q1"] == pytest.approx(1 / math.log2(3))  # d2 ranked second
    assert score.per_query["q2"] == pytest.approx(
        (2 + 1 / math.log2(5)) / (2 + 1 / math.log2(3))
    )  # d4 first, d1 last
    assert score.per_query["q3"] == 0.0
    assert score.ndcg_at_10 == pytest.approx(sum(score.per_query.values()) / 3)


# ------------------------------------------------------------------------------------------- loaders


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"bad\.jsonl:2: not valid JSON"),
        ('{"id": "x", "sentence2": "b", "score": 1}', r"bad\.jsonl:2: field 'sentence1'"),
        ('{"id": "x", "sentence1": "a", "sentence2": "b", "score": "high"}', r"bad\.jsonl:2: field 'score'"),
        ("[1, 2]", r"bad\.jsonl:2: expected a JSON object"),
    ],
)
def test_pair_loader_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = write(
        tmp_path / "bad.jsonl", ['{"id": "ok", "sentence1": "a", "sentence2": "b", "score": 2}', line]
    )
    with pytest.raises(DatasetError, match=message):
        load_pairs(path, "score", binary=False)


def test_binary_pairs_must_be_zero_or_one(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", ['{"sentence1": "a", "sentence2": "b", "label": 2}'])
    with pytest.raises(DatasetError, match=r"p\.jsonl:1: field 'label' must be 0 or 1"):
        load_pairs(path, "label", binary=True)


def test_labelled_loader_errors(tmp_path: Path) -> None:
    bad_split = write(tmp_path / "s.jsonl", ['{"text": "a", "label": "x", "split": "dev"}'])
    with pytest.raises(DatasetError, match=r"s\.jsonl:1: field 'split'"):
        load_labelled(bad_split, needs_split=True)
    only_test = write(tmp_path / "t.jsonl", ['{"text": "a", "label": "x", "split": "test"}'])
    with pytest.raises(DatasetError, match="no 'train' rows"):
        load_labelled(only_test, needs_split=True)
    with pytest.raises(DatasetError, match="file not found"):
        load_labelled(tmp_path / "missing.jsonl", needs_split=False)


def test_balanced_limit_takes_every_label() -> None:
    rows = ["a1", "a2", "a3", "b1", "b2", "c1"]
    assert balanced(rows, lambda r: r[0], 4) == ["a1", "b1", "c1", "a2"]
    assert balanced(rows, lambda r: r[0], None) == rows


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_packaged_sets_load(name: str) -> None:
    spec = PACKAGED[name]
    path = DATA_DIR / spec.location
    if spec.type in ("sts", "pair_classification"):
        pairs = load_pairs(path, "score" if spec.type == "sts" else "label", binary=spec.type != "sts")
        assert 300 <= len(pairs) <= 1000
    else:
        rows = load_labelled(path, needs_split=spec.type == "classification")
        assert 300 <= len(rows) <= 1000
        assert len({r.label for r in rows}) >= 2


# ------------------------------------------------------------------------------------- task resolution


def test_resolve_tasks_expands_types_and_rejects_unknown() -> None:
    names = [s.name for s in resolve_tasks(["sts", "sts-en", "clustering-ko"], None)]
    assert names == ["sts-en", "sts-ko", "clustering-ko"]
    with pytest.raises(ConfigError, match="unknown task 'stss'"):
        resolve_tasks(["stss"], None)


def test_project_without_eval_set_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no eval set found"):
        project_retrieval_dir(tmp_path)


def test_parse_embedder_with_model() -> None:
    cfg = parse_embedder("sentence-transformers:/models/ko-sroberta")
    assert (cfg.name, cfg.model) == ("sentence-transformers", "/models/ko-sroberta")
    assert parse_embedder("minilm").model is None


def test_embed_bench_end_to_end_with_hashing_embedder(tmp_path: Path) -> None:
    eval_dir = tmp_path / "proj" / "eval"
    eval_dir.mkdir(parents=True)
    docs = [("d1", "battery warranty lasts two years"), ("d2", "install the panel on a dry wall")]
    write(eval_dir / "corpus.jsonl", [json.dumps({"id": i, "title": "", "text": t}) for i, t in docs])
    write(eval_dir / "queries.jsonl", [json.dumps({"id": "q1", "text": "how long is the battery warranty"})])
    write(eval_dir / "qrels.jsonl", [json.dumps({"query_id": "q1", "doc_id": "d1", "score": 1})])
    result = embed_bench(
        ["hashing"],
        ["retrieval-project", "sts-ko", "classification-en", "clustering-en", "pair_classification-en"],
        limit=40,
        project=tmp_path / "proj",
    )
    scores = result["embedders"]["hashing"]
    assert set(scores) == set(result["tasks"])
    assert scores["retrieval-project"]["main_score"] == pytest.approx(1.0)  # word overlap finds d1
    assert result["tasks"]["retrieval-project"]["lang"] == "en"
    assert scores["sts-ko"]["metric"] == "cosine_spearman" and scores["sts-ko"]["n"] == 40
    assert scores["classification-en"]["n"] == 40  # 40 test items, spread over subjects
    for task, score in scores.items():
        assert -1.0 <= score["main_score"] <= 1.0, task
        assert score["seconds"] >= 0
    with pytest.raises(ConfigError, match="--limit"):
        embed_bench(["hashing"], ["sts"], limit=0)


def test_packaged_files_match_the_readme_checksums() -> None:
    import hashlib
    import re

    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| (\S+\.jsonl) \| \d+ \| \d+ \| `([0-9a-f]{64})` \|$", readme, re.MULTILINE))
    files = sorted(p.name for p in DATA_DIR.glob("*.jsonl"))
    assert sorted(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest() == digest, name


def test_cli_writes_the_json(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from llmpilot.models.cli_embed_bench import embedders_bench_command

    app = typer.Typer()
    app.command()(embedders_bench_command)
    out = tmp_path / "out" / "embed.json"
    args = ["--embedders", "hashing", "--tasks", "sts-en,clustering-ko", "--limit", "12", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert set(written["embedders"]["hashing"]) == {"sts-en", "clustering-ko"}
    assert written["tasks"]["clustering-ko"]["lang"] == "ko"
    assert "sts-en" in result.output
