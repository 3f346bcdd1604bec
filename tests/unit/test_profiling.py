"""llmpilot.profiling: the data profile's every figure on a small hand-built corpus, boilerplate blocks
and digit-varying lines, encoding damage without false alarms on clean text, table detection, the
HTML page, and the package's sample corpus."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import llmpilot
from llmpilot.profiling import (
    DataProfile,
    find_boilerplate,
    format_of,
    min_documents,
    profile_documents,
    render_profile_html,
)
from llmpilot.profiling.boilerplate import mask_pattern
from llmpilot.profiling.profile import encoding_report, has_toc, is_table_like
from llmpilot.sources.files import discover_files
from llmpilot.types import Document

HEADER = "ACME Knowledge Base"
FOOTER = (
    "Copyright ACME Corp. All rights reserved.\n"
    "Visit the ACME help center for more.\n"
    "Confidential: internal use only."
)
EN_BODY = (
    "This guide explains how to install the device and how to connect it to the network. "
    "Read all of the steps before you start, and keep the box for the warranty."
)
KO_BODY = (
    "이 안내서는 장치를 설치하고 네트워크에 연결하는 방법을 설명합니다. 시작하기 전에 모든 단계를 읽고, "
    "보증을 위해 상자를 보관하세요. 설치 후에는 전원을 켜고 표시등이 녹색으로 바뀔 때까지 기다립니다."
)
KO_CONTACT = (
    "주문 문의는 help@acme.example 또는 02-123-4567 로 연락 주시기 바랍니다. "
    "평일 오전 아홉 시부터 오후 여섯 시까지 담당자가 친절하게 답변해 드립니다."
)
MOJIBAKE = (
    "The cafÃ© on the corner of the street is open from nine to five, and it is the best place "
    "for a coffee with the team."
)


def page(body: str, *middle: str) -> str:
    return "\n".join([HEADER, body, *middle, FOOTER])


def corpus() -> list[Document]:
    en_guide = page(EN_BODY, "Page 1 of 2", "Turn the device on.", "Page 2 of 2")
    en_contact = "Email support@acme.example or call 010-1234-5678 for help with your order."
    prices = "가격표\n| 품목 | 가격 | 재고 |\n|---|---|---|\n| 케이블 | 10 | 5 |\n| 공유기 | 50 | 2 |"
    return [
        Document("en-guide", en_guide, source="docs/en_guide.md"),
        Document("ko-guide", page(KO_BODY, "Page 1 of 3", "전원을 켜세요."), source="docs/ko_guide.txt"),
        Document("en-contact", page(en_contact), source="data/faq.csv#1"),
        # Mostly English by letters (header and footer), so detect_language calls it "en".
        Document("ko-contact", page(KO_CONTACT), source="data/faq.csv#2"),
        # Same words, other whitespace: an exact duplicate, but its last footer line now ends in
        # spaces, so the footer block (matched literally) is not in it.
        Document("en-guide-copy", en_guide.replace("\n", "\n\n", 1) + "  ", source="docs/en_guide_copy.md"),
        Document(
            "ko-guide-edit",
            page(KO_BODY.replace("녹색으로", "초록색으로"), "Page 1 of 3", "전원을 켜세요."),
            source="docs/ko_guide2.txt",
        ),
        Document("prices", prices, source="sql:products"),
        Document("mojibake", MOJIBAKE, source="docs/broken.txt"),
        Document("damaged", "Total: 50\ufffd paid\x01", source="docs/damaged.txt"),
        Document("empty", "  \n ", source="docs/empty.txt"),
        Document("short", "Note: TBD.", source="docs/short.txt"),
        Document("toc", "목차\n1. 설치\n2. 연결\n\n1. 설치\n장치를 설치합니다.", source="docs/manual.pdf#p1"),
    ]


EXPECTED = {
    "documents": 12,
    "sources": {
        "data/faq.csv": 2,
        "docs/broken.txt": 1,
        "docs/damaged.txt": 1,
        "docs/empty.txt": 1,
        "docs/en_guide.md": 1,
        "docs/en_guide_copy.md": 1,
        "docs/ko_guide.txt": 1,
        "docs/ko_guide2.txt": 1,
        "docs/manual.pdf": 1,
        "docs/short.txt": 1,
        "sql:products": 1,
    },
    "formats": {"txt": 6, "csv": 2, "md": 2, "pdf": 1, "sql": 1},
    "languages": {"en": 5, "ko": 4, "unknown": 3},
    # Stripped lengths, sorted: 0 10 16 32 68 117 206 229 265 266 334 335 (nearest-rank percentiles).
    "lengths": {
        "min": 0,
        "p25": 16,
        "median": 117,
        "p75": 265,
        "p90": 334,
        "max": 335,
        "mean": 156.5,
        "histogram": [
            {"upto": 0, "count": 1},
            {"upto": 30, "count": 2},
            {"upto": 100, "count": 2},
            {"upto": 300, "count": 5},
            {"upto": 1000, "count": 2},
        ],
    },
    "empty": ["empty"],
    "near_empty": ["damaged", "short"],
    "duplicates": {
        "exact": 1,
        "near": 1,
        "groups": [["en-guide", "en-guide-copy"], ["ko-guide", "ko-guide-edit"]],
    },
    "pii": {"email": 2, "rrn": 0, "card": 0, "phone": 2},
    "pii_documents": {"email": 2, "rrn": 0, "card": 0, "phone": 2},
    "boilerplate": [
        {
            "text": HEADER,
            "count": 6,
            "kind": "line",
            "position": "start",
            "lines": 1,
            "examples": ["en-guide", "ko-guide", "en-contact"],
        },
        {
            "text": FOOTER,
            "count": 5,
            "kind": "block",
            "position": "end",
            "lines": 3,
            "examples": ["en-guide", "ko-guide", "en-contact"],
        },
        {
            "text": "Page 1 of 2",
            "count": 4,
            "kind": "line",
            "position": "start",
            "lines": 1,
            "examples": ["en-guide", "ko-guide", "en-guide-copy"],
            "pattern": r"^Page \d+ of \d+$",
        },
    ],
    "encoding": {
        "replacement_chars": 1,
        "mojibake": 1,
        "control_chars": 1,
        "examples": [
            {"id": "mojibake", "problem": "mojibake", "snippet": MOJIBAKE[:60] + "…"},
            {"id": "damaged", "problem": "replacement_chars", "snippet": "Total: 50\ufffd paid\\x01"},
            {"id": "damaged", "problem": "control_chars", "snippet": "Total: 50\ufffd paid\\x01"},
        ],
    },
    "tables": {"documents": 1, "examples": ["prices"]},
    "sections": {"toc": 1, "toc_examples": ["toc"]},
}


def test_profile_of_a_small_corpus_gives_every_figure() -> None:
    assert profile_documents(corpus()).as_dict() == EXPECTED


def test_profile_json_round_trips_and_is_stable() -> None:
    profile = profile_documents(corpus())
    text = json.dumps(profile.as_dict(), ensure_ascii=False)
    assert DataProfile.from_dict(json.loads(text)) == profile
    assert json.dumps(profile_documents(corpus()).as_dict(), ensure_ascii=False) == text


def test_reported_blocks_and_patterns_match_the_documents_they_came_from() -> None:
    docs = {doc.id: doc for doc in corpus()}
    for entry in profile_documents(list(docs.values())).boilerplate:
        for doc_id in entry.examples:
            text = docs[doc_id].text
            if entry.pattern is None:
                # Whole lines, exactly as written: what a drop_block / drop_lines step matches.
                assert f"\n{entry.text}\n" in f"\n{text}\n"
            else:
                assert any(re.search(entry.pattern, line) for line in text.split("\n"))
    page_lines = {line for doc in docs.values() for line in doc.text.split("\n") if "Page" in line}
    assert page_lines == {"Page 1 of 2", "Page 2 of 2", "Page 1 of 3"}
    others = [line for doc in docs.values() for line in doc.text.split("\n") if line not in page_lines]
    assert not any(re.search(r"^Page \d+ of \d+$", line) for line in others)


NAMES = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
]


def footer_docs(n_footer: int, n_alone: int, n_plain: int) -> list[tuple[str, str]]:
    """Documents ending in a two-line footer, documents with its first line alone in the middle,
    and plain ones (every other line differs between documents)."""
    docs = [
        (f"f{i}", f"Body of the {name} document.\nMore {name} text.\nThanks for reading.\nACME Inc.")
        for i, name in enumerate(NAMES[:n_footer])
    ]
    docs += [
        (f"a{i}", f"Intro {name}.\nThanks for reading.\nMiddle {name}.\nEnd {name}.")
        for i, name in enumerate(NAMES[:n_alone])
    ]
    docs += [(f"p{i}", f"Plain {name} document.") for i, name in enumerate(NAMES[:n_plain])]
    return docs


def test_block_members_are_listed_alone_only_where_they_also_stand_alone_often() -> None:
    entries = [e.as_dict() for e in find_boilerplate(footer_docs(6, 4, 0))]
    assert entries == [
        {
            "text": "Thanks for reading.\nACME Inc.",
            "count": 6,
            "kind": "block",
            "position": "end",
            "lines": 2,
            "examples": ["f0", "f1", "f2"],
        },
        {
            "text": "Thanks for reading.",
            "count": 4,
            "kind": "line",
            "position": "start",
            "lines": 1,
            "examples": ["a0", "a1", "a2"],
        },
    ]
    # Standing alone in only 2 documents (< 3): the block's line is not repeated on its own.
    assert [e.kind for e in find_boilerplate(footer_docs(6, 2, 0))] == ["block"]


def test_a_block_is_found_whole_when_variants_add_lines_around_it() -> None:
    legal = "Legal notice one.\nLegal notice two.\nLegal notice three."
    docs = [(f"a{i}", f"Body {n}.\nMore {n}.\n{legal}") for i, n in enumerate(NAMES[:4])]
    docs += [(f"b{i}", f"Body {n}.\nMore {n}.\n{legal}\nPrinted copy.") for i, n in enumerate(NAMES[4:8])]
    docs += [(f"c{i}", f"Body {n}.\nSee below.\n{legal}\nEnd {n}.") for i, n in enumerate(NAMES[8:12])]
    assert [(e.kind, e.text, e.count, e.position) for e in find_boilerplate(docs)] == [
        ("block", legal, 12, "end"),
        ("line", "Printed copy.", 4, "end"),
        ("line", "See below.", 4, "start"),
    ]
    # A long repeated block (a navigation menu) whose variants differ at the end comes out whole.
    menu = [f"Menu item {name}" for name in NAMES]
    pages = [
        (f"p{i}", "\n".join([f"Page title {name}", *menu[: len(menu) - i % 3]]))
        for i, name in enumerate(NAMES)
    ]
    entries = find_boilerplate(pages)
    assert (entries[0].kind, entries[0].text, entries[0].count) == ("block", "\n".join(menu[:-2]), 18)


def test_a_line_must_occur_in_a_fifth_of_the_documents_and_at_least_three() -> None:
    assert [min_documents(n) for n in (0, 5, 15, 16, 20, 21, 100)] == [3, 3, 3, 4, 4, 5, 20]
    assert find_boilerplate(footer_docs(2, 0, 3)) == []
    assert [e.count for e in find_boilerplate(footer_docs(4, 0, 16))] == [4]  # 4 of 20
    assert find_boilerplate(footer_docs(4, 0, 17)) == []  # 4 of 21 < 5


def test_varying_page_markers_become_one_pattern_and_bare_numbers_do_not() -> None:
    # Short lines that differ only in their digits are markers; bare numbers and long sentences
    # with a varying figure are content.
    long_line = "Order {i} was shipped to the customer on time today."
    docs = [
        (f"d{i}", f"{NAMES[i]} text.\n  - {i + 1} -\n{i * 7}\n{i}.5\n{long_line.format(i=i)}")
        for i in range(5)
    ]
    entries = find_boilerplate(docs)
    assert [(e.text, e.count, e.pattern, e.position) for e in entries] == [
        ("- 1 -", 5, r"^\s*- \d+ -\s*$", "start")
    ]
    assert all(re.search(r"^\s*- \d+ -\s*$", f"  - {n} -") for n in (1, 42, 999))
    assert mask_pattern("Page \x00 (of \x00)", padded=False) == r"^Page \d+ \(of \d+\)$"


def test_same_digits_everywhere_is_a_plain_line_not_a_pattern() -> None:
    docs = [(f"d{i}", f"Copyright 2024 ACME\nText {'x' * i}") for i in range(4)]
    assert [(e.text, e.pattern) for e in find_boilerplate(docs)] == [("Copyright 2024 ACME", None)]


CLEAN = [
    "안녕하세요. 설치 안내서입니다. 표시등이 녹색으로 바뀌면 완료됩니다.",
    "It’s done — the “quick” guide… costs 5 € or £4; see §2 and 50 °C.",
    "L’élève déjà à l’école : « Château », garçon, cœur, Ça coûte cher, À bientôt, ÉTÉ…",
    "Größe, Straße—„Zitat“, Übung; MÜNCHEN, Ärger; São Paulo, SÃO PAULO, ação, ¿Qué tal? año.",
    "Tab\tseparated\r\nlines and a newline\n are fine.",
]


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text_is_not_flagged(text: str) -> None:
    report = encoding_report([Document("d", text)])
    assert (report.replacement_chars, report.mojibake, report.control_chars) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "ì•ˆë…•í•˜ì„¸ìš”",
        "ë‹¤",
        "cafÃ©",
        "Itâ€™s",
        "Ã¢ge",
        "안녕하세요".encode().decode("latin-1"),
        "déjà vu".encode().decode("cp1252"),
        "설치 안내".encode().decode("cp1252", errors="ignore"),
    ],
)
def test_utf8_read_as_latin1_or_cp1252_is_flagged(text: str) -> None:
    assert encoding_report([Document("d", text)]).mojibake == 1


def test_control_characters_and_snippets() -> None:
    text = "x" * 100 + "\x1b[0m" + "y" * 100
    report = encoding_report([Document("d", text), Document("c1", "ok \x85 there")])
    assert report.control_chars == 2
    assert report.examples[0].snippet == "…" + "x" * 20 + "\\x1b" + "[0m" + "y" * 36 + "…"
    assert report.examples[1].snippet == "ok \\x85 there"


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ("a | b | c\n1 | 2 | 3\n4 | 5 | 6", True),
        ("| a | b |\n|---|---|\n| 1 | 2 |", True),
        ("name\tqty\tprice\npen\t2\t1.50\ncup\t1\t3.00", True),
        ("2021 1,234 5.6%\n2022 1,300 6.1%\n2023 1,420 6.8%", True),
        ("a | b | c\n1 | 2\n4 | 5 | 6", False),  # separator counts differ
        ("a | b\n1 | 2\n3 | 4", False),  # one separator: could be prose
        ("In 2021 we sold 1,234 units.\nIn 2022 we sold 1,300 units.\nIn 2023 sales rose.", False),
        ("Plain prose.\nMore prose.\nEven more.", False),
    ],
)
def test_table_like_documents(text: str, table: bool) -> None:
    assert is_table_like(text) is table


def test_toc_headings() -> None:
    assert has_toc("Guide\nTable of Contents\n1. Intro")
    assert has_toc("  CONTENTS:\n- a")
    assert has_toc("## 목차\n1. 설치")
    assert has_toc("차례\n가. 개요")
    assert not has_toc("The contents of the box are listed below.\n목차에 없는 내용")


def test_formats_from_sources_or_given() -> None:
    cases = {
        "docs/A.MD": "md",
        "x/guide.markdown": "md",
        "data/faq.csv#faq-1": "csv",
        "sql:3f2a": "sql",
        "postgresql://db.example/shop#orders": "sql",
        "README": "other",
        "": "other",
        "/abs/report.PDF": "pdf",
    }
    assert {source: format_of(source) for source in cases} == cases
    docs = [Document("a", "x", source="a.txt"), Document("b", "y", source="b.txt")]
    assert profile_documents(docs, formats={"a": "pdf"}).formats == {"pdf": 1, "txt": 1}


def test_empty_input() -> None:
    profile = profile_documents([])
    data = profile.as_dict()
    assert data["documents"] == 0
    assert data["lengths"] == {
        "min": 0,
        "p25": 0,
        "median": 0,
        "p75": 0,
        "p90": 0,
        "max": 0,
        "mean": 0.0,
        "histogram": [],
    }
    assert data["boilerplate"] == [] and data["duplicates"] == {"exact": 0, "near": 0, "groups": []}
    assert "<svg" in render_profile_html(profile)


CHARTS = ("chart-formats", "chart-sources", "chart-languages", "chart-lengths", "chart-pii")


def test_html_page_has_a_chart_per_figure_and_escapes_document_text() -> None:
    hostile = "<script>alert('x')</script> Menu"
    docs = [*corpus(), *(Document(f"<b>{i}</b>", f"{hostile}\nText {i}.") for i in range(3))]
    html = render_profile_html(profile_documents(docs), title="Profile <of> data")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Menu" in html
    assert "&lt;b&gt;0&lt;/b&gt;" in html and "<b>" not in html
    assert "<title>Profile &lt;of&gt; data</title>" in html
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL)
    ids = [ET.fromstring(svg).attrib["id"] for svg in svgs]
    assert ids == list(CHARTS)
    # Self-contained: nothing fetched from elsewhere.
    assert not re.search(r"<(?:link|img|iframe)|\bsrc=|@import|url\(", html)
    assert re.findall(r"https?://[^\s\"<]+", html) == ["http://www.w3.org/2000/svg"] * len(CHARTS)
    for section in (
        "Boilerplate",
        "Duplicates",
        "Encoding problems",
        "Table-like documents",
        "Empty documents",
    ):
        assert f"<h2>{section}" in html
    assert "Confidential: internal use only." in html and "^Page \\d+ of \\d+$" in html


def test_sample_corpus_profile() -> None:
    root = Path(llmpilot.__file__).parent / "sample_corpus"
    discovery = discover_files([root])
    assert not discovery.errors
    docs = [doc for unit in discovery.units for doc in unit.load().documents]
    profile = profile_documents(docs)
    assert profile.documents == len(docs) > 10
    assert profile.languages.get("ko", 0) >= 3 and profile.languages.get("en", 0) >= 3
    assert {"csv", "md", "txt", "html"} <= set(profile.formats)
    assert sum(profile.sources.values()) == profile.documents
    assert len(profile.sources) < profile.documents  # the CSV's rows share one source
    assert profile.pii_documents["email"] >= 1 and profile.pii_documents["phone"] >= 1
    assert profile.tables["documents"] >= 1
    assert profile.empty == [] and profile.duplicates.exact == 0
    # The notices (sample_corpus/notices) share a site header line and a 2-line footer.
    found = {(b["kind"], b["position"], b["count"]) for b in profile.as_dict()["boilerplate"]}
    assert found == {("block", "end", 4), ("line", "start", 4)}
    render_profile_html(profile)
