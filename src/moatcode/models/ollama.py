"""``OllamaClient``: Ollama's native chat API, so the context window is really set.

Ollama serves a model with a context of a few thousand tokens unless the
request says otherwise, and it silently drops the start of a prompt that does
not fit. Its OpenAI-compatible endpoint cannot say otherwise (it ignores
``num_ctx``), so Moat speaks ``POST /api/chat`` and sends ``options.num_ctx``
with every request.

``num_ctx`` stays the same for a whole session, because Ollama reloads the
model whenever it changes: the model's context window (from ``/api/show``)
capped at the ``num_ctx`` setting, or at 32768 without one. It is raised, to
the next power of two up to the model's maximum, only when a request would
not fit; a request that cannot fit even then is refused here with
``ContextLengthExceeded`` rather than truncated there.

Tool-call ids are Moat's own, ``call_<turn>_<i>``, numbered past any already
in the conversation. The wire shapes live in ``_ollama_wire``; retries and
error mapping follow ``OpenAICompatClient``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from moatcode.errors import (
    ContextLengthExceeded,
    ModelAuthError,
    ModelProtocolError,
    ModelServerError,
    UnknownModel,
)
from moatcode.models._body import dumps, tool_to_json
from moatcode.models._ollama_wire import ChunkReader, encode_messages
from moatcode.models._retry import (
    Backoff,
    Retryable,
    raise_if_retryable,
    read_error_message,
    run_with_retries,
    transport_failures,
)
from moatcode.models.base import ModelDelta, ModelRequest, ModelTurn, RequestSent
from moatcode.types import Message

log = logging.getLogger(__name__)

# The context a session starts with when no setting names one: enough for an
# agent's prompt and tools, small enough to load on a laptop.
DEFAULT_NUM_CTX = 32768
_DETECT_TIMEOUT_S = 10.0
_CONTEXT_WORDS = ("context length", "context window", "context size", "too many tokens",
                  "exceeds the context", "prompt is too long")
_OWN_CALL_ID = re.compile(r"call_(\d+)_\d+")


def ollama_root(base_url: str) -> str:
    """The server's root URL: ``base_url`` without a trailing ``/v1``."""
    return base_url.rstrip("/").removesuffix("/v1").rstrip("/")


def detect_ollama(http: httpx.Client, base_url: str) -> bool:
    """Is the server at ``base_url`` Ollama? Asks ``/api/version``; any failure means no."""
    try:
        response = http.get(f"{ollama_root(base_url)}/api/version", timeout=_DETECT_TIMEOUT_S)
        data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("version"), str)


def estimate_tokens(body: bytes, num_predict: int | None) -> int:
    """What a request needs of the context: a quarter of its bytes, plus its output."""
    return len(body) // 4 + max(num_predict or 0, 0)


@dataclass(frozen=True)
class _ModelInfo:
    """What ``/api/show`` told about the model; ``None`` where it did not say."""

    context_length: int | None = None
    capabilities: tuple[str, ...] | None = None


