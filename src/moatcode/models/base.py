"""The model contract: one request in, a stream of deltas out, a complete turn last.

Backends (OpenAI-compatible HTTP, embedded llama.cpp) implement ``ModelClient``;
the agent knows nothing else about them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from moatcode.types import Message, ToolCall, ToolSpec, Usage


@dataclass(frozen=True)
class ModelRequest:
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class RequestSent:
    """The exact bytes sent, once per request (not again on a retry)."""

    endpoint: str
    model: str
    body: bytes


@dataclass(frozen=True)
class TextChunk:
    text: str


@dataclass(frozen=True)
class ReasoningChunk:
    text: str


@dataclass(frozen=True)
class Retrying:
    """The attempt failed and will be repeated; discard any partial output."""

    attempt: int
    reason: str
    delay_s: float


@dataclass(frozen=True)
class ModelTurn:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    finish_reason: str
    reasoning: str = ""
    # SHA-256 of the response as received (the SSE stream or the JSON body).
    response_sha256: str = ""

    def as_message(self) -> Message:
        return Message("assistant", self.text, self.tool_calls, reasoning=self.reasoning)


ModelDelta = RequestSent | TextChunk | ReasoningChunk | Retrying | ModelTurn


class ModelClient(Protocol):
    @property
    def endpoint(self) -> str:
        """Where requests go, for the record (a URL, or ``embedded:<file>``)."""
        ...

    @property
    def model(self) -> str: ...

    def context_window(self) -> int | None:
        """The model's context window in tokens, when the backend can tell."""
        ...

    def stream(self, request: ModelRequest) -> Iterator[ModelDelta]:
        """Yield deltas, ending with exactly one ``ModelTurn``."""
        ...

    def close(self) -> None: ...
