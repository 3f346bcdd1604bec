"""The web UI's routes in process: pages in both languages, the session and admin guards, escaping.

The UI reads everything through the JSON API of the app it is mounted on. Here a bare FastAPI app
gets a small fake of that API (canned data, the contract's shapes) so the UI is tested on its own;
tests/e2e/test_chat_browser.py runs it against the real server.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import ValidationError

from llmpilot.serving.schemas import ReportList, TraceList
from llmpilot.serving.ui import STATIC_DIR, i18n, mount_ui
from llmpilot.serving.ui.pages import safe_next
from llmpilot.serving.ui.render import fmt_pct, fmt_time
from llmpilot.serving.ui.views import latency_scale, report_rows, trace_rows

HOSTILE = '<img src=x onerror="alert(1)"> & </td>'
KEYS = {"k-admin": ("acme", "admin"), "k-user": ("acme", "user")}
TRACE = {
    "trace_id": "t-1",
    "created_at": "2023-11-14T22:13:20+00:00",
    "collection": "demo",
    "question": HOSTILE,
    "answer": "보증 기간은 10년입니다 [1].",
    "abstained": False,
    "confidence": 0.8,
    "latency_ms": {"retrieve": 10.0, "generate": 390.0, "total": 400.0},
    "n_feedback": 1,
}
CITATION = {
    "n": 1,
    "doc_id": "warranty.md",
    "title": "보증",
    "snippet": "10년 보증",
    "start": 0,
    "end": 5,
    "score": 0.9,
}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "test", "code": None}}, status_code=status)


def fake_api(*, traces_status: int = 200) -> tuple[FastAPI, dict[str, int]]:
    """The contract's session and admin endpoints with canned data; counts the admin calls."""
    app = FastAPI()
    calls = {"traces": 0}

    def caller(request: Request) -> tuple[str, str] | None:
        return KEYS.get(request.cookies.get("llmpilot_session", ""))

    def admin_refusal(request: Request) -> JSONResponse | None:
        who = caller(request)
        if who is None:
            return _error(401, "no session")
        return None if who[1] == "admin" else _error(403, "admins only")

    @app.get("/api/session")
    async def session(request: Request) -> Any:
        who = caller(request)
        return {"tenant": who[0], "role": who[1]} if who else _error(401, "no session")

    @app.get("/api/traces")
    async def traces(request: Request) -> Any:
        calls["traces"] += 1
        if traces_status != 200:
            return _error(traces_status, "store unavailable")
        bare = {**TRACE, "trace_id": "t-2", "question": "bare", "created_at": None, "n_feedback": 0}
        return admin_refusal(request) or {"items": [TRACE, bare]}

    @app.get("/api/traces/{trace_id}")
    async def trace(request: Request, trace_id: str) -> Any:
        if refusal := admin_refusal(request):
            return refusal
        if trace_id != "t-1":
            return _error(404, "no such trace")
        feedback = [
            {
                "id": 1,
                "trace_id": "t-1",
                "signal": "correction",
                "rating": None,
                "comment": None,
                "correction": "열두 해",
                "created_at": None,
                "question": TRACE["question"],
                "answer": TRACE["answer"],
            }
        ]
        detail = {"reason": "", "details": {}, "config_hash": "h"}
        return {**TRACE, **detail, "citations": [CITATION], "sources": [CITATION], "feedback": feedback}

    @app.get("/api/feedback")
    async def feedback(request: Request) -> Any:
        item = {
            "id": 7,
            "trace_id": "t-1",
            "signal": "thumbs_down",
            "rating": None,
            "comment": HOSTILE,
            "correction": "10 years",
            "created_at": "2026-01-02T03:04:05Z",
            "question": "q",
            "answer": "a",
        }
        return admin_refusal(request) or {"items": [item]}

    @app.get("/api/reports")
    async def reports(request: Request) -> Any:
        items = [
            {"name": "opt/report.html", "url": "/reports/opt/report.html"},
            {"name": "evil", "url": "https://evil.example/x"},
        ]
        return admin_refusal(request) or {"items": items}

    mount_ui(app)
    return app, calls


@pytest.fixture
def app_calls() -> tuple[FastAPI, dict[str, int]]:
    return fake_api()


def client_for(app: FastAPI, key: str | None = None, **headers: str) -> TestClient:
    client = TestClient(app, follow_redirects=False, headers=headers)
    if key:
        client.cookies.set("llmpilot_session", key)
    return client


# ---- language -------------------------------------------------------------------------------


