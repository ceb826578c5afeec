"""Reassemble a streamed chat completion into one turn.

OpenAI-style streams send content and reasoning as text fragments and each
tool call as an id and name followed by argument fragments, keyed by index.
``TurnAssembler`` collects them and builds the ``ModelTurn`` at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from moatcode.models.base import ModelTurn
from moatcode.types import ToolCall, Usage


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class TurnAssembler:
    def __init__(self, call_id_prefix: str) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self._call_id_prefix = call_id_prefix
        self.usage = Usage()
        self.finish_reason = ""
        self.done = False  # the stream's [DONE] arrived

    def add_text(self, text: str) -> None:
        self._text.append(text)

    def add_reasoning(self, text: str) -> None:
        self._reasoning.append(text)

    def add_tool_call_delta(self, delta: dict[str, Any]) -> None:
        index = delta.get("index")
        if not isinstance(index, int):
            index = len(self._calls)
        call = self._calls.setdefault(index, _PartialCall())
        if delta.get("id"):
            call.id = str(delta["id"])
        function = delta.get("function") or {}
        if function.get("name"):
            call.name += str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.arguments.append(arguments)
        elif isinstance(arguments, dict):
            # Some servers send the arguments as an object rather than JSON text.
            call.arguments.append(json.dumps(arguments, ensure_ascii=False))

    @property
    def text(self) -> str:
        return "".join(self._text)

    def build(self, response_sha256: str) -> ModelTurn:
        calls = []
        for position, index in enumerate(sorted(self._calls)):
            partial = self._calls[index]
            call_id = partial.id or f"{self._call_id_prefix}{position}"
            calls.append(ToolCall(call_id, partial.name, "".join(partial.arguments)))
        finish = self.finish_reason or ("tool_calls" if calls else "stop")
        return ModelTurn(
            text=self.text,
            tool_calls=tuple(calls),
            usage=self.usage,
            finish_reason=finish,
            reasoning="".join(self._reasoning),
            response_sha256=response_sha256,
        )


def parse_usage(data: Any) -> Usage | None:
    """Read an OpenAI ``usage`` object; ``None`` when there is none."""
    if not isinstance(data, dict):
        return None
    details = data.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=int(data.get("prompt_tokens") or 0),
        completion_tokens=int(data.get("completion_tokens") or 0),
        cached_tokens=int(cached or 0),
    )
