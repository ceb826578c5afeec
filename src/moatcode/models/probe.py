"""Does an endpoint return tool calls? One tiny request finds out (``tool_protocol = "auto"``).

The request offers one tool and asks for it to be called. Structured
``tool_calls`` back, or a call Moat can read out of the text, mean ``native``;
a server that refuses the ``tools`` field, or a model that answers in prose,
means ``text``. The answer is cached per endpoint and model.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from moatcode.errors import ModelAuthError, ModelProtocolError, ModelUnreachable, UnknownModel
from moatcode.models.base import ModelClient, ModelRequest, ModelTurn, RequestSent
from moatcode.models.text_tools import Protocol
from moatcode.models.toolcalls.parse import parse_tool_calls
from moatcode.types import Message, ToolSpec

PROBE_TOOL = ToolSpec("ping", "Check that tool calling works.",
                      {"type": "object", "properties": {}})
PROBE = ModelRequest(
    (Message("system", "You can call tools."),
     Message("user", "Call the ping tool now, with no arguments.")),
    (PROBE_TOOL,), max_tokens=64, temperature=0.0)


@dataclass(frozen=True)
class ProbeResult:
    protocol: Protocol
    reason: str
    sent: RequestSent | None


def probe_tool_protocol(client: ModelClient) -> ProbeResult:
    sent: RequestSent | None = None
    turn: ModelTurn | None = None
    try:
        for delta in client.stream(PROBE):
            if isinstance(delta, RequestSent):
                sent = delta
            elif isinstance(delta, ModelTurn):
                turn = delta
    except (ModelUnreachable, ModelAuthError, UnknownModel):
        raise
    except ModelProtocolError as exc:
        return ProbeResult("text", f"the server refused a request with tools ({exc})", sent)
    if turn is not None and turn.tool_calls:
        return ProbeResult("native", "the server returned a structured tool call", sent)
    if turn is not None and parse_tool_calls(turn.text, turn.reasoning, ("ping",)).calls:
        return ProbeResult("native", "the model called the tool in its text", sent)
    return ProbeResult("text", "the model answered without calling the tool", sent)


def load_cached(path: Path, endpoint: str, model: str) -> Protocol | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = data.get(f"{endpoint}|{model}") if isinstance(data, dict) else None
    protocol = entry.get("protocol") if isinstance(entry, dict) else None
    return protocol if protocol in ("native", "text") else None


def save_cached(path: Path, endpoint: str, model: str, result: ProbeResult) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[f"{endpoint}|{model}"] = {"protocol": result.protocol, "reason": result.reason,
                                   "at": datetime.now(UTC).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".probe-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)