def test_both_languages_have_the_same_keys_and_no_empty_string() -> None:
    assert set(i18n.EN) == set(i18n.KO)
    assert all(value.strip() for lang in i18n.MESSAGES.values() for value in lang.values())


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("ko", "en", "en", "ko"),
        (None, "ko", "en", "ko"),
        ("fr", None, "ko-KR,ko;q=0.9,en-US;q=0.8", "ko"),
        (None, None, "en;q=0.4, ko;q=0.8", "ko"),
        (None, None, "fr-FR, en;q=0.5", "en"),
        (None, None, "ko;q=0", "en"),
        (None, None, None, "en"),
        (None, "xx", "de", "en"),
    ],
)
def test_pick_lang_order(query: str | None, cookie: str | None, accept: str | None, expected: str) -> None:
    assert i18n.pick_lang(query, cookie, accept) == expected


def test_every_string_the_scripts_ask_for_exists_in_both_languages() -> None:
    used = set()
    for script in STATIC_DIR.glob("*.js"):
        used |= set(re.findall(r"\bt\(\"(\w+)\"", script.read_text(encoding="utf-8")))
    assert {"thinking", "thumbs_down", "correction_submit", "abstained"} <= used
    for lang in i18n.LANGS:
        assert used <= set(i18n.script_messages(lang)), lang


def test_chat_flags_unsupported_sentences_in_both_languages() -> None:
    chat = (STATIC_DIR / "chat.js").read_text(encoding="utf-8")
    # The done event's sentence-support fields are read and shown through t(...) strings.
    for needle in ("data.unsupported_sentences", "data.unsupported_text", 't("unsupported_sentences")'):
        assert needle in chat
    for lang in i18n.LANGS:
        strings = i18n.script_messages(lang)
        assert strings["unsupported_sentences"] != strings["unsupported"]
        assert strings["unsupported_answer"].strip()


def test_scripts_never_build_html_from_strings() -> None:
    for script in STATIC_DIR.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"


# ---- pages ----------------------------------------------------------------------------------


