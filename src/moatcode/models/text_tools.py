"""Tool calls for servers and models that do not return them structured.

``TextToolCalls`` wraps any ``ModelClient``:

- ``native``: requests go out unchanged; when an answer has no structured
  ``tool_calls`` but its text holds calls (no parser configured on the
  server, the wrong one, or calls made inside the thinking), they are read
  out of the text (``toolcalls.parse``).
- ``text``: for models without tool calling. The tools are described in the
  system prompt, earlier calls and results are written back as text, no
  ``tools`` field is sent, and calls are read out of the answer.

Calls that are cut off, unreadable, or name a tool that was not offered become
``ToolCall``s with ``invalid`` set: the agent reports them to the model and
never runs them. So do all calls of an answer that hit the output limit.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from typing import Literal

from moatcode.models.base import ModelClient, ModelDelta, ModelRequest, ModelTurn, TextChunk
from moatcode.models.toolcalls.parse import parse_tool_calls
from moatcode.models.toolcalls.text_protocol import (
    render_call,
    render_tool_instructions,
    render_tool_result,
)
from moatcode.types import Message, ToolCall

Protocol = Literal["native", "text"]
_CALL_OPENERS = ("<tool_call>", "<function=", "[TOOL_CALLS]", "<|python_tag|>")


class TextToolCalls:
    def __init__(self, inner: ModelClient, protocol: Protocol) -> None:
        self._inner = inner
        self.protocol = protocol
        # The exact text of answers whose calls were read from text, so that in
        # text mode the history is replayed byte for byte (the model's KV cache
        # and the server's prefix cache keep matching).
        self._raw_text: dict[str, str] = {}

    @property
    def endpoint(self) -> str:
        return self._inner.endpoint

    @property
    def model(self) -> str:
        return self._inner.model

    def context_window(self) -> int | None:
        return self._inner.context_window()

    def close(self) -> None:
        self._inner.close()

    def stream(self, request: ModelRequest) -> Iterator[ModelDelta]:
        offered = tuple(t.name for t in request.tools)
        schemas = {t.name: t.parameters for t in request.tools}
        outgoing = self._as_text(request) if self.protocol == "text" else request
        shown: list[str] = []
        hiding = False
        for delta in self._inner.stream(outgoing):
            if isinstance(delta, ModelTurn):
                yield self._recover(delta, offered, schemas)
                return
            if isinstance(delta, TextChunk) and offered:
                # Keep call markup out of what the user sees stream by.
                shown.append(delta.text)
                if hiding or any(o in "".join(shown) for o in _CALL_OPENERS):
                    hiding = True
                    continue
            yield delta

    def _recover(self, turn: ModelTurn, offered: tuple[str, ...],
                 schemas: dict[str, dict[str, object]]) -> ModelTurn:
        if turn.tool_calls or not offered:
            return turn
        found = parse_tool_calls(turn.text, turn.reasoning, offered, schemas)
        if not found.calls and not found.malformed:
            return turn
        cut_off = turn.finish_reason == "length"
        calls = [
            ToolCall(_new_id(), call.name, json.dumps(call.arguments, ensure_ascii=False),
                     invalid="the answer hit the output limit before it ended" if cut_off
                     else "")
            for call in found.calls
        ]
        calls += [ToolCall(_new_id(), bad.name or "unknown", bad.raw, invalid=bad.reason)
                  for bad in found.malformed]
        for call in calls:
            self._raw_text[call.id] = turn.text
        return dataclasses.replace(turn, text=found.text.strip(), tool_calls=tuple(calls),
                                   finish_reason="tool_calls")

    def _as_text(self, request: ModelRequest) -> ModelRequest:
        messages: list[Message] = []
        for message in request.messages:
            if message.role == "system" and not messages and request.tools:
                instructions = render_tool_instructions(request.tools)
                messages.append(Message("system", f"{message.content}\n\n{instructions}"))
            elif message.role == "assistant" and message.tool_calls:
                messages.append(Message("assistant", self._replay(message)))
            elif message.role == "tool":
                ok = not message.content.startswith("Error: ")
                messages.append(Message("user", render_tool_result(message.content, ok=ok)))
            else:
                messages.append(Message(message.role, message.content))
        return dataclasses.replace(request, messages=tuple(messages), tools=())

    def _replay(self, message: Message) -> str:
        raw = self._raw_text.get(message.tool_calls[0].id)
        if raw is not None:
            return raw
        calls = []
        for call in message.tool_calls:
            try:
                arguments = json.loads(call.arguments or "{}")
            except ValueError:
                arguments = {}
            calls.append(render_call(call.name, arguments if isinstance(arguments, dict) else {}))
        return "\n".join(filter(None, [message.content, *calls]))


def _new_id() -> str:
    return f"call_{secrets.token_hex(6)}"