class OllamaClient:
    def __init__(
        self,
        root_url: str,
        model: str,
        http: httpx.Client,
        *,
        num_ctx: int | None = None,
        stream: bool = True,
        think: bool | str | None = None,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``num_ctx`` is the context-window setting. ``think`` is sent as given
        (``True``, ``False``, or a level such as ``"high"``); ``None`` sends
        ``True`` when the model lists the thinking capability, else nothing."""
        self._root = ollama_root(root_url)
        self._model = model
        self._http = http
        self._setting = num_ctx
        self._stream = stream
        self._think = think
        self._backoff = Backoff(max_retries, backoff_s, max_backoff_s)
        self._sleep = sleep
        self._info: _ModelInfo | None = None
        self._num_ctx: int | None = None
        self._answered = False  # has the server ever answered this session?
        self._turns = 0

    @property
    def endpoint(self) -> str:
        return f"{self._root}/api/chat"

    @property
    def model(self) -> str:
        return self._model

    @property
    def num_ctx(self) -> int:
        """The ``options.num_ctx`` requests carry (it only ever grows)."""
        if self._num_ctx is None:
            window = self._model_info().context_length
            cap = self._setting or DEFAULT_NUM_CTX
            self._num_ctx = min(window, cap) if window else cap
        return self._num_ctx

    def context_window(self) -> int | None:
        window = self._model_info().context_length
        if window is None or self._setting is None:
            return window or self._setting
        return min(window, self._setting)

    def list_models(self) -> list[str]:
        """The model names ``/api/tags`` lists (empty when it cannot say)."""
        try:
            response = self._http.get(f"{self._root}/api/tags")
            models = response.json().get("models") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return []
        if not isinstance(models, list):
            return []
        return [str(m["name"]) for m in models if isinstance(m, dict) and m.get("name")]

    def close(self) -> None:
        self._http.close()

    def stream(self, request: ModelRequest) -> Iterator[ModelDelta]:
        body = self._fit(request)
        self._turns = max(self._turns, _highest_own_turn(request.messages)) + 1
        yield RequestSent(self.endpoint, self._model, body)
        turn = yield from run_with_retries(lambda: self._attempt(body), backoff=self._backoff,
                                           sleep=self._sleep, server=self._root)
        self._answered = True
        yield turn

    # -- the request ---------------------------------------------------------

    def _fit(self, request: ModelRequest) -> bytes:
        """The body, with ``num_ctx`` raised first if the request would not fit."""
        while True:
            body = self._encode(request, self.num_ctx)
            needed = estimate_tokens(body, request.max_tokens)
            if needed <= self.num_ctx:
                return body
            raised = self._raised_num_ctx(needed)
            log.info("raising num_ctx from %d to %d: the request needs about %d tokens",
                     self.num_ctx, raised, needed)
            self._num_ctx = raised

    def _raised_num_ctx(self, needed: int) -> int:
        maximum = self._model_info().context_length
        if maximum is not None and needed > maximum:
            raise ContextLengthExceeded(
                f"about {needed} tokens of prompt and output; {self._model} takes at most "
                f"{maximum}"
            )
        raised = 1 << (needed - 1).bit_length()
        return min(raised, maximum) if maximum is not None else raised

    def _thinks(self) -> bool | str | None:
        if self._think is not None:
            return self._think
        capabilities = self._model_info().capabilities
        return True if capabilities and "thinking" in capabilities else None

    def _encode(self, request: ModelRequest, num_ctx: int) -> bytes:
        # Fixed key order, messages last: each body (less its closing "]}")
        # begins with the previous one while num_ctx stays put.
        body: dict[str, Any] = {"model": self._model, "stream": self._stream}
        think = self._thinks()
        if think is not None:
            body["think"] = think
        options: dict[str, Any] = {"num_ctx": num_ctx}
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        body["options"] = options
        if request.tools:
            body["tools"] = [tool_to_json(t) for t in request.tools]
        body["messages"] = list(encode_messages(request.messages))
        return dumps(body)

    def _model_info(self) -> _ModelInfo:
        if self._info is None:
            self._info = self._show()
        return self._info

    def _show(self) -> _ModelInfo:
        try:
            response = self._http.post(f"{self._root}/api/show", json={"model": self._model})
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("/api/show failed: %s", exc)
            return _ModelInfo()
        if not isinstance(data, dict):
            return _ModelInfo()
        capabilities = data.get("capabilities")
        listed = (tuple(str(c) for c in capabilities) if isinstance(capabilities, list)
                  else None)
        return _ModelInfo(_context_length(data.get("model_info")), listed)

    # -- the answer ----------------------------------------------------------

    def _attempt(self, body: bytes) -> Generator[ModelDelta, None, ModelTurn]:
        headers = {"Content-Type": "application/json"}
        with transport_failures(self._root, answered=self._answered), \
                self._http.stream("POST", self.endpoint, content=body,
                                  headers=headers) as response:
            if response.status_code != 200:
                response.read()
                self._raise_for_status(response)
            if self._stream:
                return (yield from self._read_stream(response))
            response.read()
            return self._read_whole(response.content)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        message = read_error_message(response)
        if status >= 500 and "memory" in message.lower():
            # Loading the model with this context failed; retrying cannot help.
            raise ModelServerError(
                f"The Ollama server at {self._root} could not load {self._model} with a "
                f"{self.num_ctx}-token context ({message[:200]}); set a smaller context "
                "window with MOAT_CONTEXT_WINDOW or model.context_window."
            )
        raise_if_retryable(response, message)
        if status in (401, 403):
            raise ModelAuthError(self._root, status)
        if status == 404:
            available = self.list_models()
            if "model" in message.lower() or (available and not _is_listed(self._model,
                                                                            available)):
                raise UnknownModel(self._root, self._model, available)
            raise ModelProtocolError(
                f"The server at {self._root} has no Ollama chat endpoint (HTTP 404); check "
                "that the base URL points at an Ollama server."
            )
        if status in (400, 413) and any(word in message.lower() for word in _CONTEXT_WORDS):
            raise ContextLengthExceeded(message[:300])
        raise ModelProtocolError(
            f"The Ollama server at {self._root} rejected the request with HTTP {status} "
            f"({message[:300]}); check the model's settings on the server."
        )

    def _read_stream(self, response: httpx.Response) -> Generator[ModelDelta, None, ModelTurn]:
        digest = hashlib.sha256()
        reader = ChunkReader(self._root, f"call_{self._turns}_")
        for line in response.iter_lines():
            digest.update(line.encode("utf-8") + b"\n")
            if not line.strip():
                continue
            yield from reader.read(line)
            if reader.done:
                break
        if not reader.done:
            raise Retryable("stream ended before the answer was complete")
        return reader.build(digest.hexdigest())

    def _read_whole(self, raw: bytes) -> ModelTurn:
        reader = ChunkReader(self._root, f"call_{self._turns}_")
        # The deltas of a whole answer are not streamed to anyone.
        for _ in reader.read(raw.decode("utf-8", errors="replace")):
            pass
        if not reader.done:
            raise ModelProtocolError(
                f"The Ollama server at {self._root} answered without finishing "
                f"({raw[:80]!r}); check that it is an Ollama server."
            )
        return reader.build(hashlib.sha256(raw).hexdigest())


def _context_length(model_info: Any) -> int | None:
    if not isinstance(model_info, dict):
        return None
    arch = model_info.get("general.architecture")
    value = model_info.get(f"{arch}.context_length")
    if not isinstance(value, int):
        value = next((v for k, v in model_info.items()
                      if k.endswith(".context_length") and isinstance(v, int)), None)
    return value if isinstance(value, int) and value > 0 else None


def _highest_own_turn(messages: Iterable[Message]) -> int:
    # Ids are numbered past every id already in the conversation, so a resumed
    # session (a new client) never repeats one.
    highest = 0
    for message in messages:
        for call in message.tool_calls:
            match = _OWN_CALL_ID.fullmatch(call.id)
            if match:
                highest = max(highest, int(match.group(1)))
    return highest


def _is_listed(model: str, available: list[str]) -> bool:
    def full(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    return full(model) in {full(name) for name in available}
