"""Headless output in the shape of Claude Code's ``--output-format stream-json``.

One JSON object per line: a ``system`` line (subtype ``init``) when the session
starts, an ``assistant`` line for each model turn (text and ``tool_use``
blocks), a ``user`` line for each tool result (``tool_result`` blocks), and a
final ``result`` line. ``json`` prints only that final object. Scripts written
for Claude Code's headless mode read these unchanged.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from moatcode.events import (
    AssistantTurn,
    Event,
    SessionEnded,
    SessionStarted,
    ToolCallFinished,
    ToolCallStarted,
)

_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


class StreamJsonPrinter:
    """Consumes events; prints every line (``stream-json``) or only the result (``json``)."""

    def __init__(self, out: TextIO, *, only_result: bool = False) -> None:
        self._out = out
        self._only_result = only_result
        self._session_id = ""
        self._model = ""
        self._inputs: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self._session_id, self._model = event.session_id, event.model
            self._print({
                "type": "system", "subtype": "init", "session_id": event.session_id,
                "cwd": event.cwd, "model": event.model, "tools": list(event.tools),
                "permissionMode": event.permission_mode, "mcp_servers": [],
                "apiKeySource": "none", "moat_version": event.moat_version,
            })
        elif isinstance(event, AssistantTurn):
            self._print({"type": "assistant", "message": self._assistant(event),
                         "parent_tool_use_id": None, "session_id": self._session_id})
        elif isinstance(event, ToolCallStarted):
            self._inputs[event.call.id] = _input(event.call.arguments)
        elif isinstance(event, ToolCallFinished):
            block = {"type": "tool_result", "tool_use_id": event.call_id,
                     "content": event.output, "is_error": not event.ok}
            self._print({"type": "user", "message": {"role": "user", "content": [block]},
                         "parent_tool_use_id": None, "session_id": self._session_id})
        elif isinstance(event, SessionEnded):
            self._print(result_object(event), always=True)

    def _assistant(self, event: AssistantTurn) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if event.message.content:
            content.append({"type": "text", "text": event.message.content})
        for call in event.message.tool_calls:
            content.append({"type": "tool_use", "id": call.id, "name": call.name,
                            "input": _input(call.arguments)})
        return {
            "id": f"msg_{self._session_id[:8]}_{event.step}", "type": "message",
            "role": "assistant", "model": self._model, "content": content,
            "stop_reason": _STOP_REASONS.get(event.finish_reason, event.finish_reason),
            "stop_sequence": None,
            "usage": {"input_tokens": event.usage.prompt_tokens,
                      "output_tokens": event.usage.completion_tokens,
                      "cache_read_input_tokens": event.usage.cached_tokens},
        }

    def _print(self, obj: dict[str, Any], always: bool = False) -> None:
        if self._only_result and not always:
            return
        self._out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._out.flush()


def result_object(event: SessionEnded) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "error_during_execution" if event.subtype == "cancelled" else event.subtype,
        "is_error": event.subtype != "success",
        "duration_ms": round(event.duration_ms),
        "duration_api_ms": round(event.duration_api_ms),
        "num_turns": event.num_turns,
        "result": event.result,
        "session_id": event.session_id,
        "total_cost_usd": 0,
        "usage": {"input_tokens": event.usage.prompt_tokens,
                  "output_tokens": event.usage.completion_tokens,
                  "cache_read_input_tokens": event.usage.cached_tokens},
        "permission_denials": [
            {"tool_name": d.tool_name, "tool_use_id": d.tool_use_id, "tool_input": d.tool_input}
            for d in event.permission_denials
        ],
    }


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return arguments
