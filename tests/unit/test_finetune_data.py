"""Fine-tuning data: the three row formats from JSONL and CSV, every bad row named with its line,
examples from eval datasets (and `eval synth` output) and served-app corrections, the leak-free
seeded split, and the data-quality report's checks."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from llmpilot.config import parse_config
from llmpilot.errors import DatasetError, LlmpilotError
from llmpilot.evaluation.synth import synthesize
from llmpilot.finetune.data import (
    TrainingExample,
    data_hash,
    examples_from_dataset,
    examples_from_feedback,
    load_training_file,
    split_examples,
    write_jsonl,
)
from llmpilot.finetune.quality import garbled_reason, quality_report, render_quality
from llmpilot.store.db import Store
from llmpilot.store.serving import ServingStore, TraceRecord
from llmpilot.types import Document


def jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
        encoding="utf-8",
    )
    return path


def chat(source: str, question: str, answer: str, system: str | None = None) -> TrainingExample:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return TrainingExample(source, tuple(messages))


# --- formats -----------------------------------------------------------------------------------


def test_each_format_from_jsonl(tmp_path: Path) -> None:
    f = jsonl(
        tmp_path / "train.jsonl",
        [
            {"instruction": "Translate to Korean.", "input": "Good morning", "output": "좋은 아침입니다"},
            {"instruction": "Name a prime.", "input": "", "output": "7", "system": "Answer briefly."},
            "",  # blank lines are skipped but still counted
            {"prompt": "2+2?", "completion": 4},
            {
                "messages": [
                    {"role": "system", "content": "You are kind."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "환불 기간은?"},
                    {"role": "assistant", "content": [{"type": "text", "text": "30일입니다."}]},
                ]
            },
        ],
    )
    a, b, c, d = load_training_file(f)
    assert a.source == f"{f}:1" and a.prompt_messages == [
        {"role": "user", "content": "Translate to Korean.\n\nGood morning"}
    ]
    assert a.answer == "좋은 아침입니다"
    assert b.messages[0] == {"role": "system", "content": "Answer briefly."}
    assert b.prompt_messages[-1]["content"] == "Name a prime."  # an empty input adds nothing
    assert c.source == f"{f}:4" and c.prompt_messages == [{"role": "user", "content": "2+2?"}]
    assert c.answer == "4"
    assert d.source == f"{f}:5" and d.answer == "30일입니다." and len(d.prompt_messages) == 4
    assert [m["role"] for m in d.messages] == ["system", "user", "assistant", "user", "assistant"]


def test_each_format_from_csv_with_line_numbers(tmp_path: Path) -> None:
    alpaca = tmp_path / "alpaca.csv"
    alpaca.write_text(
        'instruction,input,output\nSummarize,"A long,\nlong text",Short\nSay hi,,Hi\n', encoding="utf-8"
    )
    first, second = load_training_file(alpaca)
    assert first.source == f"{alpaca}:3"  # the quoted field spans lines 2-3: a record's line is its end
    assert (
        first.prompt_messages[0]["content"] == "Summarize\n\nA long,\nlong text" and first.answer == "Short"
    )
    assert second.source == f"{alpaca}:4" and second.prompt_messages[0]["content"] == "Say hi"

    pc = tmp_path / "pc.csv"
    pc.write_text("prompt,completion\n보증 기간은?,10년\n", encoding="utf-8")
    (only,) = load_training_file(pc)
    assert only.messages == (
        {"role": "user", "content": "보증 기간은?"},
        {"role": "assistant", "content": "10년"},
    )

    messages = [{"role": "user", "content": 'Say "yes"'}, {"role": "assistant", "content": "yes"}]
    chat_csv = tmp_path / "chat.csv"
    cell = json.dumps(messages).replace('"', '""')
    chat_csv.write_text(f'messages\n"{cell}"\n', encoding="utf-8")
    (row,) = load_training_file(chat_csv)
    assert list(row.messages) == messages


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8" export and Windows Notepad start the file with one.
    csv_file = tmp_path / "excel.csv"
    csv_file.write_text("instruction,output\n요약하세요,요약\n", encoding="utf-8-sig")
    assert load_training_file(csv_file)[0].answer == "요약"
    jsonl_file = tmp_path / "notepad.jsonl"
    jsonl_file.write_text('{"prompt": "q", "completion": "a"}\n', encoding="utf-8-sig")
    assert load_training_file(jsonl_file)[0].answer == "a"


def test_three_bad_rows_of_different_kinds_are_named_in_one_error(tmp_path: Path) -> None:
    f = jsonl(
        tmp_path / "bad.jsonl",
        [
            {"prompt": "ok?", "completion": "ok"},
            "{not json",
            {"instruction": "Do it.", "output": ""},
            {"prompt": "fine", "completion": "fine"},
            {"messages": [{"role": "user", "content": "Hi"}]},
        ],
    )
    with pytest.raises(DatasetError) as err:
        load_training_file(f)
    text = str(err.value)
    assert "3 bad row(s) of 5" in text
    assert f"{f}:2: not valid JSON" in text
    assert f"{f}:3: field 'output' is empty" in text
    assert f"{f}:5: the last message (messages[0]) is 'user'" in text
    assert f"{f}:1:" not in text and f"{f}:4:" not in text


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"messages": [{"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}]}, ".role is"),
        ({"messages": [{"role": "assistant", "content": "only"}]}, "no user message"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "system", "content": "b"},
                    {"role": "assistant", "content": "c"},
                ]
            },
            "put the system message first",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": None}]},
            "tool calls",
        ),
        ({"messages": []}, "non-empty list"),
        ({"prompt": "q", "completion": ["a"]}, "field 'completion' is list"),
        ({"completion": "a"}, "field 'prompt' is missing"),
        ({"question": "q", "answer": "a"}, "no known fields (has 'question', 'answer')"),
        ({"conversations": [{"from": "human", "value": "hi"}]}, "ShareGPT"),
        (["a", "b"], "expected a JSON object, got list"),
    ],
)
def test_each_kind_of_bad_row_says_what_to_do(tmp_path: Path, row: object, message: str) -> None:
    f = jsonl(tmp_path / "bad.jsonl", [{"prompt": "q", "completion": "a"}, row])
    with pytest.raises(DatasetError, match="bad row") as err:
        load_training_file(f)
    assert f"{f}:2: " in str(err.value) and message in str(err.value)


def test_many_bad_rows_are_counted_past_the_first_twenty(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "bad.jsonl", [{"prompt": f"q{i}"} for i in range(25)])
    with pytest.raises(DatasetError) as err:
        load_training_file(f)
    text = str(err.value)
    assert f"{f}:20:" in text and f"{f}:21:" not in text and "... and 5 more" in text


def test_csv_problems_name_the_line(tmp_path: Path) -> None:
    wrong_header = tmp_path / "h.csv"
    wrong_header.write_text("question,answer\nq,a\n", encoding="utf-8")
    with pytest.raises(
        DatasetError, match=r"h\.csv:1: the header has no known column \(has question, answer\)"
    ):
        load_training_file(wrong_header)
    rows = tmp_path / "rows.csv"
    rows.write_text('prompt,completion\nq,a\n,\nx,y,z\nq2,\nm,"[oops"\n', encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        load_training_file(rows)
    text = str(err.value)
    assert f"{rows}:3: an empty row" in text
    assert f"{rows}:4: more fields than the header" in text
    assert f"{rows}:5: field 'completion' is empty" in text
    chat_csv = tmp_path / "chat.csv"
    chat_csv.write_text('messages\n"[oops"\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"chat\.csv:2: column 'messages' is not valid JSON"):
        load_training_file(chat_csv)


def test_unreadable_or_empty_files_are_named(tmp_path: Path) -> None:
    korean_cp949 = tmp_path / "cp949.csv"
    korean_cp949.write_bytes("prompt,completion\nq,a\n환불,30일\n".encode("cp949"))
    with pytest.raises(DatasetError, match=r"cp949\.csv:3: not UTF-8 \(byte 0x[0-9a-f]{2}\); re-save"):
        load_training_file(korean_cp949)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"prompt": "caf\xe9", "completion": "x"}\n')
    with pytest.raises(DatasetError, match=r"latin\.jsonl:1: not UTF-8"):
        load_training_file(latin)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"empty\.jsonl: no training rows"):
        load_training_file(empty)
    with pytest.raises(DatasetError, match="no such file"):
        load_training_file(tmp_path / "missing.jsonl")
    array = tmp_path / "data.json"
    array.write_text(json.dumps([{"prompt": "q", "completion": "a"}], indent=2), encoding="utf-8")
    with pytest.raises(DatasetError, match="a JSON array, not JSON Lines"):
        load_training_file(array)


def test_write_jsonl_round_trips_and_hash_is_order_sensitive(tmp_path: Path) -> None:
    examples = [
        chat("a:1", "환불 기간은?\n(영수증 있음)", "30일입니다.", system="Be brief."),
        chat("a:2", 'Quote "this"', "“this”\u2028done"),
    ]
    out = tmp_path / "sub" / "train.jsonl"
    write_jsonl(examples, out)
    back = load_training_file(out)
    assert [e.messages for e in back] == [e.messages for e in examples]
    assert data_hash(back) == data_hash(examples)  # the source is not part of the data
    assert data_hash(examples[::-1]) != data_hash(examples)
    assert data_hash([chat("x", "q", "a.")]) != data_hash([chat("x", "q", "a")])
    assert len(data_hash(examples)) == 64


# --- llmpilot sources --------------------------------------------------------------------------


class ScriptedGenerator:
    model_id = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        return self.replies.pop(0)

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


def test_examples_from_an_eval_synth_folder(tmp_path: Path) -> None:
    docs = [
        Document(id="ko", text="솔박스 10의 보증 기간은 설치일로부터 10년입니다."),
        Document(id="en", text="Phone support is open from 10:00 to 14:00 on Saturdays."),
    ]
    replies = [
        '{"question": "보증 기간은?", "answer": "10년"}',
        '{"question": "When is phone support open on Saturdays?", "answer": "10:00 to 14:00"}',
    ]
    out = tmp_path / "synth"
    report = synthesize(docs, parse_config({}), ScriptedGenerator(replies), out, n=2, seed=0)
    assert report.written == 2
    # A hand-added query without answers is skipped, not an error.
    with (out / "queries.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "manual", "text": "Unanswered?"}) + "\n")
    examples = examples_from_dataset(out)
    assert sorted((e.prompt_messages[0]["content"], e.answer) for e in examples) == [
        ("When is phone support open on Saturdays?", "10:00 to 14:00"),
        ("보증 기간은?", "10년"),
    ]
    assert {e.source for e in examples} == {"dataset:synth-1", "dataset:synth-2"}


def test_a_dataset_without_answers_is_an_error(tmp_path: Path) -> None:
    jsonl(tmp_path / "corpus.jsonl", [{"id": "d1", "text": "t"}])
    jsonl(
        tmp_path / "queries.jsonl", [{"id": "q1", "text": "q", "answers": [" "]}, {"id": "q2", "text": "r"}]
    )
    jsonl(tmp_path / "qrels.jsonl", [{"query_id": "q1", "doc_id": "d1"}])
    with pytest.raises(DatasetError, match="the dataset has no reference answers"):
        examples_from_dataset(tmp_path)


def trace(tenant: str, question: str) -> TraceRecord:
    return TraceRecord(
        tenant=tenant,
        collection="c",
        question=question,
        answer="a wrong answer",
        abstained=False,
        reason="",
        confidence=0.5,
        citations=[],
        sources=[],
        latency_ms={"total": 1.0},
        details={},
        config_hash="h",
    )


def test_examples_from_feedback_corrections(tmp_path: Path) -> None:
    store = ServingStore(Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert examples_from_feedback(store) == []
    t1 = store.add_trace(trace("acme", "환불 기간은?"))
    t2 = store.add_trace(trace("acme", "How long is the warranty?"))
    t3 = store.add_trace(trace("other", "Secret question?"))
    store.add_feedback("acme", t1, "thumbs_down")
    store.add_feedback("acme", t1, "correction", correction="14일입니다.")
    revised = store.add_feedback("acme", t1, "correction", correction="30일입니다.")
    store.add_feedback("acme", t2, "comment", comment="too long", correction="   ")
    store.add_feedback("other", t3, "correction", correction="Other tenant's answer.")
    acme = examples_from_feedback(store, tenant="acme")
    assert [(e.source, e.prompt_messages[0]["content"], e.answer) for e in acme] == [
        (f"feedback:{revised}", "환불 기간은?", "30일입니다.")
    ]
    everyone = examples_from_feedback(store.store)  # a plain Store works too
    assert [e.answer for e in everyone] == ["30일입니다.", "Other tenant's answer."]


# --- split -------------------------------------------------------------------------------------


def numbered(n: int) -> list[TrainingExample]:
    return [chat(f"f:{i}", f"Question number {i}?", f"Answer {i}.") for i in range(n)]


def test_split_is_seeded_deterministic_and_order_independent() -> None:
    examples = numbered(50)
    train, val = split_examples(examples, val_fraction=0.2, seed=3)
    assert len(val) == 10 and len(train) == 40
    assert split_examples(examples, val_fraction=0.2, seed=3) == (train, val)
    _, again_val = split_examples(examples[::-1], val_fraction=0.2, seed=3)
    assert {e.source for e in again_val} == {e.source for e in val}
    assert {e.source for e in split_examples(examples, val_fraction=0.2, seed=4)[1]} != {
        e.source for e in val
    }
    assert [e.source for e in train] == sorted((e.source for e in train), key=lambda s: int(s[2:]))


def test_split_keeps_duplicates_on_one_side_and_small_sets_get_one_validation_row() -> None:
    examples = numbered(10)
    # Every row repeated, with spacing and case changes: a leak if split naively.
    examples += [chat(f"g:{i}", f"  question NUMBER {i}? ", f"Answer {i}.") for i in range(10)]
    for seed in range(20):
        train, val = split_examples(examples, val_fraction=0.25, seed=seed)
        assert len(val) == 4
        train_numbers = {e.source.split(":")[1] for e in train}
        assert not train_numbers & {e.source.split(":")[1] for e in val}
    assert split_examples(numbered(2), seed=0)[1] != []
    assert split_examples(numbered(1)) == (numbered(1), [])
    same = [chat(f"s:{i}", "Same?", "Yes.") for i in range(5)]
    assert split_examples(same) == (same, [])  # one prompt only: no leak-free split exists
    with pytest.raises(LlmpilotError, match="between 0 and 1"):
        split_examples(examples, val_fraction=1.0)


@settings(max_examples=60, deadline=None)
@given(
    prompts=st.lists(st.integers(min_value=0, max_value=12), min_size=2, max_size=40),
    fraction=st.floats(min_value=0.01, max_value=0.9),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_split_never_leaks_and_keeps_every_row(prompts: list[int], fraction: float, seed: int) -> None:
    examples = [chat(f"r:{i}", f"q{p}", f"a{i % 3}") for i, p in enumerate(prompts)]
    train, val = split_examples(examples, val_fraction=fraction, seed=seed)
    assert sorted(e.source for e in train + val) == sorted(e.source for e in examples)
    assert not {e.messages[0]["content"] for e in train} & {e.messages[0]["content"] for e in val}
    assert train
    if len(set(prompts)) >= 2:
        assert val


# --- quality report ----------------------------------------------------------------------------

TOPICS = [
    "the refund policy",
    "the warranty period",
    "password resets",
    "shipping times",
    "the battery replacement",
    "invoice downloads",
    "account deletion",
    "two-factor login",
    "the mobile app",
    "data export",
    "team invitations",
    "the support hours",
    "plan upgrades",
    "storage limits",
    "the public API",
    "email notifications",
    "printer setup",
    "the trial period",
    "gift cards",
    "the loyalty program",
]


def clean_set() -> list[TrainingExample]:
    return [
        chat(
            f"clean:{i}",
            f"Could you explain how {topic} works for customers on the basic plan?",
            f"For customers on the basic plan, {topic} works through the account page, and the help "
            f"center has a short guide that explains each of the steps in order.",
        )
        for i, topic in enumerate(TOPICS)
    ]


def test_clean_data_is_ok_without_warnings() -> None:
    report = quality_report(clean_set())
    assert report.ok and report.warnings == []
    assert report.rows == 20 and report.languages["en"] == 20
    assert report.duplicates == report.contradictions == report.outliers == []
    assert report.lengths["answer_tokens"].median > 20
    console = Console(record=True, width=120)
    render_quality(report, console)
    assert "no problems found" in console.export_text()


def test_quality_report_finds_planted_problems() -> None:
    rows = clean_set()
    rows += [
        chat(
            "dup:1",
            "Could you explain how THE REFUND POLICY works for customers on the basic plan?",
            rows[0].answer,
        ),
        chat("garbled:fffd", "What does the error code mean?", "The error \ufffd\ufffd means a timeout."),
        chat("garbled:mojibake", "Where is the café?", "The cafÃ© is next to the main entrance."),
        chat("ko:1", "환불은 며칠 안에 할 수 있나요?", "구매 후 30일 안에 영수증과 함께 환불할 수 있습니다."),
        chat("long:1", "Could you describe the full history of the company?", "The company grew. " * 80),
        chat(
            "contra:1",
            "Could you explain how the warranty period works for customers on the basic plan?",
            "The warranty period does not apply to customers on the basic plan at all.",
        ),
        chat("empty:1", "Is there anything else?", " ... "),
    ]
    report = quality_report(rows)
    assert not report.ok
    assert ["clean:0", "dup:1"] in report.duplicates
    assert {g.source for g in report.garbled} == {"garbled:fffd", "garbled:mojibake"}
    assert "mojibake 'Ã©'" in next(g.why for g in report.garbled if g.source == "garbled:mojibake")
    assert report.languages["ko"] == 1
    assert [f.source for f in report.off_language] == ["ko:1"]
    assert "Korean in a mostly English set" in report.off_language[0].why
    assert {o.source for o in report.outliers} == {"long:1", "empty:1"}
    assert ["clean:1", "contra:1"] in report.contradictions
    assert report.empty == ["empty:1"]
    joined = "\n".join(report.warnings)
    for word in ("repeat another row", "garbled", "off-language", "far longer", "different answers", "empty"):
        assert word in joined
    data = json.loads(json.dumps(report.as_dict()))
    assert data["ok"] is False and data["languages"]["ko"] == 1 and data["garbled"][0]["source"]
    console = Console(record=True, width=200)
    render_quality(report, console)
    shown = console.export_text()
    assert "warning:" in shown and "long:1" in shown and "no problems found" not in shown


def test_an_answer_in_the_other_language_is_flagged() -> None:
    rows = [*clean_set(), chat("mixed:1", "보증 기간은 얼마나 되나요?", "The warranty lasts ten years.")]
    report = quality_report(rows)
    assert [f.source for f in report.off_language] == ["mixed:1"]
    assert report.off_language[0].why == "question Korean, answer not Korean"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("plain English text", None),
        ("Café, naïve, Über, ¿Qué tal?, £5, “quotes” — and 50% off", None),
        ("환불은 30일 안에 가능합니다.", None),
        ("Total: 42", None),
        ("ì•ˆë…•í•˜ì„¸ìš”", "mojibake"),
        ("donâ€™t", "mojibake"),
        ("line\x00break", "control character U+0000"),
        ("12,345 | 67,890 | 3.14 | 2.71 | 1.41 | 0.57", "letters"),
        ("tabs\tand\r\nnewlines are fine", None),
    ],
)
def test_garbled_reason(text: str, why: str | None) -> None:
    reason = garbled_reason(text)
    assert (reason is None) if why is None else (reason is not None and why in reason)


def test_an_empty_report_is_not_ok() -> None:
    report = quality_report([])
    assert not report.ok and report.warnings == ["no rows: there is nothing to train on"]


def test_a_deliberately_bilingual_set_is_not_warned_about() -> None:
    korean = [
        chat(
            f"ko:{i}",
            f"기본 요금제 고객에게 {topic} 항목은 어떻게 적용되나요?",
            f"기본 요금제 고객은 계정 페이지에서 {topic} 항목을 확인할 수 있고, 도움말 센터의 안내서가 "
            "각 단계를 순서대로 설명합니다.",
        )
        for i, topic in enumerate(["환불", "보증", "배송", "결제", "계정", "알림", "저장 공간", "초대"])
    ]
    report = quality_report(clean_set()[:12] + korean)
    assert report.languages == {"en": 12, "ko": 8}
    assert report.off_language == [] and report.ok, report.warnings
