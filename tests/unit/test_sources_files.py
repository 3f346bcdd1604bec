from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from llmpilot.errors import SourceError
from llmpilot.sources import SUPPORTED_EXTENSIONS, LoadResult, SourceUnit, discover_files
from llmpilot.sources.files import decode_text, load_file, markdown_title
from tests.fixtures.make_files import (
    korean_pdf_font,
    write_blank_pdf,
    write_corrupt_pdf,
    write_cp949_text,
    write_csv,
    write_docx,
    write_html,
    write_jsonl,
    write_pdf,
)

KO_RETURNS = "반품은 구매 후 14일 이내에 신청할 수 있습니다.\n환불은 제품 회수 후 7영업일 안에 처리됩니다."


def load_one(path: Path) -> LoadResult:
    found = discover_files([path])
    assert not found.errors, found.errors
    assert len(found.units) == 1, found.units
    return found.units[0].load()


# --- discovery --------------------------------------------------------------------------------------


def test_discovery_ids_are_relative_to_the_named_folders_parent(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\nalpha", encoding="utf-8")
    (docs / "guides" / "설치.txt").write_text("설치 안내", encoding="utf-8")
    (docs / "image.png").write_bytes(b"\x89PNG")
    (docs / ".hidden.md").write_text("secret", encoding="utf-8")
    (docs / ".git").mkdir()
    (docs / ".git" / "config.txt").write_text("x", encoding="utf-8")
    (docs / "~$draft.docx").write_bytes(b"lock")

    found = discover_files([docs])

    assert [u.key for u in found.units] == ["docs/a.md", "docs/guides/설치.txt"]
    assert found.origins == [str(docs.resolve())]
    assert {u.origin for u in found.units} == {str(docs.resolve())}
    assert found.skipped == [str(docs / "image.png")]
    assert found.errors == []
    unit = found.units[0]
    assert unit.fingerprint == hashlib.sha256((docs / "a.md").read_bytes()).hexdigest()


def test_a_named_file_gets_its_own_name_as_id(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Support hours are 9 to 6.", encoding="utf-8")
    found = discover_files([notes])
    assert [u.key for u in found.units] == ["notes.txt"]
    doc = found.units[0].load().documents[0]
    assert doc.id == "notes.txt"
    assert doc.title == "notes"
    assert doc.source == str(notes)
    assert doc.text == "Support hours are 9 to 6."


def test_missing_path_is_reported_and_the_rest_is_found(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_text("# Real", encoding="utf-8")
    missing = tmp_path / "nope"
    found = discover_files([missing, real])
    assert [e.source for e in found.errors] == [str(missing)]
    assert "no such file" in found.errors[0].reason
    assert [u.key for u in found.units] == ["real.md"]


def test_unsupported_named_file_is_skipped_not_an_error(tmp_path: Path) -> None:
    sheet = tmp_path / "prices.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    found = discover_files([sheet])
    assert found.units == [] and found.errors == []
    assert found.skipped == [str(sheet)]


def test_a_file_named_twice_is_loaded_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("alpha", encoding="utf-8")
    found = discover_files([docs, docs / "a.txt"])
    assert [u.key for u in found.units] == ["docs/a.txt"]


def test_same_id_from_two_origins_is_an_error(tmp_path: Path) -> None:
    for side in ("a", "b"):
        (tmp_path / side / "docs").mkdir(parents=True)
        (tmp_path / side / "docs" / "x.md").write_text(f"# {side}", encoding="utf-8")
    found = discover_files([tmp_path / "a" / "docs", tmp_path / "b" / "docs"])
    assert [u.key for u in found.units] == ["docs/x.md"]
    assert [e.source for e in found.errors] == [str(tmp_path / "b" / "docs" / "x.md")]
    assert "already taken" in found.errors[0].reason


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("one", encoding="utf-8")
    before = discover_files([f]).units[0].fingerprint
    f.write_text("two", encoding="utf-8")
    after = discover_files([f]).units[0].fingerprint
    assert before != after


# --- hostile paths: each is reported by name and the rest is still found -----------------------------


def test_symlink_loops_are_reported_not_raised(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("good", encoding="utf-8")
    (docs / "loop.txt").symlink_to("loop.txt")  # points at itself
    named_loop = tmp_path / "self"
    named_loop.symlink_to("self")
    found = discover_files([docs, named_loop])
    assert [u.key for u in found.units] == ["docs/good.txt"]
    assert [e.source for e in found.errors] == [str(docs / "loop.txt"), str(named_loop)]
    assert all("symlink loop" in e.reason for e in found.errors)


def test_names_that_are_not_utf8_are_reported_with_escapes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("good", encoding="utf-8")
    raw_root = os.fsencode(docs)
    Path(os.fsdecode(raw_root + b"/caf\xe9.txt")).write_text("latin-1 name", encoding="utf-8")
    bad_folder = Path(os.fsdecode(raw_root + b"/r\xe9sum\xe9s"))
    bad_folder.mkdir()
    (bad_folder / "inside.txt").write_text("inside", encoding="utf-8")
    found = discover_files([docs])
    assert [u.key for u in found.units] == ["docs/good.txt"]
    # Sources are printable, storable text: the raw bytes appear as \xNN escapes.
    shown = sorted(e.source for e in found.errors)
    assert shown == [f"{docs}/caf\\xe9.txt", f"{docs}/r\\xe9sum\\xe9s"]
    assert all("not valid UTF-8" in e.reason for e in found.errors)
    for error in found.errors:
        str(error).encode("utf-8")  # no lone surrogates left


@pytest.mark.timeout(60)  # reading the FIFO would block forever: fail instead of hanging the suite
def test_a_fifo_named_like_a_document_is_skipped_not_read(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("good", encoding="utf-8")
    os.mkfifo(docs / "x.txt")
    os.mkfifo(tmp_path / "named.md")
    found = discover_files([docs, tmp_path / "named.md"])
    assert [u.key for u in found.units] == ["docs/good.txt"]
    assert [e.source for e in found.errors] == [str(docs / "x.txt"), str(tmp_path / "named.md")]
    assert all("not a regular file" in e.reason for e in found.errors)


@pytest.mark.timeout(60)
def test_loading_refuses_a_fifo_swapped_in_after_discovery(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "late.txt")
    with pytest.raises(SourceError, match="not a regular file"):
        load_file(tmp_path / "late.txt", "late.txt")


def test_supported_extensions() -> None:
    assert {
        ".txt",
        ".md",
        ".markdown",
        ".html",
        ".htm",
        ".pdf",
        ".docx",
        ".csv",
        ".jsonl",
    } == SUPPORTED_EXTENSIONS


def test_source_unit_load_calls_its_loader() -> None:
    result = LoadResult(documents=[])
    unit = SourceUnit(key="k", origin="o", fingerprint=None, loader=lambda: result)
    assert unit.load() is result


# --- text and encodings ------------------------------------------------------------------------------


def test_cp949_korean_text_is_decoded(tmp_path: Path) -> None:
    path = write_cp949_text(tmp_path / "반품.txt", KO_RETURNS)
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    doc = load_one(path).documents[0]
    assert doc.text == KO_RETURNS
    assert doc.metadata["encoding"] == "cp949"
    assert doc.title == "반품"


def test_short_cp949_text_is_not_mistaken_for_chinese() -> None:
    text, encoding = decode_text("가나".encode("cp949"), "x.txt")
    assert (text, encoding) == ("가나", "cp949")


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffWarranty: 10 years".encode())
    assert load_one(path).documents[0].text == "Warranty: 10 years"


def test_latin1_text_falls_back_to_detection(tmp_path: Path) -> None:
    path = tmp_path / "fr.txt"
    text = "Le café est fermé le lundi. La garantie couvre la batterie pendant dix ans après l'achat."
    path.write_bytes(text.encode("latin-1"))
    doc = load_one(path).documents[0]
    # Detection on short text may pick a sibling single-byte code page (è -> č); the common
    # accented letters and the rest of the text still come through.
    assert doc.text.startswith("Le café est fermé le lundi.")
    assert doc.metadata["encoding"] != "utf-8"


# --- markdown ---------------------------------------------------------------------------------------


def test_markdown_title_is_the_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "warranty.md"
    path.write_text("Intro line\n\n## SolBox **Warranty**\n\nTen years.\n\n# Later", encoding="utf-8")
    doc = load_one(path).documents[0]
    assert doc.title == "SolBox Warranty"
    assert "Ten years." in doc.text
    assert doc.metadata["type"] == "markdown"


def test_markdown_front_matter_title_and_korean(tmp_path: Path) -> None:
    path = tmp_path / "guide.markdown"
    path.write_text(
        "---\ntitle: 설치 안내서\nauthor: kim\n---\n# 무시되는 제목\n\n설치는 4시간 걸립니다.\n", "utf-8"
    )
    doc = load_one(path).documents[0]
    assert doc.title == "설치 안내서"
    assert "author" not in doc.text
    assert "설치는 4시간 걸립니다." in doc.text


def test_markdown_title_skips_code_fences_and_reads_setext() -> None:
    assert markdown_title("```bash\n# not a title\n```\n\n보증 정책\n=====\n\n본문") == "보증 정책"
    assert markdown_title("no headings here") == ""
    assert markdown_title("# [Docs](http://x) `v2`") == "Docs v2"


def test_markdown_front_matter_nested_too_deeply_is_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "deep.md"
    path.write_text("---\na: " + "[" * 5000 + "]" * 5000 + "\n---\n# Title\n\nBody.\n", "utf-8")
    # Unparseable front matter stays in the text, as invalid YAML does; the file still loads.
    doc = load_one(path).documents[0]
    assert doc.text.startswith("---\na: [[[") and doc.text.endswith("# Title\n\nBody.\n")


# --- html -------------------------------------------------------------------------------------------


def test_html_drops_boilerplate_and_keeps_blocks(tmp_path: Path) -> None:
    body = (
        "<main><h1>Safety</h1><p>Keep <b>30 cm</b> of clearance\n   around the unit.</p>"
        "<ul><li>Do not install in a bathroom.</li><li>Operating range: -10 to 45 &deg;C.</li></ul>"
        "<table><tr><th>Code</th><th>Meaning</th></tr><tr><td>E07</td><td>Overheating</td></tr></table>"
        "<pre>line one\n  line two</pre></main>"
    )
    path = write_html(tmp_path / "safety.html", title="SolBox Safety Guide", body=body)
    doc = load_one(path).documents[0]
    assert doc.title == "SolBox Safety Guide"
    for junk in ("SCRIPT-TEXT", "HEADER-TEXT", "NAV-TEXT", "FOOTER-TEXT", "color: red"):
        assert junk not in doc.text
    assert "Keep 30 cm of clearance around the unit." in doc.text  # inline tags don't split sentences
    assert "Do not install in a bathroom.\nOperating range: -10 to 45 °C." in doc.text
    assert "Code | Meaning\nE07 | Overheating" in doc.text
    assert "Safety\n\nKeep" in doc.text  # block elements become paragraph breaks
    assert doc.metadata["type"] == "html"


def test_korean_html_in_euc_kr(tmp_path: Path) -> None:
    body = (
        "<p>고객센터 운영 시간은 평일 오전 9시부터 오후 6시까지입니다.</p>"
        "<p>토요일은 오후 2시까지 운영합니다.</p>"
    )
    path = write_html(tmp_path / "지원.htm", title="고객 지원 안내", body=body, encoding="euc-kr")
    doc = load_one(path).documents[0]
    assert doc.title == "고객 지원 안내"
    assert (
        doc.text
        == "고객센터 운영 시간은 평일 오전 9시부터 오후 6시까지입니다.\n\n토요일은 오후 2시까지 운영합니다."
    )


def test_html_without_title_uses_h1_then_stem(tmp_path: Path) -> None:
    a = tmp_path / "a.html"
    a.write_text("<h1>Returns</h1><p>Within 14 days.</p>", encoding="utf-8")
    b = tmp_path / "page-two.html"
    b.write_text("<p>Only text.</p>", encoding="utf-8")
    assert load_one(a).documents[0].title == "Returns"
    assert load_one(b).documents[0].title == "page-two"


# --- pdf --------------------------------------------------------------------------------------------


def test_pdf_pages_and_metadata_title(tmp_path: Path) -> None:
    path = write_pdf(
        tmp_path / "manual.pdf",
        [["SolBox 10 installation manual", "Mount on a wall at least 10 cm thick."], ["Page two: wiring."]],
        title="SolBox Manual",
    )
    doc = load_one(path).documents[0]
    assert doc.title == "SolBox Manual"
    assert doc.metadata == {"type": "pdf", "pages": "2"}
    assert "Mount on a wall at least 10 cm thick." in doc.text
    first, second = doc.text.split("\n\n")
    assert first.startswith("SolBox 10 installation manual") and second == "Page two: wiring."


def test_korean_pdf(tmp_path: Path) -> None:
    if korean_pdf_font() is None:
        pytest.skip("no Korean-capable PDF font in reportlab here")
    path = write_pdf(tmp_path / "보증.pdf", [["보증 기간은 10년입니다.", "Warranty: 10 years."]], korean=True)
    doc = load_one(path).documents[0]
    assert "보증 기간은 10년입니다." in doc.text
    assert doc.title == "보증"


def test_corrupt_pdf_is_a_source_error_naming_the_file(tmp_path: Path) -> None:
    path = write_corrupt_pdf(tmp_path / "broken.pdf")
    unit = discover_files([path]).units[0]
    with pytest.raises(SourceError) as info:
        unit.load()
    assert info.value.source == str(path)
    assert "not a readable PDF" in info.value.reason
    assert "broken.pdf" in str(info.value)


def test_pdf_without_text_says_ocr_is_not_supported(tmp_path: Path) -> None:
    path = write_blank_pdf(tmp_path / "scan.pdf")
    with pytest.raises(SourceError) as info:
        load_one(path)
    assert "OCR is not supported" in info.value.reason
    assert info.value.source == str(path)


def test_password_protected_pdf(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = write_pdf(tmp_path / "plain.pdf", [["secret plan"]])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as fh:
        writer.write(fh)
    with pytest.raises(SourceError) as info:
        load_file(locked, "locked.pdf")
    assert "password" in info.value.reason


# --- docx -------------------------------------------------------------------------------------------


def test_korean_docx_keeps_body_order_and_tables(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "설치안내.docx",
        heading="솔박스 설치 안내",
        paragraphs=["설치는 평균 4시간이 걸립니다.", "설치 비용은 35만 원입니다."],
        table=[["항목", "값"], ["벽 두께", "10cm 이상"]],
        trailing="문의: 고객센터",
    )
    doc = load_one(path).documents[0]
    assert doc.title == "솔박스 설치 안내"
    assert doc.metadata == {"type": "docx"}
    assert doc.text == (
        "솔박스 설치 안내\n\n설치는 평균 4시간이 걸립니다.\n\n설치 비용은 35만 원입니다.\n\n"
        "항목 | 값\n벽 두께 | 10cm 이상\n\n문의: 고객센터"
    )


def test_docx_core_title_wins(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "w.docx", heading="Heading", paragraphs=["Ten years."], core_title="Warranty Policy"
    )
    assert load_one(path).documents[0].title == "Warranty Policy"


def test_broken_docx_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(SourceError) as info:
        load_one(path)
    assert info.value.source == str(path)
    assert "not a readable DOCX" in info.value.reason


# --- csv --------------------------------------------------------------------------------------------


def test_csv_with_text_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "faq.csv",
        ["ID", "Title", "Text", "category"],
        [
            ["q1", "Warranty", "Ten years.", "policy"],
            ["q2", "보증 등록", "설치 후 30일 이내에 등록하세요.", ""],
        ],
    )
    docs = load_one(path).documents
    assert [d.id for d in docs] == ["faq.csv#q1", "faq.csv#q2"]
    assert [d.title for d in docs] == ["Warranty", "보증 등록"]
    assert docs[1].text == "설치 후 30일 이내에 등록하세요."
    assert docs[0].metadata == {"category": "policy", "type": "csv", "line": "2"}
    assert docs[0].source == str(path)


def test_csv_without_text_column_uses_column_value_lines(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "faq.csv",
        ["question", "answer"],
        [["반품 기간은?", "구매 후 14일입니다."], ["", ""], ["Support hours?", "Weekdays 9-18."]],
    )
    result = load_one(path)
    assert [d.id for d in result.documents] == ["faq.csv#2", "faq.csv#4"]  # row key = line number
    assert result.documents[0].text == "question: 반품 기간은?\nanswer: 구매 후 14일입니다."
    assert result.problems == []


def test_csv_in_cp949_with_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes("id;text\n1;설치 비용은 35만 원입니다.\n".encode("cp949"))
    docs = load_one(path).documents
    assert [(d.id, d.text) for d in docs] == [("faq.csv#1", "설치 비용은 35만 원입니다.")]


def test_csv_row_problems_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,text\n1,one\n1,dup\n2,two,extra\n3,three\n", encoding="utf-8")
    result = load_one(path)
    assert [d.id for d in result.documents] == ["rows.csv#1", "rows.csv#3"]
    assert [p.source for p in result.problems] == [f"{path}:3", f"{path}:4"]
    assert "duplicate id '1'" in result.problems[0].reason


def test_empty_csv_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(SourceError, match="empty CSV"):
        load_one(path)


# --- jsonl ------------------------------------------------------------------------------------------


def test_jsonl_bad_line_is_a_problem_and_the_rest_loads(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "data.jsonl",
        [
            {"id": "d1", "title": "Warranty", "text": "Ten years."},
            "{not json",
            {"_id": 7, "title": "반품", "contents": "14일 이내 반품 가능."},
            "",
            {"body": "no id here", "metadata": {"lang": "en", "nested": {"x": 1}}},
            {"id": "d9", "summary": "no text field"},
            ["a", "list"],
        ],
    )
    result = load_one(path)
    assert [d.id for d in result.documents] == ["data.jsonl#d1", "data.jsonl#7", "data.jsonl#5"]
    assert result.documents[1].text == "14일 이내 반품 가능."
    assert result.documents[1].title == "반품"
    assert result.documents[2].metadata == {"lang": "en", "type": "jsonl", "line": "5"}
    assert [p.source for p in result.problems] == [f"{path}:2", f"{path}:6", f"{path}:7"]
    assert "not valid JSON" in result.problems[0].reason
    assert "fields: id, summary" in result.problems[1].reason
    assert str(result.problems[0]).startswith(f"{path}:2: not valid JSON")


def test_jsonl_lone_surrogate_escape_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"id": "a", "text": "fine"}\n{"id": "b", "text": "bad \\ud800 half"}\n', encoding="utf-8"
    )
    result = load_one(path)
    assert [d.id for d in result.documents] == ["data.jsonl#a"]
    assert [p.source for p in result.problems] == [f"{path}:2"]
    assert "lone surrogate" in result.problems[0].reason


def test_empty_jsonl_is_reported_by_name(tmp_path: Path) -> None:
    for name, content in (("empty.jsonl", ""), ("blank.jsonl", "\n  \n")):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        result = load_one(path)
        assert result.documents == []
        assert [p.source for p in result.problems] == [str(path)]
        assert "empty JSONL file" in result.problems[0].reason


def test_csv_with_a_header_only_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id,text\n", encoding="utf-8")
    result = load_one(path)
    assert result.documents == []
    assert [p.source for p in result.problems] == [str(path)]
    assert "no rows" in result.problems[0].reason


def test_csv_unterminated_quote_names_the_line_and_later_rows_still_load(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text('id,text\n1,one\n2,"two never closed\n3,three\n4,four\n', encoding="utf-8")
    result = load_one(path)
    # The stray quote would otherwise swallow rows 3 and 4 into row 2's text.
    assert [(d.id, d.text) for d in result.documents] == [
        ("faq.csv#1", "one"),
        ("faq.csv#3", "three"),
        ("faq.csv#4", "four"),
    ]
    assert [p.source for p in result.problems] == [f"{path}:3"]
    assert "never closed" in result.problems[0].reason and "lines 3-5" in result.problems[0].reason


def test_csv_multiline_quoted_cells_are_not_mistaken_for_unterminated(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text('id,text\n1,"line one\nline two"\n2,"last\nrow"\n', encoding="utf-8")
    result = load_one(path)
    assert [d.text for d in result.documents] == ["line one\nline two", "last\nrow"]
    assert result.problems == []


def test_csv_header_with_unterminated_quote_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('id,"text\n1,one\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"CSV header \(line 1\).*never closed"):
        load_one(path)
