"""Chat models behind any OpenAI-compatible server (registered as ``openai``).

`POST {base_url}/chat/completions`, plain or streamed as server-sent events (`data: {...}` lines
ending with `data: [DONE]`). Works with OpenAI, vLLM, llama.cpp's server and Ollama.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from llmpilot.config import GeneratorConfig
from llmpilot.embedding.openai_compat import (
    ApiClient,
    ServerResponseError,
    http_error,
    unreachable_message,
)
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.registry import generators


class OpenAIChatGenerator:
    def __init__(self, cfg: GeneratorConfig) -> None:
        if not cfg.base_url:
            raise ConfigError(
                "generator.base_url is required for the openai generator (e.g. http://localhost:8000/v1)"
            )
        if not cfg.model:
            raise ConfigError(
                "generator.model is required for the openai generator (the server's model name; "
                "single-model servers such as llama.cpp accept any name)"
            )
        self.base_url = cfg.base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = cfg.model
        self.api_key_env = cfg.api_key_env
        self.seed = cfg.seed
        self.timeout_s = cfg.timeout_s
        self.model_id = f"openai:{self.model}@{self.base_url}"
        self._client = ApiClient(self.api_key_env, "generator.api_key_env", self.timeout_s)

    def _http(self) -> httpx.Client:
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def _payload(
        self, messages: Sequence[dict[str, str]], max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": self.seed,
            "stream": stream,
        }

    def _timeout(self, exc: Exception) -> ServerResponseError:
        return ServerResponseError(
            f"{self.url} did not answer within generator.timeout_s={self.timeout_s:g} s ({exc})"
        )

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        return self._complete(self._payload(messages, max_tokens, temperature, False))

    def generate_json(
        self,
        messages: Sequence[dict[str, str]],
        *,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float = 0.0,
    ) -> str:
        """A JSON text that `schema` admits, by the server's structured outputs (OpenAI, vLLM, llama.cpp's
        server); a server without them ignores or rejects `response_format` (the HTTP error says which)."""
        payload = self._payload(messages, max_tokens, temperature, False)
        payload["response_format"] = {
            "type": "json_schema",
            # Not strict: OpenAI's strict mode wants every property required and no maxLength/minItems,
            # which the plan schema's optional fields break; the reply is parsed and validated anyway.
            "json_schema": {"name": "plan", "schema": schema, "strict": False},
        }
        return self._complete(payload)

    def _complete(self, payload: dict[str, Any]) -> str:
        """POST one non-streamed chat completion; its message content."""
        try:
            response = self._http().post(self.url, json=payload)
        except httpx.TimeoutException as exc:
            raise self._timeout(exc) from None
        except httpx.TransportError as exc:
            raise ModelNotAvailableError(unreachable_message(self.url, exc, "generator")) from None
        if not response.is_success:
            raise http_error(self.url, response, "generator")
        try:
            content = response.json()["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ServerResponseError(
                f"{self.url}: not an OpenAI chat completion ({exc}): {response.text[:300]}"
            ) from None
        return str(content or "")

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        payload = self._payload(messages, max_tokens, temperature, True)
        try:
            with self._http().stream("POST", self.url, json=payload) as response:
                if not response.is_success:
                    raise http_error(self.url, response, "generator")
                yield from self._deltas(response)
        except httpx.TimeoutException as exc:
            raise self._timeout(exc) from None
        except httpx.TransportError as exc:
            raise ModelNotAvailableError(unreachable_message(self.url, exc, "generator")) from None

    def _deltas(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, `event:`/`id:` fields and `:` keep-alive comments
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise ServerResponseError(f"{self.url}: malformed stream event: {data[:300]}") from None
            if isinstance(event, dict) and "error" in event:
                err = event["error"]
                message = err.get("message", err) if isinstance(err, dict) else err
                raise ServerResponseError(f"{self.url} failed while streaming: {message}")
            try:
                choices = event["choices"]
                delta = choices[0].get("delta", {}).get("content") if choices else None
            except (KeyError, IndexError, TypeError, AttributeError):
                raise ServerResponseError(f"{self.url}: not a chat completion chunk: {data[:300]}") from None
            if delta:
                yield str(delta)
        # Every OpenAI-compatible server ends a complete answer with [DONE]; without it the
        # server failed mid-answer (llama-cpp-python does this on an over-long prompt).
        raise ServerResponseError(
            f"{self.url}: the answer stream ended without `data: [DONE]`; the server failed while "
            "answering (see its log)"
        )


@generators.register("openai")
def create_openai_chat(cfg: GeneratorConfig) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(cfg)
