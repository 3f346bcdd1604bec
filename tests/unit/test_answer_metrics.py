from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from typer.testing import CliRunner

from llmpilot.cli import app
from llmpilot.errors import DatasetError
from llmpilot.evaluation import answer_metrics as am
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.scoring import load_predictions, score_predictions

EN = [
    ("the cat sat on the mat", ["the cat is on the mat"]),
    ("phone support opens at ten on saturday", ["support is open from ten to two on saturday"]),
    ("completely unrelated words here", ["the warranty lasts ten years"]),
]


@pytest.mark.parametrize(("pred", "refs"), EN)
def test_english_parity_with_sacrebleu_and_rouge_score(pred: str, refs: list[str]) -> None:
    assert am.bleu(pred, refs) == pytest.approx(sacrebleu.sentence_bleu(pred, refs).score / 100)
    assert am.chrf(pred, refs) == pytest.approx(sacrebleu.sentence_chrf(pred, refs).score / 100)
    ref = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"]).score(refs[0], pred)
    ours = am.rouge(pred, refs)
    for name in ("rouge1", "rouge2", "rougeL"):
        assert ours[name] == pytest.approx(ref[name].fmeasure)


def test_korean_rouge_where_stock_rouge_score_sees_nothing() -> None:
    pred, ref = "보증 기간은 10년입니다", "배터리 보증 기간은 10년입니다"
    wrong = "설치 비용은 10만 원입니다"
    # Stock rouge-score drops Hangul: only "10" is left, so a wrong Korean answer scores a perfect 1.0.
    assert rouge_scorer.RougeScorer(["rouge1"]).score(ref, wrong)["rouge1"].fmeasure == 1.0
    assert am.rouge(wrong, [ref])["rouge1"] <= 0.5  # only particles, endings and "10" are shared
    ours = am.rouge(pred, [ref])
    assert ours["rouge1"] > 0.8 and ours["rougeL"] > 0.8
    assert am.rouge("전혀 다른 문장", [ref])["rouge1"] == 0.0
    assert am.rouge(ref, [ref]) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert am.bleu(ref, [ref]) == pytest.approx(1.0)
    assert 0.0 < am.bleu(pred, [ref]) < 1.0


def test_hand_computed_rouge_l() -> None:
    # pred a b c d, ref a c d e: LCS = 3 (a c d) -> P 3/4, R 3/4 -> F1 0.75
    assert am.rouge("a1 b1 c1 d1", ["a1 c1 d1 e1"])["rougeL"] == pytest.approx(0.75)
    # best of several references counts
    assert am.rouge("a1 b1", ["x1 y1", "a1 b1"])["rouge1"] == 1.0


def write_dataset(folder: Path) -> Path:
    folder.mkdir()
    rows = {
        "corpus": [{"id": "d1", "text": "보증 기간은 10년"}, {"id": "d2", "text": "support hours"}],
        "queries": [
            {"id": "q1", "text": "보증 기간은?", "answers": ["배터리 보증 기간은 10년입니다"]},
            {"id": "q2", "text": "When is support open?", "answers": ["from nine to six on weekdays"]},
            {"id": "q3", "text": "No reference", "answers": []},
        ],
        "qrels": [{"query_id": "q1", "doc_id": "d1"}, {"query_id": "q2", "doc_id": "d2"}],
    }
    for name, items in rows.items():
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items)
        )
    return folder


def test_score_predictions_with_cis_and_missing(tmp_path: Path) -> None:
    ds = load_dataset(write_dataset(tmp_path / "ds"), include_unjudged=True)
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"query_id": "q1", "answer": "보증 기간은 10년입니다"}\n{"query_id": "q3", "answer": "x"}\n',
        encoding="utf-8",
    )
    result = score_predictions(ds, load_predictions(preds, ds))
    assert result["n_queries"] == 1
    assert result["missing"] == {"no_reference_answer": ["q3"], "no_prediction": ["q2"]}
    m = result["metrics"]
    assert m["rouge1_ci_low"] <= m["rouge1"] <= m["rouge1_ci_high"] and m["rouge1"] > 0.8
    # Corpus scores sit next to the sentence-level means, with a CI but no per-query values.
    assert m["bleu_corpus"] == pytest.approx(
        am.corpus_bleu(["보증 기간은 10년입니다"], [["배터리 보증 기간은 10년입니다"]])
    )
    assert m["bleu_corpus_ci_low"] == m["bleu_corpus"] == m["bleu_corpus_ci_high"]  # one query
    assert 0 < m["chrf_corpus"] < 1
    assert all("bleu_corpus" not in row and "chrf_corpus" not in row for row in result["per_query"])
    assert result["options"] == {"bertscore_idf": False, "moverscore_idf": True}


