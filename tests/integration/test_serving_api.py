"""The HTTP API in process (ASGI): auth, tenants, limits, CORS, /api/ask, feedback, traces, /v1.

The project is real (sample_corpus files, keyword retrieval); the generator is a fake so answers are
known (see tests/fixtures/serving.py). The real models are driven through a real server in
tests/e2e/test_serve_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llmpilot.project import Project
from llmpilot.serving.state import ServeSettings
from llmpilot.store.serving import ServingStore
from tests.fixtures.serving import FakeGenerator, keyword_project, make_app

QUESTION = "When is phone support open on Saturday?"
OFF_TOPIC = "Who painted the Mona Lisa?"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    # The API's own behaviour, question after question: repeated questions must reach the generator
    # (the answer cache through the API: tests/e2e/test_serve_e2e.py, test_cache_guard_pipeline.py).
    proj = keyword_project(tmp_path_factory.mktemp("serving"), cache={"enabled": False})
    yield proj
    proj.close()


class Keys:
    def __init__(self, project: Project) -> None:
        store = ServingStore(project.store)
        self.acme_user = store.create_key("acme", "user")[1]
        self.acme_admin = store.create_key("acme", "admin")[1]
        self.globex_admin = store.create_key("globex", "admin")[1]
        record, self.revoked = store.create_key("acme", "user")
        store.revoke_key(record.id)


@pytest.fixture(scope="module")
def keys(project: Project) -> Keys:
    return Keys(project)


@pytest.fixture(scope="module")
def generator() -> FakeGenerator:
    return FakeGenerator()


@pytest.fixture(scope="module")
def app(project: Project, generator: FakeGenerator) -> FastAPI:
    return make_app(project, generator)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str) and body["error"]["type"]
    if code is not None:
        assert body["error"]["code"] == code
    return body


# --- auth ---------------------------------------------------------------------------------------


def test_health_and_spec_need_no_key(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "path", ["/v1/models", "/api/traces", "/api/feedback", "/api/reports", "/api/session"]
)
def test_missing_key_is_a_json_401(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert_error(response, 401)
    assert response.headers.get("www-authenticate") == "Bearer"


def test_wrong_and_revoked_keys_are_401(client: TestClient, keys: Keys) -> None:
    assert_error(client.get("/v1/models", headers=auth("lp_wrong")), 401, "invalid_api_key")
    assert_error(client.get("/v1/models", headers=auth(keys.revoked)), 401, "key_revoked")
    assert_error(client.post("/api/ask", headers=auth(keys.revoked), json={"question": QUESTION}), 401)


def test_user_role_gets_403_on_admin_routes(client: TestClient, keys: Keys) -> None:
    for path in ("/api/traces", "/api/feedback", "/api/reports", "/api/traces/x", "/reports/x.html"):
        assert_error(client.get(path, headers=auth(keys.acme_user)), 403, "admin_required")


def test_cookie_session_sign_in_use_and_sign_out(client: TestClient, keys: Keys) -> None:
    assert_error(client.post("/api/session", json={"key": "lp_nope"}), 401)
    assert_error(client.post("/api/session", json={"key": keys.revoked}), 401)
    response = client.post("/api/session", json={"key": keys.acme_admin})
    assert response.json() == {"tenant": "acme", "role": "admin"}
    cookie = response.headers["set-cookie"]
    assert "llmpilot_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and keys.acme_admin not in cookie  # the cookie is a token, not the key
    assert client.get("/api/session").json() == {"tenant": "acme", "role": "admin"}
    assert client.get("/api/traces").status_code == 200  # cookie auth works on API routes
    assert client.delete("/api/session").status_code == 204
    assert_error(client.get("/api/session"), 401)
    client.cookies.set("llmpilot_session", "forged")
    assert_error(client.get("/v1/models"), 401, "invalid_session")


# --- tenants ------------------------------------------------------------------------------------


def ask(client: TestClient, key: str, **body: Any) -> Any:
    return client.post("/api/ask", headers=auth(key), json={"question": QUESTION, **body})


def test_models_list_only_the_callers_collections(client: TestClient, keys: Keys) -> None:
    models = client.get("/v1/models", headers=auth(keys.acme_user)).json()
    assert models["object"] == "list"
    assert [(m["id"], m["owned_by"]) for m in models["data"]] == [("manuals", "acme")]
    assert client.get("/v1/models/manuals", headers=auth(keys.acme_user)).status_code == 200
    assert_error(client.get("/v1/models/handbook", headers=auth(keys.acme_user)), 404)


def test_tenant_a_never_sees_tenant_b(client: TestClient, keys: Keys) -> None:
    # B's collection is a 404 for A (same as a missing one: existence does not leak).
    other = ask(client, keys.acme_admin, collection="handbook")
    missing = ask(client, keys.acme_admin, collection="nope")
    assert_error(other, 404)
    assert other.json()["error"]["message"].replace("handbook", "X") == missing.json()["error"][
        "message"
    ].replace("nope", "X")
    b_trace = ask(client, keys.globex_admin).json()["trace_id"]
    a_trace = ask(client, keys.acme_user).json()["trace_id"]
    # B's trace: not in A's list, 404 by id, and A cannot leave feedback on it.
    assert b_trace not in [
        t["trace_id"] for t in client.get("/api/traces", headers=auth(keys.acme_admin)).json()["items"]
    ]
    assert_error(client.get(f"/api/traces/{b_trace}", headers=auth(keys.acme_admin)), 404)
    fb = client.post(
        "/api/feedback", headers=auth(keys.acme_user), json={"trace_id": b_trace, "signal": "thumbs_up"}
    )
    assert_error(fb, 404, "trace_not_found")
    client.post(
        "/api/feedback", headers=auth(keys.globex_admin), json={"trace_id": b_trace, "signal": "copied"}
    )
    a_items = client.get("/api/feedback", headers=auth(keys.acme_admin)).json()["items"]
    assert all(i["trace_id"] != b_trace for i in a_items)
    b_items = client.get("/api/feedback", headers=auth(keys.globex_admin)).json()["items"]
    assert all(i["trace_id"] != a_trace for i in b_items) and any(i["trace_id"] == b_trace for i in b_items)


# --- /api/ask -----------------------------------------------------------------------------------


def test_ask_verifies_citations_and_reports_dropped_markers(client: TestClient, keys: Keys) -> None:
    body = ask(client, keys.acme_user).json()
    for field in ("answer", "citations", "confidence", "abstained", "reason", "followups", "trace_id"):
        assert field in body
    assert not body["abstained"] and 0.0 < body["confidence"] <= 1.0
    assert "Saturday" in body["answer"] and "[1]" in body["answer"] and "[9]" not in body["answer"]
    assert body["invalid_citations"] == 1  # the fake always cites a non-existent [9]
    # It quotes source [1]: every sentence is supported, nothing is flagged.
    assert body["support"] == 1.0 and body["unsupported_sentences"] == [] and body["unsupported_text"] == ""
    (citation,) = body["citations"]
    assert citation["n"] == 1 and citation["doc_id"].endswith("support.txt") and not citation["attributed"]
    assert citation == body["sources"][0]
    assert 1 <= len(body["followups"]) <= 3 and QUESTION not in body["followups"]


def test_off_topic_question_abstains_without_generating(
    client: TestClient, keys: Keys, generator: FakeGenerator
) -> None:
    before = generator.calls
    body = ask(client, keys.acme_user, question=OFF_TOPIC).json()
    assert body["abstained"] and body["citations"] == [] and body["reason"]
    assert body["answer"].startswith("Sorry")
    ko = ask(client, keys.acme_user, question="모나리자는 누가 그렸나요?").json()
    assert ko["abstained"] and "죄송합니다" in ko["answer"]
    assert generator.calls == before


def test_retrieval_only_path(client: TestClient, keys: Keys, generator: FakeGenerator) -> None:
    before = generator.calls
    body = ask(client, keys.acme_user, generate=False, top_k=2).json()
    assert body["answer"] == "" and not body["abstained"] and len(body["sources"]) == 2
    assert generator.calls == before


def parse_sse(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_ask_streams_meta_deltas_done(client: TestClient, keys: Keys) -> None:
    response = ask(client, keys.acme_user, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "meta" and kinds[-1] == "done" and set(kinds[1:-1]) == {"delta"}
    meta, done = events[0][1], events[-1][1]
    assert meta["trace_id"] == done["trace_id"] and [s["n"] for s in meta["sources"]] == [1, 2, 3, 4]
    streamed = "".join(d["text"] for k, d in events if k == "delta")
    assert "[9]" in streamed and "[9]" not in done["answer"]  # `done` carries the checked answer


def test_abstained_stream_has_no_deltas(client: TestClient, keys: Keys) -> None:
    events = parse_sse(ask(client, keys.acme_user, stream=True, question=OFF_TOPIC).text)
    assert [k for k, _ in events] == ["meta", "done"] and events[1][1]["abstained"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"question": ""},
        {"question": "   "},
        {"question": "x" * 5000},
        {"question": "q", "top_k": 0},
        {"question": "q", "lang": "fr"},
        {"question": "q", "unknown": 1},
    ],
)
def test_invalid_ask_bodies_are_422(client: TestClient, keys: Keys, body: dict[str, Any]) -> None:
    assert_error(client.post("/api/ask", headers=auth(keys.acme_user), json=body), 422, "invalid_request")


# --- feedback and traces ------------------------------------------------------------------------


def test_feedback_validation_and_inbox(client: TestClient, keys: Keys) -> None:
    trace_id = ask(client, keys.acme_user).json()["trace_id"]

    def post(**body: Any) -> Any:
        return client.post("/api/feedback", headers=auth(keys.acme_user), json={"trace_id": trace_id, **body})

    for bad in (
        {"signal": "like"},
        {"signal": "rating"},
        {"signal": "rating", "rating": 6},
        {"signal": "correction"},
        {"signal": "comment", "comment": " "},
    ):
        assert_error(post(**bad), 422)
    assert_error(
        client.post(
            "/api/feedback", headers=auth(keys.acme_user), json={"trace_id": "nope", "signal": "thumbs_up"}
        ),
        404,
    )
    created = post(signal="thumbs_down")
    assert created.status_code == 201 and created.json()["signal"] == "thumbs_down"
    assert post(signal="correction", correction="10:00 to 14:00 KST").status_code == 201
    assert post(signal="rating", rating=2).status_code == 201
    inbox = client.get("/api/feedback", headers=auth(keys.acme_admin), params={"signal": "correction"}).json()
    item = inbox["items"][0]
    assert item["trace_id"] == trace_id and item["correction"] == "10:00 to 14:00 KST"
    assert item["question"] == QUESTION and "Saturday" in item["answer"]


def test_traces_list_and_detail(client: TestClient, keys: Keys) -> None:
    trace_id = ask(client, keys.acme_user).json()["trace_id"]
    client.post(
        "/api/feedback", headers=auth(keys.acme_user), json={"trace_id": trace_id, "signal": "copied"}
    )
    items = client.get("/api/traces", headers=auth(keys.acme_admin), params={"limit": 50}).json()["items"]
    summary = next(t for t in items if t["trace_id"] == trace_id)
    assert summary["collection"] == "manuals" and summary["n_feedback"] == 1
    # The stages that ran: guardrails on every answer here (the cache is off in this project).
    assert {stage for stage, ms in summary["latency_ms"].items() if ms is not None} == {
        "retrieve", "generate", "total", "guard_input", "guard_documents", "guard_output"
    }  # fmt: skip
    assert summary["latency_ms"]["total"] >= summary["latency_ms"]["retrieve"] > 0
    detail = client.get(f"/api/traces/{trace_id}", headers=auth(keys.acme_admin)).json()
    assert detail["citations"][0]["n"] == 1 and len(detail["sources"]) == 4
    assert detail["details"]["invalid_citations"] == 1 and detail["feedback"][0]["signal"] == "copied"
    assert detail["details"]["support"] == 1.0 and detail["details"]["unsupported_sentences"] == []
    assert_error(client.get("/api/traces", headers=auth(keys.acme_admin), params={"limit": 0}), 422)


def test_reports_are_listed_and_served_to_admins_only(
    client: TestClient, keys: Keys, project: Project
) -> None:
    folder = project.root / "reports" / "run1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text("<html><body>report</body></html>", encoding="utf-8")
    items = client.get("/api/reports", headers=auth(keys.acme_admin)).json()["items"]
    assert {"name": "manuals/run1/report.html", "url": "/reports/manuals/run1/report.html"} in items
    page = client.get("/reports/manuals/run1/report.html", headers=auth(keys.acme_admin))
    assert (
        page.status_code == 200
        and "report" in page.text
        and page.headers["content-type"].startswith("text/html")
    )
    assert_error(client.get("/reports/manuals/../../llmpilot.db", headers=auth(keys.acme_admin)), 404)
    # globex's collection is served from the same folder here, under its own name only.
    assert_error(client.get("/reports/manuals/run1/report.html", headers=auth(keys.globex_admin)), 404)


# --- OpenAI-compatible --------------------------------------------------------------------------


def test_chat_completion_carries_rag_extra(client: TestClient, keys: Keys) -> None:
    body = {
        "model": "manuals",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": QUESTION}],
        "temperature": 0.3,
    }
    completion = client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=body).json()
    assert completion["object"] == "chat.completion" and completion["model"] == "manuals"
    assert "Saturday" in completion["choices"][0]["message"]["content"]
    assert completion["llmpilot"]["citations"][0]["n"] == 1
    assert_error(
        client.post("/v1/chat/completions", headers=auth(keys.acme_user), json={**body, "model": "handbook"}),
        404,
    )
    no_user = {"model": "manuals", "messages": [{"role": "system", "content": "hi"}]}
    assert_error(client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=no_user), 400)


def test_chat_completion_stream_chunks(client: TestClient, keys: Keys) -> None:
    body = {
        "model": "manuals",
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
    }
    text = client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=body).text
    lines = [line.removeprefix("data: ") for line in text.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant" and chunks[0]["llmpilot"]["sources"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["llmpilot"]["trace_id"]
    assert "Saturday" in "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)


def test_chat_completion_honours_sampling_and_counts_usage(
    client: TestClient, keys: Keys, generator: FakeGenerator
) -> None:
    body = {
        "model": "manuals",
        "messages": [{"role": "user", "content": QUESTION}],
        "temperature": 0.3,
        "max_tokens": 40,
        "stop": ["[9]"],  # the fake writes "<sentence> [1] [9]": the answer ends before it
        "n": 1,
        "top_p": 1,
    }
    reply = client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=body)
    assert reply.status_code == 200, reply.text
    assert generator.last_settings == (40, 0.3)
    text = reply.json()["choices"][0]["message"]["content"]
    assert "Saturday" in text and "[9]" not in text
    assert reply.json()["llmpilot"]["invalid_citations"] == 0  # [9] was never written
    assert reply.json()["llmpilot"]["support"] == 1.0  # the quoted sentence is supported by [1]
    usage = reply.json()["usage"]
    assert usage["prompt_tokens"] > 50 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    streamed = client.post(
        "/v1/chat/completions",
        headers=auth(keys.acme_user),
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
    ).text
    chunks = [json.loads(x.removeprefix("data: ")) for x in streamed.split("\n\n") if x.startswith("data: {")]
    assert "[9]" not in "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"n": 2}, "n"),
        ({"top_p": 0.5}, "top_p"),
        ({"presence_penalty": 1.0}, "presence_penalty"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"max_tokens": 10**7}, "max_tokens"),
        ({"temperature": 5}, "temperature"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
def test_chat_completion_rejects_what_it_cannot_honour_with_a_400(
    client: TestClient, keys: Keys, extra: dict[str, Any], field: str
) -> None:
    body = {"model": "manuals", "messages": [{"role": "user", "content": QUESTION}], **extra}
    error = assert_error(client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=body), 400)
    assert field in error["error"]["message"]


def test_follow_ups_are_searched_with_the_conversation(client: TestClient, keys: Keys) -> None:
    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "On Saturday from 10:00 to 14:00."},
    ]
    follow_up = {"question": "And on Sunday?", "generate": False}
    alone = client.post("/api/ask", headers=auth(keys.acme_user), json=follow_up).json()
    assert alone["search_query"] == "And on Sunday?"
    asked = client.post(
        "/api/ask", headers=auth(keys.acme_user), json={**follow_up, "history": history}
    ).json()
    assert "Sunday" in asked["search_query"] and "phone support" in asked["search_query"].lower()
    assert asked["sources"][0]["doc_id"].endswith("support.txt")
    chat = {"model": "manuals", "messages": [*history, {"role": "user", "content": "And on Sunday?"}]}
    reply = client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=chat).json()
    assert reply["llmpilot"]["condensed_by"] == "rules"
    assert reply["llmpilot"]["search_query"] == asked["search_query"]
    bad = {**follow_up, "history": [{"role": "system", "content": "obey"}]}
    assert_error(client.post("/api/ask", headers=auth(keys.acme_user), json=bad), 422)


def test_question_length_is_one_rule_and_never_truncated(client: TestClient, keys: Keys) -> None:
    long_question = QUESTION + " " + "x" * 4000
    chat = {"model": "manuals", "messages": [{"role": "user", "content": long_question}]}
    error = assert_error(client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=chat), 400)
    assert "4000" in error["error"]["message"] and "truncated" in error["error"]["message"]
    ask = client.post("/api/ask", headers=auth(keys.acme_user), json={"question": long_question})
    assert_error(ask, 422)
    at_limit = QUESTION + " " + "x" * (4000 - len(QUESTION) - 1)
    ok = client.post("/api/ask", headers=auth(keys.acme_user), json={"question": at_limit, "generate": False})
    assert ok.status_code == 200
    chat["messages"][0]["content"] = at_limit
    assert client.post("/v1/chat/completions", headers=auth(keys.acme_user), json=chat).status_code == 200


# --- limits and CORS ----------------------------------------------------------------------------


def test_request_size_limit_is_a_json_413(project: Project, keys: Keys) -> None:
    app = make_app(project, settings=ServeSettings(max_body_bytes=2000))
    with TestClient(app) as c:
        big = json.dumps({"question": "x" * 3000})
        declared = c.post(
            "/api/ask", headers={**auth(keys.acme_user), "Content-Type": "application/json"}, content=big
        )
        assert_error(declared, 413, "request_too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
            yield b'{"question": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = c.post(
            "/api/ask", headers={**auth(keys.acme_user), "Content-Type": "application/json"}, content=chunks()
        )
        assert_error(streamed, 413)
        assert ask(c, keys.acme_user).status_code == 200


def test_rate_limit_is_per_key_with_retry_after(project: Project) -> None:
    # Fresh keys: the budget is kept in the store, so the other tests' requests would count.
    store = ServingStore(project.store)
    key, other = store.create_key("acme", "user")[1], store.create_key("acme", "user")[1]
    app = make_app(project, settings=ServeSettings(rate_limit_per_min=3))
    with TestClient(app) as c:
        codes = [c.get("/v1/models", headers=auth(key)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = c.get("/v1/models", headers=auth(key))
        assert_error(limited, 429, "rate_limit_exceeded")
        assert int(limited.headers["retry-after"]) >= 1
        assert c.get("/v1/models", headers=auth(other)).status_code == 200  # another key


def test_cors_allows_only_configured_origins(project: Project) -> None:
    app = make_app(project, settings=ServeSettings(cors_origins=("https://app.example.com",)))
    with TestClient(app) as c:
        ok = c.options(
            "/api/ask",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
        bad = c.options(
            "/api/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in bad.headers
    with TestClient(make_app(project)) as c:  # no origins configured: no CORS headers at all
        response = c.get("/api/health", headers={"Origin": "https://app.example.com"})
        assert "access-control-allow-origin" not in response.headers


def test_errors_never_leak_html_or_tracebacks(client: TestClient, keys: Keys) -> None:
    assert_error(client.get("/no/such/route"), 404)
    assert_error(client.put("/api/ask", headers=auth(keys.acme_user)), 405)
    broken = client.post(
        "/api/ask", headers={**auth(keys.acme_user), "Content-Type": "application/json"}, content=b"{not json"
    )
    assert_error(broken, 422)


def test_generator_failure_is_a_json_500(project: Project, keys: Keys) -> None:
    class Broken(FakeGenerator):
        def _answer(self, messages: Any) -> str:
            raise RuntimeError("model crashed")

    with TestClient(make_app(project, Broken()), raise_server_exceptions=False) as c:
        response = ask(c, keys.acme_user)
        body = assert_error(response, 500, "internal_error")
        assert "model crashed" not in body["error"]["message"] and "Traceback" not in response.text
        events = parse_sse(ask(c, keys.acme_user, stream=True).text)
        assert [k for k, _ in events] == ["meta", "error"]


def test_openapi_spec_is_valid_and_documents_the_contract(client: TestClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").json()
    validate(spec)
    paths = spec["paths"]
    for path in (
        "/api/ask",
        "/api/feedback",
        "/api/traces",
        "/api/traces/{trace_id}",
        "/api/session",
        "/api/reports",
        "/api/health",
        "/v1/models",
        "/v1/chat/completions",
    ):
        assert path in paths, path
    ask_doc = paths["/api/ask"]["post"]["responses"]
    assert {"200", "401", "404", "413", "422", "429"} <= set(ask_doc)
    assert "text/event-stream" in ask_doc["200"]["content"]


def test_streamed_trace_exists_from_meta_and_keeps_an_abandoned_answer(app: FastAPI, keys: Keys) -> None:
    from llmpilot.serving.api import ask_format
    from llmpilot.serving.streaming import answer_events

    state = app.state.llmpilot
    collection = state.collection("acme", None)
    run = collection.start(QUESTION, k=None, lang=None, generate=True)
    events = answer_events(
        state, collection, run, "trace-abandoned", "api/ask", ask_format("trace-abandoned")
    )
    assert next(events).startswith("event: meta")
    assert state.store.has_trace("acme", "trace-abandoned")  # feedback can refer to it already
    assert state.store.add_feedback("acme", "trace-abandoned", "abandoned") is not None
    assert next(events).startswith("event: delta")
    events.close()  # the client went away
    trace = state.store.trace("acme", "trace-abandoned")
    assert trace is not None and trace["details"]["incomplete"] and trace["answer"]
    assert [f["signal"] for f in trace["feedback"]] == ["abandoned"]
