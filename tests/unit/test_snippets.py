"""Query-focused snippets (llmpilot.snippets) and their use in `llmpilot search`."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from llmpilot import cli
from llmpilot.generation.prompting import snippet
from llmpilot.snippets import ELLIPSIS, Snippet, Term, focus_snippet

#: A support page of 206 characters whose answer to "how long can I return it" ("14일") sits past
#: character 120: a snippet of the first 100 (or the CLI's old 120) characters misses it.
SUPPORT_PAGE = (
    "한울에너지 고객지원 안내입니다. 솔박스 10 배터리의 설치 예약, 방문 점검, 앱 연결 문의는 평일 오전 "
    "9시부터 오후 6시까지 고객센터와 앱의 채팅 상담실에서 받습니다. 제품을 받은 뒤 마음이 바뀌었다면 "
    "수령일로부터 14일 이내에 반품을 신청할 수 있으며, 설치가 끝난 제품은 반품 대상에서 제외됩니다. "
    "환불은 검수가 끝난 뒤 7영업일 안에 결제 수단으로 처리됩니다."
)
RETURN_QUESTION = "반품 신청 기간은 며칠인가요?"

WARRANTY_PAGE = (
    "SolBox 10 owner's guide. Unpack the unit on a dry floor and keep the packaging until the "
    "installer has signed the commissioning sheet. Clean the vents twice a year with a soft brush. "
    "The limited warranty covers the battery modules and the inverter for 10 years from the "
    "installation date; damage from floods or unauthorised repairs is excluded."
)


def marked(s: Snippet) -> list[str]:
    return [s.text[a:b] for a, b in s.highlights]


def window(s: Snippet) -> str:
    """The snippet's text without the "…" added where it was cut."""
    head = len(ELLIPSIS) if s.text.startswith(ELLIPSIS) and s.start > 0 else 0
    tail = len(ELLIPSIS) if s.text.endswith(ELLIPSIS) and len(s.text) > head else 0
    return s.text[head : len(s.text) - tail]


# ---- Korean ----------------------------------------------------------------------------------


def test_the_korean_page_shows_the_return_period_past_character_100() -> None:
    assert len(SUPPORT_PAGE) == 206 and SUPPORT_PAGE.index("14일") > 120
    assert "14일" not in snippet(SUPPORT_PAGE, 100)  # the old, first-characters snippet

    for width in (160, 100):
        found = focus_snippet(SUPPORT_PAGE, RETURN_QUESTION, width=width)
        assert "14일" in found.text, (width, found.text)
        assert len(found.text) <= width
        assert found.text.startswith(ELLIPSIS) and found.start > 0  # the greeting was cut
        assert SUPPORT_PAGE[found.start : found.end] == window(found)
        # The question's terms that the sentence holds are marked: 반품 (return) and 신청 (apply).
        assert {"반품", "신청"} <= set(marked(found)), marked(found)
        # The window starts where the sentence with the matched terms starts.
        assert window(found).startswith("제품을 받은 뒤")


def test_korean_terms_match_across_spacing_and_particles() -> None:
    text = (
        "설치 안내와 배송 일정은 별도 문서를 참고하세요. 이 문서는 고객 문의가 많은 항목을 모았습니다. "
        "배터리 모듈의 보증기간은 10년이며 인버터는 5년입니다. 보증 기간 안에는 수리비가 없습니다."
    )
    found = focus_snippet(text, "보증 기간은 얼마나 되나요?", width=60)
    assert "10년" in found.text
    words = marked(found)
    # "보증기간" written solid and "보증 기간" written apart both meet the spaced question.
    assert words.count("보증") == 1 and words.count("기간") == 1  # the spaced "보증 기간"
    assert "보증기간" in words  # the solid one: two terms side by side, one mark


# ---- English ---------------------------------------------------------------------------------


def test_english_terms_match_on_stems() -> None:
    assert WARRANTY_PAGE.index("warranty") > 160
    found = focus_snippet(WARRANTY_PAGE, "What do the warranties cover?", width=120)
    assert "warranty covers" in found.text and "10 years" in found.text
    assert marked(found) == ["warranty", "covers"]  # "warranties"/"cover" meet their stems
    assert "What" not in marked(found) and "the" not in marked(found)  # question words stay plain


def test_highlights_are_case_insensitive_and_merge_nothing_across_words() -> None:
    found = focus_snippet("BATTERY battery Battery-pack", "battery")
    assert marked(found) == ["BATTERY", "battery", "Battery"]
    assert found.text == "BATTERY battery Battery-pack" and found.start == 0


# ---- fallbacks and edges ---------------------------------------------------------------------


def test_no_match_falls_back_to_the_start_on_a_word_boundary() -> None:
    found = focus_snippet(WARRANTY_PAGE, "zebra crossing", width=50)
    assert found.start == 0 and found.highlights == []
    assert found.text.endswith(ELLIPSIS) and len(found.text) <= 50
    assert WARRANTY_PAGE.startswith(window(found))
    assert WARRANTY_PAGE[found.end] == " "  # cut between words, not inside one


def test_a_short_text_is_shown_whole_without_ellipsis() -> None:
    found = focus_snippet("  보증 기간은 10년입니다.\n", "보증 기간")
    assert found.text == "보증 기간은 10년입니다." and (found.start, found.end) == (2, 16)
    assert marked(found) == ["보증", "기간"]


def test_a_custom_tokenizer_decides_what_matches() -> None:
    def words(text: str) -> list[Term]:
        out, at = [], 0
        for word in text.split(" "):
            out.append(Term(word, at, at + len(word)))
            at += len(word) + 1
        return out

    found = focus_snippet("ab abc abcd", "abc", tokenize=words)
    assert marked(found) == ["abc"]  # exact words only: "abcd" is another word


