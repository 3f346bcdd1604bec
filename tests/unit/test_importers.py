"""Eval-set importers: every format round-trips into a dataset folder that load_dataset reads back
unchanged, and every malformed row is reported with its file and line/row."""

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from openpyxl import Workbook
from typer.testing import CliRunner

from llmpilot.errors import DatasetError, LlmpilotError
from llmpilot.evaluation.cli_import import register
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.importers import DatasetImportError, as_dataset_folder, detect_format, import_dataset
from llmpilot.evaluation.importers.table import context_id

KO_DOC = "은행법 제8조에 따라 은행업을 영위하려면 금융위원회의 인가를 받아야 한다."
EN_DOC = "Vitamin D deficiency is associated with a higher risk of fractures."
SPAN = KO_DOC.index("금융위원회")


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def problems_of(exc: pytest.ExceptionInfo[DatasetImportError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


# --- llmpilot folders ------------------------------------------------------------------------------


def llmpilot_folder(folder: Path) -> None:
    write_jsonl(
        folder / "corpus.jsonl",
        [{"id": "ko-1", "title": "은행법", "text": KO_DOC}, {"id": "en-1", "title": "", "text": EN_DOC}],
    )
    write_jsonl(
        folder / "queries.jsonl",
        [
            {"id": "q1", "text": "은행 인가는 누가 하나요?", "answers": ["금융위원회"]},
            {"id": "q2", "text": "What does vitamin D deficiency raise?"},
        ],
    )
    write_jsonl(
        folder / "qrels.jsonl",
        [
            {"query_id": "q1", "doc_id": "ko-1", "score": 1, "spans": [[SPAN, SPAN + 5]]},
            {"query_id": "q2", "doc_id": "en-1", "score": 2},
        ],
    )


def test_llmpilot_folder_round_trips_byte_for_byte(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    llmpilot_folder(src)
    report = import_dataset(src, out)
    assert report.format == "llmpilot" and (report.documents, report.queries, report.qrels) == (2, 2, 2)
    assert report.qrels_with_spans == 1 and not report.skipped
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.jsonl"):
        assert read_jsonl(out / name) == read_jsonl(src / name)
    ds = load_dataset(out)
    assert ds.qrels == {"q1": {"ko-1": 1}, "q2": {"en-1": 2}}
    assert ds.spans == {"q1": {"ko-1": [(SPAN, SPAN + 5)]}}
    assert KO_DOC[SPAN : SPAN + 5] == "금융위원회"
    assert json.loads((out / "import_report.json").read_text(encoding="utf-8"))["queries"] == 2


def test_llmpilot_folder_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    llmpilot_folder(src)
    with (src / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "ko-1", "text": "중복"}\n')  # line 3: duplicate id
        fh.write('{"id": "en-2", "text": \n')  # line 4: broken JSON
        fh.write('{"title": "no id", "text": "x"}\n')  # line 5: missing id
    with (src / "queries.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "q3", "text": "   "}\n')  # line 3: empty text
        fh.write('{"id": "q4", "text": "답이 빈 질문", "answers": [""]}\n')  # line 4: empty answer
    with (src / "qrels.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"query_id": "q1", "doc_id": "없는-문서", "score": 1}\n')  # line 3
        fh.write('{"query_id": "q2", "doc_id": "ko-1", "score": "high"}\n')  # line 4
        fh.write('{"query_id": "q1", "doc_id": "ko-1", "score": 1}\n')  # line 5: duplicate pair
        fh.write('{"query_id": "q2", "doc_id": "ko-1", "spans": [[0, 999]]}\n')  # line 6
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out")
    corpus, queries, qrels = (str(src / n) for n in ("corpus.jsonl", "queries.jsonl", "qrels.jsonl"))
    found = problems_of(exc)
    expected = [
        f"{corpus}:3: duplicate document id 'ko-1' (first at {corpus}:1)",
        f"{corpus}:4: not valid JSON",
        f"{corpus}:5: missing field 'id' (fields found: text, title)",
        f"{queries}:3: field 'text' is empty",
        f"{queries}:4: 'answers' holds an empty answer",
        f"{qrels}:3: unknown doc_id '없는-문서'",
        f"{qrels}:4: 'score' must be an integer, got 'high'",
        f"{qrels}:5: duplicate qrel for query 'q1' and doc 'ko-1'",
        f"{qrels}:6: span [0, 999] is outside document 'ko-1'",
    ]
    assert len(found) == len(expected)
    for message in expected:
        assert any(p.startswith(message) for p in found), (message, found)
    assert "--skip-invalid" in str(exc.value)
    assert not (tmp_path / "out").exists()  # nothing written

    report = import_dataset(src, tmp_path / "out", skip_invalid=True)
    assert len(report.skipped) == len(expected)
    assert (report.documents, report.queries, report.qrels) == (2, 2, 2)
    saved = json.loads((tmp_path / "out" / "import_report.json").read_text(encoding="utf-8"))
    assert len(saved["skipped"]) == len(expected)
    assert {
        "file": qrels,
        "line": 3,
        "message": "unknown doc_id '없는-문서' (not in corpus.jsonl; its ids look like 'ko-1', 'en-1')",
    } in saved["skipped"]


# --- BEIR --------------------------------------------------------------------------------------------


def beir_folder(folder: Path) -> None:
    write_jsonl(
        folder / "corpus.jsonl",
        [
            {"_id": "101", "title": "Vitamin D", "text": EN_DOC, "metadata": {}},
            {"_id": "문서-2", "title": "은행", "text": KO_DOC, "metadata": {}},
        ],
    )
    write_jsonl(
        folder / "queries.jsonl",
        [
            {"_id": "1", "text": "vitamin D and fractures", "metadata": {}},
            {"_id": "2", "text": "은행 인가 요건", "metadata": {}},
            {"_id": "3", "text": "train only claim", "metadata": {}},
        ],
    )
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n1\t101\t1\n2\t문서-2\t2\n", encoding="utf-8"
    )
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n3\t101\t1\n", encoding="utf-8")


def test_beir_folder_imports_the_test_split_by_default(tmp_path: Path) -> None:
    src, out = tmp_path / "beir", tmp_path / "out"
    beir_folder(src)
    assert detect_format(src) == "beir"
    report = import_dataset(src, out)
    assert (report.documents, report.queries, report.qrels) == (2, 2, 2)
    assert any("not judged in split 'test'" in n for n in report.notes)  # query 3 is not silently lost
    ds = load_dataset(out)
    assert [q.id for q in ds.queries] == ["1", "2"]
    assert ds.qrels == {"1": {"101": 1}, "2": {"문서-2": 2}}
    assert {d.id: d.title for d in ds.corpus} == {"101": "Vitamin D", "문서-2": "은행"}

    report = import_dataset(src, tmp_path / "train", split="train")
    assert load_dataset(tmp_path / "train").qrels == {"3": {"101": 1}}
    with pytest.raises(DatasetImportError, match=r"no qrels for split 'dev' \(splits found: test, train\)"):
        import_dataset(src, tmp_path / "dev", split="dev")


def test_beir_bad_qrels_lines_are_reported(tmp_path: Path) -> None:
    src = tmp_path / "beir"
    beir_folder(src)
    (src / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n1\t101\t1\n2\t문서-2\t0.5\n2\t문서-2\n9\t101\t1\n", encoding="utf-8"
    )
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out")
    tsv = str(src / "qrels" / "test.tsv")
    found = problems_of(exc)
    assert f"{tsv}:3: score '0.5' is not an integer" in found
    assert f"{tsv}:4: expected 3 tab-separated fields (query-id corpus-id score), got 2" in found
    assert f"{tsv}:5: unknown query_id '9' (not among the queries)" in found
    assert len(found) == 3


# --- AutoRAG parquet -------------------------------------------------------------------------------


def autorag_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime(2024, 3, 1, 12, 0)
    corpus = pa.table(
        {
            "doc_id": ["law-1", "law-2", "sci-1"],
            "contents": [KO_DOC, "상법은 회사에 관한 규정을 둔다.", EN_DOC],
            "metadata": [{"last_modified_datetime": stamp, "path": "법령.pdf"}] * 3,
        }
    )
    qa = pa.table(
        {
            "qid": ["k1", "e1", "k2"],
            "query": ["은행 인가 기관은?", "What raises fracture risk?", "회사와 은행 규정은?"],
            "retrieval_gt": [[["law-1"]], [["sci-1"]], [["law-1", "law-2"], ["law-2"]]],
            "generation_gt": [["금융위원회"], ["vitamin D deficiency"], ["은행법과 상법"]],
        }
    )
    pq.write_table(corpus, folder / "corpus.parquet")
    pq.write_table(qa, folder / "qa.parquet")


def test_autorag_parquet_round_trip(tmp_path: Path) -> None:
    src, out = tmp_path / "autorag", tmp_path / "out"
    autorag_folder(src)
    report = import_dataset(src, out)
    assert report.format == "autorag"
    assert (report.documents, report.queries, report.qrels) == (3, 3, 4)
    assert any("flattened" in n for n in report.notes)
    ds = load_dataset(out)
    assert ds.qrels == {"k1": {"law-1": 1}, "e1": {"sci-1": 1}, "k2": {"law-1": 1, "law-2": 1}}
    assert [q.answers for q in ds.queries] == [["금융위원회"], ["vitamin D deficiency"], ["은행법과 상법"]]
    assert ds.corpus[0].text == KO_DOC
    assert read_jsonl(out / "corpus.jsonl")[0]["metadata"] == {
        "last_modified_datetime": "2024-03-01T12:00:00",
        "path": "법령.pdf",
    }
    # A qa file given directly, with its corpus beside it or named with --corpus.
    assert import_dataset(src / "qa.parquet", tmp_path / "out2").queries == 3
    (src / "qa.parquet").rename(src / "qa_v4.parquet")
    (src / "corpus.parquet").rename(src / "ocr_corpus_v3.parquet")
    report = import_dataset(src / "qa_v4.parquet", tmp_path / "out3", corpus=src / "ocr_corpus_v3.parquet")
    assert (report.documents, report.qrels) == (3, 4)


def test_autorag_bad_schema_names_the_file_and_columns(tmp_path: Path) -> None:
    src = tmp_path / "autorag"
    autorag_folder(src)
    pq.write_table(pa.table({"doc_id": ["a"], "text": ["본문"]}), src / "corpus.parquet")
    pq.write_table(
        pa.table({"qid": ["q"], "query": [1], "retrieval_gt": [["a"]], "generation_gt": [["x"]]}),
        src / "qa.parquet",
    )
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out", skip_invalid=True)
    found = problems_of(exc)
    assert found == [
        f"{src / 'corpus.parquet'}: missing column 'contents' (columns found: doc_id, text; "
        "AutoRAG needs doc_id, contents)",
        f"{src / 'qa.parquet'}: column 'query' has type int64, expected str",
    ]
    (src / "qa.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DatasetImportError, match=r"qa.parquet: not a readable parquet file"):
        import_dataset(src, tmp_path / "out")


def test_autorag_bad_rows_are_reported_by_row(tmp_path: Path) -> None:
    src = tmp_path / "autorag"
    autorag_folder(src)
    qa = pa.table(
        {
            "qid": ["k1", "k2", "k3", "k1"],
            "query": ["은행 인가 기관은?", "", "없는 문서?", "중복 질문"],
            "retrieval_gt": [[["law-1"]], [["law-2"]], [["law-1"], ["ghost-9"]], [["law-2"]]],
            "generation_gt": [["금융위원회"], ["상법"], ["x"], ["y"]],
        }
    )
    pq.write_table(qa, src / "qa.parquet")
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out")
    qa_file = str(src / "qa.parquet")
    found = problems_of(exc)
    assert f"{qa_file} row 2: query is empty" in found
    assert any(
        p.startswith(f"{qa_file} row 3: unknown doc_id 'ghost-9' (not in corpus.parquet") for p in found
    )
    assert f"{qa_file} row 4: duplicate query id 'k1' (first at {qa_file} row 1)" in found
    report = import_dataset(src, tmp_path / "out", skip_invalid=True)
    # row 3 is dropped whole: never a query with only part of its ground truth
    assert load_dataset(tmp_path / "out").qrels == {"k1": {"law-1": 1}}
    assert report.queries == 1 and len(report.skipped) == 3


# --- CSV / XLSX -------------------------------------------------------------------------------------


def test_csv_with_context_builds_a_deduplicated_corpus(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    write_csv(
        src,
        [
            ["question", "answer", "context"],
            ["은행 인가는 누가 하나요?", "금융위원회", KO_DOC],
            ["What raises fracture risk?", "Vitamin D deficiency", EN_DOC],
            ["은행업 인가 근거 조항은?", "은행법 제8조", KO_DOC],
        ],
    )
    report = import_dataset(src, tmp_path / "out")
    assert report.format == "csv" and report.encodings == {str(src): "utf-8"}
    assert (report.documents, report.queries, report.qrels) == (2, 3, 3)
    ds = load_dataset(tmp_path / "out")
    ko_id = context_id(KO_DOC)
    assert {d.id: d.text for d in ds.corpus} == {ko_id: KO_DOC, context_id(EN_DOC): EN_DOC}
    assert [q.id for q in ds.queries] == ["q2", "q3", "q4"]  # ids name the source line
    assert ds.qrels["q2"] == ds.qrels["q4"] == {ko_id: 1}
    assert ds.queries[0].answers == ["금융위원회"]
    # stable ids: the same contexts in another order give the same document ids
    write_csv(src, [["question", "answer", "context"], ["q", "a", EN_DOC], ["q2", "a", KO_DOC]])
    import_dataset(src, tmp_path / "again")
    assert {d.id for d in load_dataset(tmp_path / "again").corpus} == {d.id for d in ds.corpus}


def test_cp949_csv_from_korean_excel(tmp_path: Path) -> None:
    src = tmp_path / "엑셀.csv"
    write_csv(src, [["질문", "정답", "문맥"], ["인가 기관은?", "금융위원회", KO_DOC]], encoding="cp949")
    report = import_dataset(src, tmp_path / "out")
    assert report.encodings == {str(src): "cp949"}
    ds = load_dataset(tmp_path / "out")
    assert ds.queries[0].text == "인가 기관은?" and ds.corpus[0].text == KO_DOC
    # UTF-8 with a BOM (Excel's "CSV UTF-8") is read as such, header included.
    src.write_bytes(b"\xef\xbb\xbf" + "question,answer\n인가 기관은?,금융위원회\n".encode())
    assert import_dataset(src, tmp_path / "bom").encodings == {str(src): "utf-8-sig"}


def test_broken_encoding_names_the_line(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    src.write_bytes(b"question,answer\nfine,ok\ncaf\xe9,latin-1\n")
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out", skip_invalid=True)
    assert problems_of(exc) == [
        f"{src}:3: broken encoding: byte 0xe9 is not UTF-8 (tried UTF-8, UTF-8 with BOM and cp949); "
        "re-save the file as UTF-8"
    ]
    assert exc.value.fatal


def test_csv_missing_columns_list_the_columns_found(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    write_csv(src, [["질문", "설명"], ["인가 기관은?", "x"]])
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out")
    assert problems_of(exc) == [
        f"{src}: missing column 'answer' (columns found: '질문', '설명'; expected "
        "question,answer[,context|doc_id]; 질문/정답/문맥 also work)"
    ]


def test_csv_bad_rows_with_multiline_cells_keep_their_line_numbers(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    write_csv(
        src,
        [
            ["question", "answer", "context"],
            ["여러 줄\n문맥 질문", "답", "첫 줄\n둘째 줄"],  # lines 2-4
            ["빈 답 질문", "  ", KO_DOC],  # line 5
            ["", "답", KO_DOC],  # line 6
            ["문맥 없는 질문", "답", ""],  # line 7
            ["Fine question", "fine", EN_DOC],  # line 8
        ],
    )
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out")
    assert problems_of(exc) == [
        f"{src}:5: empty 'answer'",
        f"{src}:6: empty 'question'",
        f"{src}:7: empty 'context' (give the passage the answer comes from)",
    ]
    report = import_dataset(src, tmp_path / "out", skip_invalid=True)
    assert [str(p) for p in report.skipped] == problems_of(exc)
    assert [q.id for q in load_dataset(tmp_path / "out").queries] == ["q2", "q8"]


def docs_folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / "법령").mkdir(parents=True)
    (docs / "법령" / "은행법.txt").write_text(KO_DOC + "\n\n부칙은 생략한다.", encoding="utf-8")
    (docs / "vitamin.md").write_text("# Vitamin D\n\n" + EN_DOC, encoding="utf-8")
    return docs


def test_csv_doc_ids_must_match_a_corpus_folder(tmp_path: Path) -> None:
    docs = docs_folder(tmp_path)
    src = tmp_path / "qa.csv"
    write_csv(
        src,
        [
            ["question", "answer", "doc_id"],
            ["인가 기관은?", "금융위원회", "docs/법령/은행법.txt"],
            ["Fracture risk?", "vitamin D deficiency", "vitamin.md"],  # without the folder name
            ["없는 문서 질문", "답", "docs/none.txt"],
        ],
    )
    with pytest.raises(DatasetImportError, match=r"column 'doc_id' names documents: give them with --corpus"):
        import_dataset(src, tmp_path / "out")
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out", corpus=docs)
    assert problems_of(exc) == [
        f"{src}:4: unknown doc_id 'docs/none.txt' (not in --corpus; its ids look like "
        "'docs/vitamin.md', 'docs/법령/은행법.txt')"
    ]
    import_dataset(src, tmp_path / "out", corpus=docs, skip_invalid=True)
    ds = load_dataset(tmp_path / "out")
    assert ds.qrels == {"q2": {"docs/법령/은행법.txt": 1}, "q3": {"docs/vitamin.md": 1}}
    assert len(ds.corpus) == 2


def test_csv_contexts_are_located_in_the_corpus_with_spans(tmp_path: Path) -> None:
    docs = docs_folder(tmp_path)
    src = tmp_path / "qa.csv"
    loose = "금융위원회의   인가를\n받아야 한다."  # whitespace differs from the document
    write_csv(
        src,
        [
            ["question", "answer", "context"],
            ["인가 기관은?", "금융위원회", "금융위원회의 인가"],
            ["Fracture risk?", "vitamin D deficiency", "higher risk of fractures"],
            ["줄바꿈 문맥?", "인가", loose],  # lines 4-5
            ["없는 문맥?", "답", "이 문장은 어디에도 없다"],  # line 6
        ],
    )
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out", corpus=docs)
    assert problems_of(exc) == [
        f"{src}:6: context not found in any document of --corpus: '이 문장은 어디에도 없다'"
    ]
    report = import_dataset(src, tmp_path / "out", corpus=docs, skip_invalid=True)
    assert report.qrels_with_spans == 3
    ds = load_dataset(tmp_path / "out")
    texts = {d.id: d.text for d in ds.corpus}
    for qid, needle in (("q2", "금융위원회의 인가"), ("q3", "higher risk of fractures")):
        ((doc_id, spans),) = ds.spans[qid].items()
        assert [texts[doc_id][s:e] for s, e in spans] == [needle]
    ((doc_id, spans),) = ds.spans["q4"].items()
    assert texts[doc_id][spans[0][0] : spans[0][1]] == "금융위원회의 인가를 받아야 한다."


def test_corpus_jsonl_and_doc_id_with_context_spans(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(corpus, [{"id": "d1", "title": "", "text": KO_DOC}, {"id": "d2", "text": EN_DOC}])
    src = tmp_path / "qa.csv"
    write_csv(
        src,
        [
            ["id", "question", "answer", "doc_id", "context"],
            ["k-1", "인가 기관은?", "금융위원회", "d1", "금융위원회"],
            ["e-1", "Risk?", "fractures", "d2;d1", "fractures"],
        ],
    )
    report = import_dataset(src, tmp_path / "out", corpus=corpus)
    ds = load_dataset(tmp_path / "out")
    assert ds.qrels == {"k-1": {"d1": 1}, "e-1": {"d2": 1, "d1": 1}}
    assert ds.spans["k-1"]["d1"] == [(KO_DOC.index("금융위원회"), KO_DOC.index("금융위원회") + 5)]
    assert "d1" not in ds.spans["e-1"]
    assert [str(w) for w in report.warnings] == [
        f"{src}:3: context not found in document 'd1'; qrel kept without spans"
    ]


def test_duplicate_query_ids_and_merged_questions(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    write_csv(
        src,
        [
            ["id", "question", "answer", "context"],
            ["a", "인가 기관은?", "금융위원회", KO_DOC],
            ["a", "인가 기관은?", "금융위", EN_DOC],  # same id and question: merged
            ["a", "다른 질문", "답", KO_DOC],  # same id, other question: duplicate
        ],
    )
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out")
    assert problems_of(exc) == [f"{src}:4: duplicate query id 'a' (first at {src}:2)"]
    report = import_dataset(src, tmp_path / "out", skip_invalid=True)
    assert any("merged" in n for n in report.notes)
    ds = load_dataset(tmp_path / "out")
    assert ds.queries[0].answers == ["금융위원회", "금융위"]
    assert set(ds.qrels["a"]) == {context_id(KO_DOC), context_id(EN_DOC)}


def test_qa_only_csv_is_valid_for_generation_metrics(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    write_csv(src, [["Question", "Answer"], ["인가 기관은?", "금융위원회"], ["Fracture risk?", "vitamin D"]])
    report = import_dataset(src, tmp_path / "out")
    assert report.qa_only and report.documents == 0 and report.queries == 2
    assert any("QA-only" in n for n in report.notes)
    assert load_dataset(tmp_path / "out").queries == []  # retrieval evaluation: nothing judged
    ds = load_dataset(tmp_path / "out", include_unjudged=True)
    assert [(q.text, q.answers) for q in ds.queries] == [
        ("인가 기관은?", ["금융위원회"]),
        ("Fracture risk?", ["vitamin D"]),
    ]


def test_xlsx_rows_are_numbered_like_the_spreadsheet(tmp_path: Path) -> None:
    src = tmp_path / "평가셋.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["질문", "정답", "문맥"])
    sheet.append(["인가 기관은?", "금융위원회", KO_DOC])
    sheet.append([None, None, None])  # an empty row is not a problem
    sheet.append(["답이 없는 질문", None, KO_DOC])
    sheet.append(["Numbers?", 42, EN_DOC])
    book.save(src)
    with pytest.raises(DatasetImportError) as exc:
        import_dataset(src, tmp_path / "out")
    assert problems_of(exc) == [f"{src} row 4: empty '정답'"]
    report = import_dataset(src, tmp_path / "out", skip_invalid=True)
    assert report.format == "xlsx" and report.queries == 2
    ds = load_dataset(tmp_path / "out")
    assert [(q.id, q.answers) for q in ds.queries] == [("q2", ["금융위원회"]), ("q5", ["42"])]
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DatasetImportError, match=r"broken.xlsx: not a readable .xlsx workbook"):
        import_dataset(tmp_path / "broken.xlsx", tmp_path / "out2")


def test_format_detection_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"cannot tell the dataset format \(found: notes.txt\)"):
        detect_format(tmp_path)
    with pytest.raises(DatasetError, match="no such file or folder"):
        import_dataset(tmp_path / "missing", tmp_path / "out")
    llmpilot_folder(tmp_path / "ds")
    with pytest.raises(DatasetError, match="--split picks a BEIR qrels file"):
        import_dataset(tmp_path / "ds", tmp_path / "out", split="dev")


def test_as_dataset_folder_imports_once_per_content(tmp_path: Path) -> None:
    llmpilot_folder(tmp_path / "ds")
    assert as_dataset_folder(tmp_path / "ds", tmp_path / "cache") == tmp_path / "ds"
    src = tmp_path / "qa.csv"
    write_csv(src, [["question", "answer", "context"], ["인가 기관은?", "금융위원회", KO_DOC]])
    first = as_dataset_folder(src, tmp_path / "cache")
    stamp = (first / "queries.jsonl").stat().st_mtime_ns
    assert as_dataset_folder(src, tmp_path / "cache") == first
    assert (first / "queries.jsonl").stat().st_mtime_ns == stamp  # not imported again
    write_csv(src, [["question", "answer", "context"], ["Fracture risk?", "vitamin D", EN_DOC]])
    second = as_dataset_folder(src, tmp_path / "cache")
    assert second != first and load_dataset(second).queries[0].text == "Fracture risk?"


# --- load_dataset spans -----------------------------------------------------------------------------


def test_load_dataset_rejects_bad_spans(tmp_path: Path) -> None:
    llmpilot_folder(tmp_path)
    write_jsonl(tmp_path / "qrels.jsonl", [{"query_id": "q1", "doc_id": "ko-1", "spans": [[3, 1]]}])
    with pytest.raises(DatasetError, match=re.escape("qrels.jsonl:1: span [3, 1] is outside the document")):
        load_dataset(tmp_path)
    write_jsonl(tmp_path / "qrels.jsonl", [{"query_id": "q1", "doc_id": "ko-1", "spans": "0-3"}])
    with pytest.raises(DatasetError, match=r"qrels\.jsonl:1: 'spans' must be a list"):
        load_dataset(tmp_path)


# --- CLI ----------------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command, so that "import" is a subcommand as under `llmpilot eval`
        pass

    return app


def test_cli_prints_a_summary(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    write_csv(
        src, [["question", "answer", "context"], ["인가 기관은?", "금융위원회", KO_DOC], ["x", "", "y"]]
    )
    result = CliRunner().invoke(cli(), ["import", str(src), "--out", str(tmp_path / "out"), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "documents" in result.output and "problems" in result.output
    assert f"skipped {src}:3: empty 'answer'" in result.output
    assert load_dataset(tmp_path / "out").queries[0].text == "인가 기관은?"


def test_cli_lists_every_problem_and_fails(tmp_path: Path) -> None:
    src = tmp_path / "qa.csv"
    write_csv(src, [["question", "answer"], ["", "a"], ["b", ""]])
    result = CliRunner().invoke(
        cli(), ["import", str(src), "--out", str(tmp_path / "out"), "--format", "csv"]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, LlmpilotError)
    assert "import failed with 2 problem(s)" in str(result.exception)
    assert "--skip-invalid" in str(result.exception)
    assert f"{src}:2: empty 'question'" in result.output and f"{src}:3: empty 'answer'" in result.output
    assert not (tmp_path / "out").exists()


# --- the shared benchmark sets, through the foreign formats and back ----------------------------------

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "autorag-ko").exists(), reason="shared data not beside the repo")
def test_autorag_ko_through_autorag_parquet_round_trips(tmp_path: Path) -> None:
    original = load_dataset(SHARED / "autorag-ko")
    src = tmp_path / "autorag"
    src.mkdir()
    pq.write_table(
        pa.table(
            {
                "doc_id": [d.id for d in original.corpus],
                "contents": [d.text for d in original.corpus],
                "metadata": [{"last_modified_datetime": datetime(2024, 1, 1)}] * len(original.corpus),
            }
        ),
        src / "corpus.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "qid": [q.id for q in original.queries],
                "query": [q.text for q in original.queries],
                "retrieval_gt": [[list(original.qrels[q.id])] for q in original.queries],
                "generation_gt": [q.answers for q in original.queries],
            }
        ),
        src / "qa.parquet",
    )
    import_dataset(src, tmp_path / "out")
    back = load_dataset(tmp_path / "out")
    assert [(d.id, d.title, d.text) for d in back.corpus] == [
        (d.id, d.title, d.text) for d in original.corpus
    ]
    assert back.queries == original.queries and back.qrels == original.qrels


@pytest.mark.skipif(not (SHARED / "scifact").exists(), reason="shared data not beside the repo")
def test_scifact_through_beir_round_trips(tmp_path: Path) -> None:
    original = load_dataset(SHARED / "scifact")
    src = tmp_path / "beir"
    write_jsonl(
        src / "corpus.jsonl", [{"_id": d.id, "title": d.title, "text": d.text} for d in original.corpus]
    )
    write_jsonl(src / "queries.jsonl", [{"_id": q.id, "text": q.text} for q in original.queries])
    (src / "qrels").mkdir()
    lines = [f"{q}\t{d}\t{s}" for q, rel in original.qrels.items() for d, s in rel.items()]
    (src / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    import_dataset(src, tmp_path / "out")
    back = load_dataset(tmp_path / "out")
    assert [(d.id, d.title, d.text) for d in back.corpus] == [
        (d.id, d.title, d.text) for d in original.corpus
    ]
    assert back.queries == original.queries and back.qrels == original.qrels
