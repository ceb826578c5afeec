"""``OpenAICompatClient``: any server that speaks OpenAI chat completions.

vLLM, SGLang, the llama.cpp server, Ollama, LM Studio and the Moat gateway all
do. Streaming (SSE) or not, native ``tools``/``tool_calls``, reasoning kept
apart from the answer, usage, and retries with backoff on 429 (honouring
Retry-After), 5xx, timeouts and dropped connections. Each retry is reported as
a ``Retrying`` delta. HTTP goes through the ``httpx.Client`` it is given, which
the CLI builds behind the egress guard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx

from moatcode.errors import (
    ContextLengthExceeded,
    ModelAuthError,
    ModelProtocolError,
    ModelUnreachable,
    UnknownModel,
)
from moatcode.models._assemble import TurnAssembler, parse_usage
from moatcode.models._body import encode_request
from moatcode.models._context import probe_context_window
from moatcode.models._retry import (
    Backoff,
    Retryable,
    describe_error,
    dump_short_json,
    raise_if_retryable,
    read_error_message,
    run_with_retries,
    transport_failures,
)
from moatcode.models._sse import SSEFormatError, iter_sse_data
from moatcode.models.base import (
    ModelDelta,
    ModelRequest,
    ModelTurn,
    ReasoningChunk,
    RequestSent,
    TextChunk,
)

log = logging.getLogger(__name__)

_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too many tokens",
                  "exceeds the context", "prompt is too long", "context_length_exceeded")


class OpenAICompatClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        http: httpx.Client,
        *,
        stream: bool = True,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        context_window: int | None = None,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._model = model
        self._http = http
        self._stream = stream
        self._backoff = Backoff(max_retries, backoff_s, max_backoff_s)
        self._context_window = context_window
        self._window_probed = context_window is not None
        self._extra_body = extra_body
        self._sleep = sleep
        self._answered = False  # has the server ever answered this session?
        self._turns = 0

    @property
    def endpoint(self) -> str:
        return f"{self._base_url}/chat/completions"

    @property
    def model(self) -> str:
        return self._model

    def context_window(self) -> int | None:
        if not self._window_probed:
            self._window_probed = True
            self._context_window = probe_context_window(self._http, self._base_url, self._model)
        return self._context_window

    def list_models(self) -> list[str]:
        """The model ids the server lists at ``/models`` (empty if it lists none)."""
        try:
            response = self._http.get(f"{self._base_url}/models")
            if response.status_code in (401, 403):
                raise ModelAuthError(self._base_url, response.status_code)
            data = response.json().get("data", []) if response.status_code == 200 else []
        except httpx.ConnectError as exc:
            raise ModelUnreachable(self._base_url, describe_error(exc)) from exc
        except (httpx.HTTPError, ValueError, AttributeError):
            return []
        return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]

    def close(self) -> None:
        self._http.close()

    def stream(self, request: ModelRequest) -> Iterator[ModelDelta]:
        body = encode_request(self._model, request, stream=self._stream, extra=self._extra_body)
        self._turns += 1
        yield RequestSent(self.endpoint, self._model, body)
        turn = yield from run_with_retries(lambda: self._attempt(body), backoff=self._backoff,
                                           sleep=self._sleep, server=self._base_url)
        self._answered = True
        yield turn

    def _attempt(self, body: bytes) -> Generator[ModelDelta, None, ModelTurn]:
        headers = {"Content-Type": "application/json"}
        if self._stream:
            headers["Accept"] = "text/event-stream"
        with transport_failures(self._base_url, answered=self._answered), \
                self._http.stream("POST", self.endpoint, content=body,
                                  headers=headers) as response:
            if response.status_code != 200:
                response.read()
                self._raise_for_status(response)
            content_type = response.headers.get("content-type", "")
            if self._stream and "text/event-stream" in content_type:
                return (yield from self._read_stream(response))
            response.read()
            return self._read_json(response)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        message = read_error_message(response)
        raise_if_retryable(response, message)
        if status in (401, 403):
            raise ModelAuthError(self._base_url, status)
        if status == 404:
            available = self.list_models()
            if available and self._model not in available:
                raise UnknownModel(self._base_url, self._model, available)
            if "model" in message.lower():
                raise UnknownModel(self._base_url, self._model, available)
            raise ModelProtocolError(
                f"The model server at {self._base_url} has no chat-completions endpoint "
                "(HTTP 404); check that the base URL ends with /v1."
            )
        lowered = message.lower()
        if status in (400, 413) and any(word in lowered for word in _CONTEXT_WORDS):
            raise ContextLengthExceeded(message[:300])
        raise ModelProtocolError(
            f"The model server at {self._base_url} rejected the request with HTTP {status} "
            f"({message[:300]}); check the model's settings on the server."
        )

    def _read_stream(self, response: httpx.Response) -> Generator[ModelDelta, None, ModelTurn]:
        digest = hashlib.sha256()
        assembler = TurnAssembler(f"call_{self._turns}_")

        def lines() -> Iterator[str]:
            for line in response.iter_lines():
                digest.update(line.encode("utf-8") + b"\n")
                yield line

        try:
            yield from self._read_events(iter_sse_data(lines()), assembler)
        except SSEFormatError as exc:
            raise ModelProtocolError(
                f"The model server at {self._base_url} streamed something that is not "
                f"server-sent events ({exc}); check that it is an OpenAI-compatible server."
            ) from exc
        if not assembler.done and not assembler.finish_reason:
            raise Retryable("stream ended before the answer was complete")
        return assembler.build(digest.hexdigest())

    def _read_events(self, events: Iterator[str],
                     assembler: TurnAssembler) -> Iterator[ModelDelta]:
        for data in events:
            if data.strip() == "[DONE]":
                assembler.done = True
                return
            chunk = self._parse_chunk(data)
            if "error" in chunk:
                raise Retryable(f"error in stream: {dump_short_json(chunk['error'])}")
            usage = parse_usage(chunk.get("usage"))
            if usage is not None:
                assembler.usage = usage
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    assembler.add_reasoning(reasoning)
                    yield ReasoningChunk(reasoning)
                if delta.get("content"):
                    assembler.add_text(delta["content"])
                    yield TextChunk(delta["content"])
                for call in delta.get("tool_calls") or []:
                    assembler.add_tool_call_delta(call)
                if choice.get("finish_reason"):
                    assembler.finish_reason = str(choice["finish_reason"])

    def _parse_chunk(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ModelProtocolError(
                f"The model server at {self._base_url} streamed data that is not JSON "
                f"({data[:80]!r}); check that it is an OpenAI-compatible server."
            ) from exc
        if not isinstance(chunk, dict):
            raise ModelProtocolError(
                f"The model server at {self._base_url} streamed an unexpected value "
                f"({data[:80]!r}); check that it is an OpenAI-compatible server."
            )
        return chunk

    def _read_json(self, response: httpx.Response) -> ModelTurn:
        raw = response.content
        try:
            data = json.loads(raw)
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelProtocolError(
                f"The model server at {self._base_url} answered with something that is not "
                f"a chat completion ({raw[:80]!r}); check that it is an OpenAI-compatible "
                "server."
            ) from exc
        assembler = TurnAssembler(f"call_{self._turns}_")
        if message.get("content"):
            assembler.add_text(str(message["content"]))
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning:
            assembler.add_reasoning(str(reasoning))
        for index, call in enumerate(message.get("tool_calls") or []):
            assembler.add_tool_call_delta({**call, "index": index})
        assembler.finish_reason = str(data["choices"][0].get("finish_reason") or "")
        assembler.usage = parse_usage(data.get("usage")) or assembler.usage
        return assembler.build(hashlib.sha256(raw).hexdigest())

