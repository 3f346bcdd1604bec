"""`llmpilot serve` under the failures a hostile-user audit found, on a real uvicorn server with the
real SmolLM2 generator: clients that disconnect mid-stream must not hang generation for everyone,
SIGTERM must stop the server promptly, and the CLI must give the same answer as the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmpilot.answering import MESSAGES
from tests.conftest import free_port
from tests.e2e.test_serve_e2e import build_project as build_serve_project

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 180.0
QUESTION = "When is phone support open on Saturday?"
OFF_TOPIC = "What is the orbital period of Neptune's moon Triton?"


@dataclass
class Server:
    base_url: str
    key: str
    project: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmpilot", *args], capture_output=True, text=True, timeout=300
    )


def build_project(root: Path) -> Path:
    # Long answers, so a disconnect lands mid-generation.
    return build_serve_project(root, max_tokens=200, temperature=0.0)


def start_server(project: Path, root: Path) -> Server:
    made = cli("keys", "create", "--tenant", "default", "--role", "admin", "-p", str(project))
    assert made.returncode == 0, made.stderr
    port = free_port()
    log = root / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmpilot", "serve", "-p", str(project), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", made.stdout.strip(), project, proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"llmpilot serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/api/health", timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"llmpilot serve not up after {START_TIMEOUT_S:g} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="llmpilot-hostile-"))
    running = start_server(build_project(root), root)
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait(timeout=30)


def disconnect_after_first_delta(server: Server, route: str) -> bool:
    """Start a streamed answer, read until the first generated text arrives, then hang up.
    True when text was being generated at the moment of the disconnect."""
    if route == "api":
        url, body = f"{server.base_url}/api/ask", {"question": QUESTION, "stream": True}
        marker = "event: delta"
    else:
        url = f"{server.base_url}/v1/chat/completions"
        body = {"model": "manuals", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
        marker = '"content": "'
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", url, headers=server.headers, json=body) as r,
    ):
        assert r.status_code == 200
        seen = ""
        for line in r.iter_lines():
            seen += line
            if marker in line and '"content": ""' not in line:
                return "[DONE]" not in seen and "event: done" not in seen
    return False


def test_clients_that_hang_up_mid_stream_do_not_block_later_answers(server: Server) -> None:
    mid_generation = sum(disconnect_after_first_delta(server, ("api", "v1")[i % 2]) for i in range(20))
    assert mid_generation >= 15  # the disconnects really happened while the model was generating
    # A normal answer still comes (before the fix, the model's lock stayed held: this hung forever).
    response = httpx.post(
        f"{server.base_url}/api/ask", headers=server.headers, json={"question": QUESTION}, timeout=120
    )
    assert response.status_code == 200
    body = response.json()
    assert body["answer"] and not body["abstained"]


def test_cli_ask_gives_the_servers_answer(server: Server) -> None:
    retried = []
    for question in (QUESTION, OFF_TOPIC, "배터리 보증 기간은 몇 년인가요?"):
        served = httpx.post(
            f"{server.base_url}/api/ask", headers=server.headers, json={"question": question}, timeout=120
        ).json()
        local = cli("ask", "-p", str(server.project), question, "--json")
        assert local.returncode == 0, local.stderr
        mine = json.loads(local.stdout)
        for key in ("answer", "abstained", "reason", "unsupported_numbers", "lang", "retried", "fallback"):
            assert mine[key] == served[key], (question, key)
        assert [(c["n"], c["doc_id"]) for c in mine["citations"]] == [
            (c["n"], c["doc_id"]) for c in served["citations"]
        ]
        assert [s["doc_id"] for s in mine["sources"]] == [s["doc_id"] for s in served["sources"]]
        assert abs(mine["confidence"] - served["confidence"]) < 1e-9
        if question == OFF_TOPIC:  # off-topic: both abstain, nothing invented
            assert mine["abstained"] and mine["citations"] == []
        else:
            retried.append(served["retried"])
    # SmolLM2's first answers are weak: the policy's strict retry ran, in both paths alike.
    assert any(retried)


def test_a_follow_up_in_a_conversation_retrieves_with_its_history(server: Server) -> None:
    """What LangChain's ChatOpenAI sends for a two-turn chat, through the official openai client."""
    import openai

    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=server.key, max_retries=0, timeout=300)
    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "On Saturday phone support is open from 10:00 to 14:00."},
        {"role": "user", "content": "And on Sunday?"},
    ]
    reply = client.chat.completions.create(model="manuals", messages=history, max_tokens=24)  # type: ignore[arg-type]
    rag = (reply.model_extra or {})["llmpilot"]
    # Retrieval found support (no low-support abstention). SmolLM2's 24-token answer may still
    # abstain because none of its sentences is supported by the sources: intended (llmpilot.support).
    assert not rag["abstained"] or rag["reason"] == MESSAGES["unsupported"]["en"], rag["reason"]
    assert rag["condensed_by"] == "rules" and "Sunday" in rag["search_query"]
    assert "phone support" in rag["search_query"].lower()
    assert rag["sources"][0]["doc_id"].endswith("support.txt")
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    # Without the history the same follow-up has nothing to retrieve with.
    alone = client.chat.completions.create(
        model="manuals",
        messages=[history[-1]],
        max_tokens=8,  # type: ignore[list-item]
    )
    assert (alone.model_extra or {})["llmpilot"]["abstained"]


def test_sigterm_stops_the_server_within_10_s_even_mid_answer(server: Server) -> None:
    # An answer is streaming and its client is gone; another is in flight when SIGTERM arrives.
    disconnect_after_first_delta(server, "api")
    client = httpx.Client(timeout=60)
    body = {"question": QUESTION, "stream": True}
    with client.stream("POST", f"{server.base_url}/api/ask", headers=server.headers, json=body) as r:
        for line in r.iter_lines():
            if line.startswith("event: delta"):
                break
        started = time.monotonic()
        os.kill(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 10 s after SIGTERM:\n{server.log.read_text()[-2000:]}")
    client.close()
    assert time.monotonic() - started < 10
