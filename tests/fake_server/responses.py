"""The bytes the fake model server answers with, in the shapes vLLM uses.

Pure functions: a ``Reply`` is first resolved (ids, finish reason, usage),
then rendered either as one ``chat.completion`` JSON body or as the SSE
events of a ``chat.completion.chunk`` stream. Output is deterministic (fixed
ids and ``created``) so tests and benchmarks can compare response bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from moatcode.types import Usage
from tests.fake_server.script import Reply

DONE_EVENT = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class ResolvedCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ResolvedReply:
    """A reply with everything the wire needs decided."""

    text: str
    reasoning: str
    calls: tuple[ResolvedCall, ...]
    finish_reason: str
    usage: Usage


@dataclass(frozen=True)
class Envelope:
    """What every chunk and completion of one answer share."""

    completion_id: str
    model: str
    created: int


def resolve_reply(
    reply: Reply, *, next_call_id: Callable[[], str], body_size: int
) -> ResolvedReply:
    calls = tuple(
        ResolvedCall(
            id=call.id if call.id is not None else next_call_id(),
            name=call.name,
            arguments=(
                call.arguments
                if isinstance(call.arguments, str)
                else json.dumps(call.arguments, ensure_ascii=False)
            ),
        )
        for call in reply.tool_calls
    )
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    usage = reply.usage
    if usage is None:
        generated = len(reply.text) + len(reply.reasoning) + sum(len(c.arguments) for c in calls)
        usage = Usage(prompt_tokens=body_size // 4, completion_tokens=generated // 4)
    return ResolvedReply(reply.text, reply.reasoning, calls, finish, usage)


def render_usage(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "total_tokens": usage.total_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    # vLLM reports cached prompt tokens only when it has some to report.
    if usage.cached_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return out


def render_completion(reply: ResolvedReply, env: Envelope) -> bytes:
    """The non-streaming ``chat.completion`` body."""
    message: dict[str, Any] = {
        "role": "assistant",
        # Servers send null, not "", when the model only called tools.
        "content": reply.text if reply.text or not reply.calls else None,
        "reasoning_content": reply.reasoning or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in reply.calls
        ],
    }
    body = {
        "id": env.completion_id,
        "object": "chat.completion",
        "created": env.created,
        "model": env.model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
        ],
        "usage": render_usage(reply.usage),
    }
    return _dump(body)


def render_stream(
    reply: ResolvedReply, env: Envelope, *, chunk_chars: int, include_usage: bool
) -> list[bytes]:
    """The SSE events of a streamed answer, ``data: [DONE]`` last."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": piece} for piece in _split(reply.reasoning, chunk_chars)]
    deltas += [{"content": piece} for piece in _split(reply.text, chunk_chars)]
    for index, call in enumerate(reply.calls):
        # The first delta of a call names it; the arguments follow in pieces.
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            for piece in _split(call.arguments, chunk_chars)
        ]
    chunks = [_chunk(env, delta, None, include_usage) for delta in deltas]
    chunks.append(_chunk(env, {}, reply.finish_reason, include_usage))
    if include_usage:
        chunks.append(
            {
                "id": env.completion_id,
                "object": "chat.completion.chunk",
                "created": env.created,
                "model": env.model,
                "choices": [],
                "usage": render_usage(reply.usage),
            }
        )
    return [b"data: " + _dump(chunk) + b"\n\n" for chunk in chunks] + [DONE_EVENT]


def render_error(status: int, message: str, error_type: str | None = None) -> bytes:
    """An error body in vLLM's shape."""
    if error_type is None:
        error_type = _error_type(status)
    return _dump({"error": {"message": message, "type": error_type, "param": None, "code": status}})


def _error_type(status: int) -> str:
    try:
        name = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "Error"
    return name if name.endswith("Error") else name + "Error"


def _chunk(
    env: Envelope, delta: dict[str, Any], finish_reason: str | None, include_usage: bool
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": env.completion_id,
        "object": "chat.completion.chunk",
        "created": env.created,
        "model": env.model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    # With include_usage, every chunk but the last carries "usage": null.
    if include_usage:
        chunk["usage"] = None
    return chunk


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
