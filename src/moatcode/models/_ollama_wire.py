"""Ollama's ``/api/chat`` on the wire: the request's messages and the answer's chunks.

Ollama's shapes differ from OpenAI's in small ways that matter: tool-call
arguments are JSON objects, not text; a tool result names its tool
(``tool_name``); an answer is newline-delimited JSON chunks, the last one
``done`` with the token counts; and a mid-stream failure is a chunk holding
only ``error``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from moatcode.errors import ModelProtocolError
from moatcode.models._assemble import TurnAssembler
from moatcode.models._retry import Retryable, dump_short_json
from moatcode.models.base import ModelDelta, ModelTurn, ReasoningChunk, TextChunk
from moatcode.types import Message, Usage


def encode_messages(messages: Iterable[Message]) -> Iterator[dict[str, Any]]:
    """Each message as Ollama takes it, in a fixed key order."""
    names: dict[str, str] = {}  # tool-call id -> tool name, for the tool messages
    for message in messages:
        data: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            data["tool_calls"] = [
                {"id": call.id,
                 "function": {"name": call.name, "arguments": _arguments_object(call.arguments)}}
                for call in message.tool_calls
            ]
            names.update((call.id, call.name) for call in message.tool_calls)
        if message.tool_call_id is not None:
            if message.tool_call_id in names:
                data["tool_name"] = names[message.tool_call_id]
            data["tool_call_id"] = message.tool_call_id
        yield data


def _arguments_object(arguments: str) -> Any:
    # Ollama takes arguments only as an object. A call whose arguments were not
    # one never ran (the model was told so), so an empty object stands for it.
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class ChunkReader:
    """Collects the chunks of one answer (a single one, when not streamed) into a turn."""

    def __init__(self, server: str, call_id_prefix: str) -> None:
        self._server = server
        self._assembler = TurnAssembler(call_id_prefix)
        self._calls = 0
        self._done_reason = ""
        self.done = False

    def read(self, line: str) -> Iterator[ModelDelta]:
        """Take one chunk; yield what it adds to the answer."""
        chunk = self._parse(line)
        if "error" in chunk:
            raise Retryable(f"error from the server: {dump_short_json(chunk['error'])}")
        message = chunk.get("message")
        if not isinstance(message, dict):
            message = {}
        thinking = message.get("thinking")
        if isinstance(thinking, str) and thinking:
            self._assembler.add_reasoning(thinking)
            yield ReasoningChunk(thinking)
        content = message.get("content")
        if isinstance(content, str) and content:
            self._assembler.add_text(content)
            yield TextChunk(content)
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                raise self._unreadable(line)
            # Each call arrives whole. It is numbered here, whatever id the
            # server sent, so the record is the same from every Ollama version.
            self._assembler.add_tool_call_delta({
                "index": self._calls,
                "function": {"name": function.get("name"),
                             "arguments": function.get("arguments") or {}},
            })
            self._calls += 1
        if chunk.get("done") is True:
            self.done = True
            self._done_reason = str(chunk.get("done_reason") or "")
            self._assembler.usage = Usage(_count(chunk.get("prompt_eval_count")),
                                          _count(chunk.get("eval_count")))

    def build(self, response_sha256: str) -> ModelTurn:
        # Ollama says "stop" when the model stops to call tools.
        reason = self._done_reason
        if reason in ("", "stop"):
            reason = "tool_calls" if self._calls else "stop"
        self._assembler.finish_reason = reason
        return self._assembler.build(response_sha256)

    def _parse(self, line: str) -> dict[str, Any]:
        try:
            chunk = json.loads(line)
        except ValueError as exc:
            raise self._unreadable(line) from exc
        if not isinstance(chunk, dict):
            raise self._unreadable(line)
        return chunk

    def _unreadable(self, line: str) -> ModelProtocolError:
        return ModelProtocolError(
            f"The Ollama server at {self._server} sent something that is not a chat answer "
            f"({line[:80]!r}); check that it is an Ollama server."
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
