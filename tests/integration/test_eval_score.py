"""`eval score` on real data: the first 10 autorag-ko queries, scored with their own reference
answers (every metric ~1) and with answers shuffled between queries (every metric much lower)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmpilot.evaluation import cli_answers
from llmpilot.evaluation.datasets import RetrievalDataset, load_dataset
from llmpilot.evaluation.scoring import TEXT_METRICS, Prediction, score_predictions

AUTORAG_KO = Path(__file__).resolve().parents[3] / "shared" / "data" / "autorag-ko"
FAST = ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "meteor", "bleu_corpus", "chrf_corpus")

needs_data = pytest.mark.skipif(not (AUTORAG_KO / "queries.jsonl").exists(), reason="shared data not present")


@pytest.fixture(scope="module")
def autorag() -> RetrievalDataset:
    return load_dataset(AUTORAG_KO, include_unjudged=True)


def first_ten(ds: RetrievalDataset) -> tuple[list[Prediction], list[Prediction]]:
    queries = [q for q in ds.queries if q.answers][:10]
    same = [Prediction(q.id, q.answers[0]) for q in queries]
    # Each query gets the next query's reference: a derangement, so no answer is right.
    shuffled = [Prediction(q.id, queries[(i + 1) % 10].answers[0]) for i, q in enumerate(queries)]
    return same, shuffled


@needs_data
def test_references_score_one_and_shuffled_answers_score_much_lower(autorag: RetrievalDataset) -> None:
    same, shuffled = first_ten(autorag)
    good = score_predictions(autorag, same, metrics=FAST)
    bad = score_predictions(autorag, shuffled, metrics=FAST)
    assert good["n_queries"] == bad["n_queries"] == 10
    assert len(good["missing"]["no_prediction"]) == len([q for q in autorag.queries if q.answers]) - 10
    for name in FAST:
        assert good["metrics"][name] == pytest.approx(1.0, abs=1e-3), name
        assert bad["metrics"][name] < 0.4, name  # measured: 0.04 (BLEU, corpus BLEU) to 0.26 (ROUGE-1)
        # Ten different wrong answers vary: the CI has width, and it excludes the perfect score.
        assert bad["metrics"][f"{name}_ci_low"] < bad["metrics"][name] < bad["metrics"][f"{name}_ci_high"] < 1
    assert {row["query_id"] for row in bad["per_query"]} == {p.query_id for p in shuffled}
    # Corpus BLEU pools n-gram counts: not the mean of the sentence scores.
    assert bad["metrics"]["bleu_corpus"] != pytest.approx(bad["metrics"]["bleu"], abs=1e-3)


@needs_data
@pytest.mark.slow
def test_token_scores_separate_right_from_shuffled_korean_answers(autorag: RetrievalDataset) -> None:
    same, shuffled = first_ten(autorag)
    metrics = ("bertscore_f1", "moverscore")
    good = score_predictions(autorag, same, metrics=metrics)["metrics"]
    bad = score_predictions(autorag, shuffled, metrics=metrics)["metrics"]
    for name in metrics:
        assert good[name] == pytest.approx(1.0, abs=1e-6)
        # MiniLM is English-centric: on Korean the gap is real but narrow (measured 0.72 and 0.65).
        assert bad[f"{name}_ci_high"] < 0.9
    idf = score_predictions(autorag, shuffled, metrics=("bertscore_f1",), bertscore_idf=True)
    assert idf["options"] == {"bertscore_idf": True, "moverscore_idf": True}
    assert idf["metrics"]["bertscore_f1"] != pytest.approx(bad["bertscore_f1"], abs=1e-4)


def write_dataset(folder: Path) -> Path:
    folder.mkdir()
    rows: dict[str, list[dict[str, object]]] = {
        "corpus": [{"id": "d1", "text": "배터리 보증 기간은 10년"}, {"id": "d2", "text": "Support hours"}],
        "queries": [
            {"id": "q1", "text": "보증 기간은?", "answers": ["배터리 보증 기간은 10년입니다", "10년"]},
            {"id": "q2", "text": "When is support open?", "answers": ["From nine to six on weekdays."]},
        ],
        "qrels": [{"query_id": "q1", "doc_id": "d1"}, {"query_id": "q2", "doc_id": "d2"}],
    }
    for name, items in rows.items():
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), encoding="utf-8"
        )
    return folder


def test_score_command_registered_on_any_typer_app(tmp_path: Path) -> None:
    app = typer.Typer()
    cli_answers.register(app)

    @app.callback()
    def main() -> None:  # a callback keeps `score` a named subcommand
        pass

    data = write_dataset(tmp_path / "ds")
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"query_id": "q1", "answer": "10년"}\n'  # exact match with the second reference
        '{"query_id": "q2", "answer": "Support opens at nine on weekdays."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out" / "scores.json"
    args = ["score", "--dataset", str(data), "--predictions", str(preds), "--json", str(out)]
    args += ["--workdir", str(tmp_path / "w"), "--metrics", "bleu,chrf,rouge1,rougeL"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rouge1" in result.output and "95% CI" in result.output
    scores = json.loads(out.read_text(encoding="utf-8"))
    assert set(scores["metrics"]) == {
        f"{m}{s}" for m in ("bleu", "chrf", "rouge1", "rougeL") for s in ("", "_ci_low", "_ci_high")
    }
    q1, q2 = scores["per_query"]
    assert (
        q1["query_id"] == "q1" and q1["rouge1"] == 1.0 and q1["bleu"] == pytest.approx(1.0)
    )  # best reference
    # q2: "nine, on, weekdays" shared, 6 words each side (case and punctuation dropped) -> F1 0.5.
    assert q2["rouge1"] == pytest.approx(0.5)
    # sacrebleu's sentence BLEU of an exact match can come back as 1.0000000000000004.
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in scores["metrics"].values())

    bad = CliRunner().invoke(app, [*args[:-1], "bleu,nonsense"])
    assert bad.exit_code != 0 and "nonsense" in bad.output
    assert set(TEXT_METRICS) >= {"bleu", "chrf", "rouge1", "rouge2", "rougeL", "meteor"}