def test_bad_prediction_lines_are_all_reported(tmp_path: Path) -> None:
    ds = load_dataset(write_dataset(tmp_path / "ds"), include_unjudged=True)
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"query_id": "q1", "answer": "a"}\nnot json\n{"query_id": "nope", "answer": "b"}\n'
        '{"query_id": "q1", "answer": "dup"}\n{"query_id": "q2", "answer": 3}\n',
        encoding="utf-8",
    )
    with pytest.raises(DatasetError) as err:
        load_predictions(preds, ds)
    text = str(err.value)
    for expected in (
        "p.jsonl:2: not valid JSON",
        "p.jsonl:3: unknown query_id 'nope'",
        "p.jsonl:4: duplicate",
        "p.jsonl:5: 'answer' must be a string",
    ):
        assert expected in text


def test_eval_score_cli(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "ds")
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        '{"query_id": "q1", "answer": "배터리 보증 기간은 10년입니다"}\n'
        '{"query_id": "q2", "answer": "from nine to six on weekdays"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "score",
            "--dataset",
            str(data),
            "--predictions",
            str(preds),
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "w"),
        ],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text(encoding="utf-8"))
    for name in ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "bleu_corpus", "chrf_corpus"):
        assert scores["metrics"][name] == pytest.approx(1.0)
    assert "bleu_corpus" in result.output and "chrf_corpus" in result.output


@pytest.mark.skipif(
    not am.WORDNET_DIR.exists(),
    reason="Debian wordnet-base not installed: run `bash scripts/install_debian_deps.sh` as root",
)
def test_meteor_uses_wordnet_synonyms_and_handles_korean() -> None:
    from nltk.translate.meteor_score import _enum_wordnetsyn_match

    same = am.meteor("the car is red", ["the car is red"])
    unrelated = am.meteor("the banana is blue", ["the car is red"])
    assert same > 0.9 and unrelated < same
    # Debian's WordNet is readable: "automobile" aligns with "car" through a shared synset.
    matches, _, _ = _enum_wordnetsyn_match([(0, "automobile")], [(0, "car")], wordnet=am._wordnet())
    assert matches == [(0, 0)]
    assert am.meteor("보증 기간은 10년입니다", ["보증 기간은 10년입니다"]) > 0.9
    assert am.meteor("전혀 다른 말", ["보증 기간은 10년입니다"]) == 0.0


def test_bertscore_and_moverscore_on_hand_made_embeddings() -> None:
    from llmpilot.evaluation.token_scores import bertscore_from_embeddings, moverscore_from_embeddings

    e1, e2, e3 = np.eye(3)
    pred, ref = np.stack([e1, e2]), np.stack([e1, e3])
    # precision: e1 matches e1 (1), e2 matches nothing (0) -> 0.5; recall likewise 0.5
    assert bertscore_from_embeddings(pred, ref) == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert moverscore_from_embeddings(pred, pred) == pytest.approx(1.0)
    # half the mass moves at cost 1 (orthogonal): distance 0.5 -> score 0.5
    assert moverscore_from_embeddings(pred, ref) == pytest.approx(0.5)
    assert moverscore_from_embeddings(np.zeros((0, 3)), ref) == 0.0


@pytest.mark.slow
def test_token_scores_with_the_local_minilm_encoder() -> None:
    from llmpilot.evaluation.token_scores import bertscore_f1, moverscore

    refs = [["a cat was sitting on the mat"]] * 2
    para, unrelated = bertscore_f1(["the cat sat on the mat", "bananas are yellow"], refs)
    assert para > 0.7 > unrelated
    para_m, unrelated_m = moverscore(["the cat sat on the mat", "bananas are yellow"], refs)
    assert para_m > unrelated_m
    assert bertscore_f1(["같은 문장"], [["같은 문장"]])[0] == pytest.approx(1.0)


def test_cli_metric_list_matches_the_library() -> None:
    from llmpilot.evaluation.cli_answers import TEXT_METRICS_DOC
    from llmpilot.evaluation.scoring import TEXT_METRICS

    assert TEXT_METRICS_DOC == TEXT_METRICS
