"""The one vocabulary: typed events that every consumer reads.

The agent emits these and nothing else; the console renderer, the JSON-lines
printer, the session store, the audit log and the gateway all consume the same
stream. ``event_to_dict`` and ``event_from_dict`` give each event a stable JSON
shape (``{"kind": ..., **fields}``) for the stores.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from moatcode.types import FileChange, Message, Redaction, Source, TodoItem, ToolCall, Usage

Decision = Literal["allow", "ask", "deny"]


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"


@dataclass(frozen=True)
class SessionStarted(Event):
    kind: ClassVar[str] = "session_started"
    session_id: str
    cwd: str
    model: str
    endpoint: str
    tools: tuple[str, ...]
    permission_mode: str
    resumed: bool = False
    moat_version: str = ""
    user: str = ""
    host: str = ""
    git_remote: str = ""
    git_head: str = ""
    policy_hash: str = ""
    policy_files: tuple[str, ...] = ()
    sandbox: str = ""


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should know once (e.g. which model is used)."""

    kind: ClassVar[str] = "notice"
    message: str


@dataclass(frozen=True)
class UserPrompt(Event):
    kind: ClassVar[str] = "user_prompt"
    text: str


@dataclass(frozen=True)
class SecretsRedacted(Event):
    kind: ClassVar[str] = "secrets_redacted"
    location: str
    redactions: tuple[Redaction, ...]


@dataclass(frozen=True)
class ModelRequestSent(Event):
    kind: ClassVar[str] = "model_request"
    step: int
    endpoint: str
    model: str
    request_bytes: int
    estimated_tokens: int
    body_sha256: str
    # The exact body; the audit store keeps it or only its hash, as policy says.
    body: str
    # Everything the request carries, and the secrets removed from it.
    sources: tuple[Source, ...] = ()
    redactions: tuple[Redaction, ...] = ()


@dataclass(frozen=True)
class ModelRetry(Event):
    kind: ClassVar[str] = "model_retry"
    step: int
    attempt: int
    reason: str
    delay_s: float


@dataclass(frozen=True)
class TextDelta(Event):
    kind: ClassVar[str] = "text_delta"
    text: str


@dataclass(frozen=True)
class ReasoningDelta(Event):
    kind: ClassVar[str] = "reasoning_delta"
    text: str


@dataclass(frozen=True)
class AssistantTurn(Event):
    """The model's complete answer for one step."""

    kind: ClassVar[str] = "model_response"
    step: int
    message: Message
    usage: Usage
    finish_reason: str
    latency_ms: float
    response_sha256: str


@dataclass(frozen=True)
class ToolCallStarted(Event):
    kind: ClassVar[str] = "tool_call"
    step: int
    call: ToolCall


@dataclass(frozen=True)
class PermissionDecided(Event):
    kind: ClassVar[str] = "permission"
    call_id: str
    tool: str
    decision: Decision
    rule: str
    layer: str
    # "policy" when a rule or the mode decided, "user" when a person answered,
    # "headless" when an ask had no one to answer it.
    decided_by: Literal["policy", "user", "headless"] = "policy"
    scope: str = ""  # "once" | "session" | "project" for a person's answer
    who: str = ""
    note: str = ""
    summary: str = ""
    wait_ms: float = 0.0  # how long the person took to answer


@dataclass(frozen=True)
class ToolCallFinished(Event):
    kind: ClassVar[str] = "tool_result"
    step: int
    call_id: str
    tool: str
    ok: bool
    # What the model sees: cut to size and with secrets redacted.
    output: str
    output_bytes: int
    output_sha256: str
    truncated: bool = False
    exit_code: int | None = None
    sandbox: str = ""
    duration_ms: float = 0.0
    change: FileChange | None = None
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class EgressDecided(Event):
    """A sandboxed command asked Moat's proxy for a host (``sandbox.network = "allowlist"``)."""

    kind: ClassVar[str] = "egress"
    method: str
    host: str
    port: int
    allowed: bool
    rule: str = ""
    detail: str = ""


@dataclass(frozen=True)
class TodoUpdated(Event):
    kind: ClassVar[str] = "todo"
    items: tuple[TodoItem, ...]


@dataclass(frozen=True)
class ContextCompacted(Event):
    """Older turns were summarised; the prompt prefix changes here, once."""

    kind: ClassVar[str] = "compaction"
    step: int
    tokens_before: int
    tokens_after: int
    messages_removed: int
    summary: str


@dataclass(frozen=True)
class StepCancelled(Event):
    kind: ClassVar[str] = "cancelled"
    step: int


@dataclass(frozen=True)
class ErrorOccurred(Event):
    kind: ClassVar[str] = "error"
    message: str
    error_type: str


@dataclass(frozen=True)
class PermissionDenial:
    tool_name: str
    tool_use_id: str
    tool_input: dict[str, Any]


@dataclass(frozen=True)
class SessionEnded(Event):
    kind: ClassVar[str] = "session_ended"
    session_id: str
    subtype: Literal["success", "error_max_turns", "error_during_execution", "cancelled"]
    num_turns: int
    usage: Usage
    duration_ms: float
    duration_api_ms: float
    result: str
    model_requests: int = 0
    tool_calls: int = 0
    permission_denials: tuple[PermissionDenial, ...] = ()


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SessionStarted,
        Notice,
        UserPrompt,
        SecretsRedacted,
        ModelRequestSent,
        ModelRetry,
        TextDelta,
        ReasoningDelta,
        AssistantTurn,
        ToolCallStarted,
        PermissionDecided,
        ToolCallFinished,
        EgressDecided,
        TodoUpdated,
        ContextCompacted,
        StepCancelled,
        ErrorOccurred,
        SessionEnded,
    )
}

Emit = Callable[[Event], None]


def event_to_dict(event: Event) -> dict[str, Any]:
    """The event as plain JSON data: ``{"kind": ..., **fields}``."""
    data: dict[str, Any] = {"kind": event.kind}
    data.update(_plain(event))
    return data


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from ``event_to_dict`` output; unknown kinds raise KeyError."""
    cls = EVENT_TYPES[data["kind"]]
    fields = {k: v for k, v in data.items() if k != "kind"}
    return _build(cls, fields)  # type: ignore[no-any-return]


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(tp) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        (item,) = get_args(tp)[:1]
        return tuple(_build(item, v) for v in value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = get_type_hints(tp)
        return tp(**{
            f.name: _build(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value
        })
    return value