def test_width_below_three_is_refused() -> None:
    with pytest.raises(ValueError, match="width must be at least 3"):
        focus_snippet("text", "text", width=2)


def test_empty_text_and_empty_query() -> None:
    assert focus_snippet("", "보증") == Snippet(text="", highlights=[], start=0, end=0)
    found = focus_snippet(SUPPORT_PAGE, "   ", width=40)
    assert found.start == 0 and found.highlights == [] and len(found.text) <= 40


# ---- boundary safety (property) --------------------------------------------------------------

#: Whole characters of every awkward kind: Hangul (composed and as jamo), Latin with a combining
#: accent, an emoji, an emoji with a skin tone, a surrogate pair held as two code points (as text
#: decoded with "surrogatepass" is), digits, spaces, sentence ends and newlines.
PIECES = [
    "보증",
    "기간",
    "14일",
    "반품",
    "warranty",
    "cover",
    "e\u0301",
    "\u1100\u1161\u11a8",
    "\U0001f600",
    "\U0001f44d\U0001f3fd",
    "\ud83d\ude00",
    "10",
    " ",
    " ",
    ". ",
    "\n",
    "가",
    "x",
]


def clusters_intact(text: str, cut: int) -> bool:
    """A cut at `cut` leaves every piece above whole."""
    if cut <= 0 or cut >= len(text):
        return True
    before, after = text[cut - 1], text[cut]
    return not (
        ("\ud800" <= before <= "\udbff" and "\udc00" <= after <= "\udfff")
        or unicodedata.combining(after)
        or "\u1160" <= after <= "\u11ff"
        or "\u1100" <= before <= "\u115f"
        or "\U0001f3fb" <= after <= "\U0001f3ff"
    )


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=60),
    query=st.lists(st.sampled_from(PIECES), max_size=4).map(" ".join),
    width=st.integers(min_value=8, max_value=80),
)
def test_windows_are_substrings_and_never_split_a_character(
    pieces: list[str], query: str, width: int
) -> None:
    text = "".join(pieces)
    found = focus_snippet(text, query, width=width)
    body = window(found)
    assert text[found.start : found.end] == body
    assert len(found.text) <= width
    assert found.text in (body, ELLIPSIS + body, body + ELLIPSIS, ELLIPSIS + body + ELLIPSIS)
    assert clusters_intact(text, found.start) and clusters_intact(text, found.end)
    offset = found.text.index(body) if body else 0
    previous_end = -1
    for start, end in found.highlights:
        assert offset <= start < end <= offset + len(body)
        assert start > previous_end  # sorted, apart
        previous_end = end
        cut_start, cut_end = start - offset + found.start, end - offset + found.start
        assert clusters_intact(text, cut_start) and clusters_intact(text, cut_end)


# ---- the CLI ---------------------------------------------------------------------------------


def test_cli_cell_keeps_the_chunk_as_text_and_marks_the_terms() -> None:
    rendered = cli._focused("보증 [bold]은[/bold]\n\n10년 \\", "보증")
    assert rendered.plain == "보증 [bold]은[/bold] 10년 \\"  # brackets stay text; one line
    assert [(rendered.plain[s.start : s.end], str(s.style)) for s in rendered.spans] == [
        ("보증", "bold underline")
    ]


def test_llmpilot_search_prints_the_focused_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    project = tmp_path / "proj"
    assert runner.invoke(cli.app, ["init", str(project)]).exit_code == 0
    config_path = project / "llmpilot.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["embedder"] = {"name": "hashing"}  # model-free: this test is about the output
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "support_ko.txt").write_text(SUPPORT_PAGE, encoding="utf-8")
    ingest = runner.invoke(cli.app, ["ingest", "-p", str(project), str(docs), "--no-progress"])
    assert ingest.exit_code == 0, ingest.output

    console = Console(record=True, width=400, force_terminal=True, color_system="standard")
    monkeypatch.setattr(cli, "out", console)
    result = runner.invoke(cli.app, ["search", "-p", str(project), RETURN_QUESTION])
    assert result.exit_code == 0, result.output
    plain = console.export_text(styles=False, clear=False)
    assert "14일 이내에 반품을 신청할" in plain
    assert "한울에너지 고객지원" not in plain  # the start of the page, which the old snippet showed
    styled = console.export_text(styles=True)
    assert "\x1b[1;4m반품\x1b[0m" in styled  # bold + underline

    # A query with brackets is text too: rich used to fail on "[/]" ("closing tag has nothing to close").
    odd = runner.invoke(cli.app, ["search", "-p", str(project), "[/] 반품 [bold]"])
    assert odd.exit_code == 0, odd.output
    assert "search: [/] 반품 [bold]" in console.export_text(styles=False)


# ---- the API's citation shape ----------------------------------------------------------------


def test_a_citation_serves_its_focused_snippet_and_highlights() -> None:
    from llmpilot.serving.deps import citation_json
    from llmpilot.serving.schemas import CitationOut
    from llmpilot.types import Citation

    found = focus_snippet(SUPPORT_PAGE, RETURN_QUESTION)
    citation = Citation(
        n=1,
        doc_id="support_ko.txt",
        chunk_id="c-1",
        title="고객지원",
        snippet=found.text,
        start=found.start,
        end=found.end,
        score=0.9,
        highlights=tuple(found.highlights),
    )
    served = CitationOut.model_validate(citation_json(citation)).model_dump(mode="json")
    assert served["snippet"] == found.text
    assert served["highlights"] == [[a, b] for a, b in found.highlights] and served["highlights"]
    # Without highlights (an older client's payload, a citation without a question) it defaults to [].
    bare = {key: value for key, value in served.items() if key != "highlights"}
    assert CitationOut.model_validate(bare).highlights == []
