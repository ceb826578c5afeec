"""``ScriptedModel``: an in-process ``ModelClient`` that plays back turns.

For tests and benchmarks of the agent loop itself, where HTTP would only add
noise. Like the fake server it is strict: a request with no turn left fails,
and ``check()`` fails on unused turns. Prefer the fake server (real HTTP) for
anything that exercises the model client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from moatcode.models._body import encode_request
from moatcode.models.base import ModelDelta, ModelRequest, ModelTurn, RequestSent, TextChunk
from moatcode.types import ToolCall, Usage

Turn = str | ModelTurn | Sequence[tuple[str, dict[str, Any]]]


def call(name: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    return name, arguments


class ScriptedModel:
    def __init__(self, turns: Sequence[Turn] = (),
                 window: int | None = 32_768) -> None:
        self._turns: list[Turn] = list(turns)
        self._window = window
        self.requests: list[ModelRequest] = []
        self.bodies: list[bytes] = []
        self.seconds = 0.0  # time spent inside stream(), to subtract from a step's time
        self._calls = 0

    def add(self, *turns: Turn) -> None:
        self._turns.extend(turns)

    @property
    def endpoint(self) -> str:
        return "scripted:"

    @property
    def model(self) -> str:
        return "scripted"

    def context_window(self) -> int | None:
        return self._window

    def close(self) -> None:
        pass

    def stream(self, request: ModelRequest) -> Iterator[ModelDelta]:
        started = time.perf_counter()
        if not self._turns:
            raise AssertionError(f"request {len(self.requests) + 1} has no scripted turn left")
        self.requests.append(request)
        body = encode_request("scripted", request, stream=True)
        self.bodies.append(body)
        turn = self._turns.pop(0)
        self.seconds += time.perf_counter() - started
        yield RequestSent(self.endpoint, self.model, body)
        started = time.perf_counter()
        if isinstance(turn, ModelTurn):
            result = turn
        elif isinstance(turn, str):
            result = ModelTurn(turn, (), Usage(len(body) // 4, len(turn) // 4), "stop")
        else:
            calls = []
            for name, arguments in turn:
                self._calls += 1
                calls.append(ToolCall(f"call_{self._calls}", name, json.dumps(arguments)))
            result = ModelTurn("", tuple(calls), Usage(len(body) // 4, 10), "tool_calls")
        if result.text:
            yield TextChunk(result.text)
        self.seconds += time.perf_counter() - started
        yield result

    def check(self) -> None:
        assert not self._turns, f"{len(self._turns)} scripted turns were never requested"
