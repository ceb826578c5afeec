"""The OpenAI chat-completions request body, byte for byte.

The body is built the same way every time: fixed key order, compact
separators, and ``messages`` last. Everything before ``messages`` is the same
for every request of a session, and messages are only ever appended, so each
request's body (less its closing ``]}``) begins with the previous one. That is
what lets a server's prefix cache reuse the work of the previous step.
"""

from __future__ import annotations

import json
from typing import Any

from moatcode.models.base import ModelRequest
from moatcode.types import Message, ToolSpec


def encode_request(
    model: str,
    request: ModelRequest,
    *,
    stream: bool,
    extra: dict[str, Any] | None = None,
) -> bytes:
    body: dict[str, Any] = {"model": model, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if extra:
        body.update(extra)
    if request.tools:
        body["tools"] = [tool_to_json(t) for t in request.tools]
    body["messages"] = [message_to_json(m) for m in request.messages]
    return dumps(body)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def tool_to_json(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def message_to_json(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    return data