def test_pages_need_a_session(app_calls: tuple[FastAPI, dict[str, int]]) -> None:
    client = client_for(app_calls[0])
    for path in ("/", "/admin", "/admin/traces/t-1"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=%2F")


@pytest.mark.parametrize(
    ("params", "headers", "lang", "expected"),
    [
        ({}, {}, "en", "Paste the API key"),
        ({"lang": "ko"}, {}, "ko", "API 키"),
        ({}, {"accept-language": "ko-KR,ko;q=0.9"}, "ko", "로그인"),
        ({"lang": "en"}, {"accept-language": "ko"}, "en", "Sign in"),
    ],
)
def test_login_page_in_both_languages(
    app_calls: tuple[FastAPI, dict[str, int]],
    params: dict[str, str],
    headers: dict[str, str],
    lang: str,
    expected: str,
) -> None:
    response = client_for(app_calls[0], **headers).get("/login", params=params)
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.text
    assert expected in response.text
    assert '<label for="api-key">' in response.text
    if "lang" in params:
        assert response.cookies.get(i18n.LANG_COOKIE) == params["lang"]


def test_language_choice_is_remembered_by_cookie(app_calls: tuple[FastAPI, dict[str, int]]) -> None:
    client = client_for(app_calls[0], "k-user")
    assert '<html lang="ko">' in client.get("/", params={"lang": "ko"}).text
    page = client.get("/").text  # no ?lang=: the cookie set above decides
    assert '<html lang="ko">' in page and "문서에 질문하기" in page


def test_login_redirects_when_already_signed_in_and_refuses_offsite_next(
    app_calls: tuple[FastAPI, dict[str, int]],
) -> None:
    response = client_for(app_calls[0], "k-user").get("/login", params={"next": "//evil.example"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert safe_next("/admin") == "/admin"
    assert safe_next("https://evil.example") == "/" and safe_next("/\\evil") == "/" and safe_next(None) == "/"


@pytest.mark.parametrize(
    ("lang", "title", "label"),
    [("en", "Ask your documents", "Your question"), ("ko", "문서에 질문하기", "질문")],
)
def test_chat_page_in_both_languages(
    app_calls: tuple[FastAPI, dict[str, int]], lang: str, title: str, label: str
) -> None:
    response = client_for(app_calls[0], "k-user").get("/", params={"lang": lang})
    assert response.status_code == 200
    page = response.text
    assert title in page
    assert f'<label for="question" class="ask-label">{label}</label>' in page
    assert 'role="log" aria-live="polite"' in page
    assert 'href="/admin"' not in page  # a user gets no admin link
    assert "/ui-static/chat.js" in page
    # The script's strings travel as JSON in a non-executed script element.
    assert 'type="application/json" id="ui-messages"' in page
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_admin_gets_the_admin_link(app_calls: tuple[FastAPI, dict[str, int]]) -> None:
    assert 'href="/admin"' in client_for(app_calls[0], "k-admin").get("/").text


@pytest.mark.parametrize(("lang", "message"), [("en", "Admins only"), ("ko", "관리자 전용")])
def test_admin_pages_refuse_users_clearly(
    app_calls: tuple[FastAPI, dict[str, int]], lang: str, message: str
) -> None:
    app, calls = app_calls
    client = client_for(app, "k-user")
    for path in ("/admin", "/admin/traces/t-1"):
        response = client.get(path, params={"lang": lang})
        assert response.status_code == 403
        assert message in response.text and "user" in response.text
    assert calls["traces"] == 0  # refused before any admin data is asked for


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_admin_page_shows_traces_feedback_and_reports(
    app_calls: tuple[FastAPI, dict[str, int]], lang: str
) -> None:
    response = client_for(app_calls[0], "k-admin").get("/admin", params={"lang": lang})
    assert response.status_code == 200
    page = response.text
    t = i18n.MESSAGES[lang]
    for key in ("traces_title", "feedback_title", "reports_title", "stage_retrieve", "stage_generate"):
        assert t[key] in page
    # Hostile text from the store is escaped, never markup.
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;/td&gt;" in page
    # Latency bars are drawn against the longest stage on the page (400 ms).
    assert '<rect class="lat-fill" width="2.5"' in page and '<rect class="lat-fill" width="100.0"' in page
    assert 'href="/admin/traces/t-1"' in page
    assert "2023-11-14 22:13:20" in page and "2026-01-02 03:04:05" in page
    assert 'href="/reports/opt/report.html"' in page and "evil.example" not in page
    assert "80%" in page


def test_admin_page_survives_a_failing_endpoint() -> None:
    app, _ = fake_api(traces_status=500)
    response = client_for(app, "k-admin").get("/admin")
    assert response.status_code == 200
    assert "Could not load Recent traces: store unavailable" in response.text
    assert "Feedback inbox" in response.text


def test_trace_detail_and_missing_trace(app_calls: tuple[FastAPI, dict[str, int]]) -> None:
    client = client_for(app_calls[0], "k-admin")
    page = client.get("/admin/traces/t-1", params={"lang": "ko"}).text
    for text in ("인용", "검색된 출처", "10년 보증", "warranty.md", "열두 해", "보증 기간은 10년입니다 [1]."):
        assert text in page
    missing = client.get("/admin/traces/nope")
    assert missing.status_code == 404 and "해당 트레이스가 없습니다." in missing.text  # ko remembered


def test_static_files_are_served(app_calls: tuple[FastAPI, dict[str, int]]) -> None:
    client = client_for(app_calls[0])
    for name, kind in (("chat.js", "javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")):
        response = client.get(f"/ui-static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_css_has_hangul_fallback_and_no_external_resources() -> None:
    css = (STATIC_DIR / "app.css").read_text(encoding="utf-8")
    assert '"Noto Sans CJK KR"' in css and '"Malgun Gothic"' in css
    for path in [*STATIC_DIR.iterdir(), *Path(STATIC_DIR.parent / "templates").iterdir()]:
        assert not re.search(
            r"(?:src|href)=\"https?://|url\(https?://|@import", path.read_text(encoding="utf-8")
        )


# ---- view helpers ---------------------------------------------------------------------------


def test_rows_come_from_the_api_schemas() -> None:
    traces = TraceList.model_validate(
        {
            "items": [
                {
                    "trace_id": "x",
                    "created_at": None,
                    "collection": "c",
                    "question": "q",
                    "answer": "a",
                    "abstained": False,
                    "confidence": float("nan"),
                    "latency_ms": {"retrieve": 1.5, "generate": 0.0, "total": float("inf")},
                    "n_feedback": 2,
                }
            ]
        }
    )
    rows = trace_rows(traces)
    assert len(rows) == 1 and rows[0]["n_feedback"] == 2
    # Non-finite numbers are not drawn as bars or percentages.
    assert rows[0]["confidence"] is None and rows[0]["latency"] == {
        "retrieve": 1.5,
        "generate": 0.0,
        "total": None,
    }
    assert latency_scale(rows) == 1.5
    assert trace_rows(None) == []
    assert report_rows(ReportList.model_validate({"items": [{"name": "x", "url": "//evil"}]})) == []
    with pytest.raises(ValidationError):  # an odd API answer is refused, not half-shown
        TraceList.model_validate({"items": [{"trace_id": "x", "latency_ms": "n/a"}, "junk"]})
    assert fmt_time("not a date") == "not a date" and fmt_time(None) == ""
    assert fmt_pct(1.7) == "100%" and fmt_pct(None) == ""


# ---- the browser scripts under node (skipped without it) -----------------------------------

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")

SSE_STREAM = (
    ": keep-alive comment\n\n"
    'event: meta\ndata: {"trace_id": "t-1", "sources": []}\n\n'
    'event: delta\r\ndata: {"text": "보증은 "}\r\n\r\n'
    "id: 3\nretry: 1000\nevent: delta\ndata: first line\ndata: second line\n\n"
    'event: done\ndata: {"answer": "보증은 10년 [1]"}\n\n'
    "event: delta\ndata: unfinished"
)


@needs_node
def test_scripts_parse_as_javascript() -> None:
    for script in STATIC_DIR.glob("*.js"):
        proc = subprocess.run([str(NODE), "--check", str(script)], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"{script.name}: {proc.stderr}"


@needs_node
def test_sse_parser_gives_the_same_events_for_any_chunking() -> None:
    # Feed the stream whole, and cut at every position into two chunks (as network reads may).
    program = f"""
    const {{ parseEvents }} = require({json.dumps(str(STATIC_DIR / "sse.js"))});
    const stream = {json.dumps(SSE_STREAM)};
    const runs = [];
    for (let cut = 0; cut <= stream.length; cut++) {{
      let buffer = "", events = [], got;
      for (const chunk of [stream.slice(0, cut), stream.slice(cut)]) {{
        [got, buffer] = parseEvents(buffer + chunk);
        events = events.concat(got);
      }}
      runs.push({{ events, rest: buffer }});
    }}
    console.log(JSON.stringify(runs));
    """
    proc = subprocess.run([str(NODE), "-e", program], capture_output=True, text=True, timeout=30, check=True)
    runs = json.loads(proc.stdout)
    assert len(runs) == len(SSE_STREAM) + 1
    expected = [
        {"name": "meta", "data": '{"trace_id": "t-1", "sources": []}'},
        {"name": "delta", "data": '{"text": "보증은 "}'},
        {"name": "delta", "data": "first line\nsecond line"},
        {"name": "done", "data": '{"answer": "보증은 10년 [1]"}'},
    ]
    for run in runs:
        assert run == {"events": expected, "rest": "event: delta\ndata: unfinished"}


@needs_node
def test_snippet_highlights_split_by_code_point_and_ignore_bad_spans() -> None:
    # The server's spans count code points (Python offsets); JS strings count UTF-16 units, so an
    # emoji before a term would shift a naive slice by one.
    cases = [
        ("…반품 기간은 14일입니다", [[1, 3], [4, 6]]),
        ("\U0001f600 warranty <b>&amp;</b>", [[2, 10]]),
        ("보증 10년", [[0, 2], [1, 3], [5, 9], [-1, 1], [2, 2], "x", [0.5, 1], None]),
        ("보증 10년", "not a list"),
        ("", []),
    ]
    program = f"""
    const {{ segments }} = require({json.dumps(str(STATIC_DIR / "highlight.js"))});
    console.log(JSON.stringify({json.dumps(cases)}.map(([text, spans]) => segments(text, spans))));
    """
    proc = subprocess.run([str(NODE), "-e", program], capture_output=True, text=True, timeout=30, check=True)
    got = json.loads(proc.stdout)
    assert got == [
        [
            {"text": "…", "mark": False},
            {"text": "반품", "mark": True},
            {"text": " ", "mark": False},
            {"text": "기간", "mark": True},
            {"text": "은 14일입니다", "mark": False},
        ],
        [
            {"text": "\U0001f600 ", "mark": False},
            {"text": "warranty", "mark": True},
            {"text": " <b>&amp;</b>", "mark": False},  # text, to become a text node
        ],
        # Overlapping, empty, out-of-range, non-integer and malformed spans are skipped.
        [{"text": "보증", "mark": True}, {"text": " 10년", "mark": False}],
        [{"text": "보증 10년", "mark": False}],
        [{"text": "", "mark": False}],
    ]


def test_chat_page_loads_the_highlighter_before_the_chat_script(
    app_calls: tuple[FastAPI, dict[str, int]],
) -> None:
    page = client_for(app_calls[0], "k-user").get("/").text
    scripts = re.findall(r'<script src="/ui-static/(\w+)\.js" defer></script>', page)
    assert scripts.index("highlight") < scripts.index("chat")
    chat = (STATIC_DIR / "chat.js").read_text(encoding="utf-8")
    assert "highlightNodes(c.snippet" in chat  # the chip's snippet goes through the highlighter
    highlighter = (STATIC_DIR / "highlight.js").read_text(encoding="utf-8")
    assert 'createElement("mark")' in highlighter and "textContent" in highlighter
