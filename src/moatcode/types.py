"""The core's plain data: messages, tool calls, usage, sources and file changes.

Frozen dataclasses only; pydantic lives at the boundaries. A conversation is a
tuple of ``Message`` values in the order they were sent, which is the order a
model server renders them, so appending is the only way it ever changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
JSONValue = Any
JSONObject = dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for.

    ``arguments`` is the JSON text exactly as the model produced it: it is sent
    back unchanged in later requests (append-only prompts) and parsed only when
    the call runs.
    """

    id: str
    name: str
    arguments: str
    # Why the call cannot run, when it was recovered from text malformed (cut off,
    # unreadable, or naming a tool that was not offered). Never executed.
    invalid: str = ""


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    # The model's reasoning, kept apart from the answer; never sent back.
    reasoning: str = ""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens the server (or the embedded model) reused from its cache.
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True)
class Source:
    """Where a piece of prompt text came from, for the data-flow record.

    ``kind`` is ``file`` (``ref`` a workspace path, with an inclusive 1-based
    line range when known), ``command`` (``ref`` the tool-call id),
    ``instructions`` (``ref`` the file name) or ``prompt``.
    """

    kind: Literal["file", "command", "instructions", "prompt", "tool"]
    ref: str
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True)
class Redaction:
    """One secret replaced by a placeholder: kind and location, never the value."""

    kind: str
    placeholder: str
    location: str
    line: int | None = None


@dataclass(frozen=True)
class FileChange:
    path: str
    before_sha256: str | None  # None: the file did not exist
    after_sha256: str | None  # None: the file was deleted
    diff: str


@dataclass(frozen=True)
class TodoItem:
    content: str
    status: Literal["pending", "in_progress", "completed"] = "pending"


@dataclass(frozen=True)
class ToolSpec:
    """What the model is told about a tool: the name, one line, a JSON schema."""

    name: str
    description: str
    parameters: JSONObject = field(default_factory=dict)


ActionKind = Literal["read", "edit", "bash", "none"]


@dataclass(frozen=True)
class Action:
    """What a tool call would touch, in the terms policy rules speak.

    ``kind`` maps to the rule families: ``read`` is ``Read(...)``, ``edit`` is
    ``Edit(...)``, ``bash`` is ``Bash(...)``; ``none`` touches nothing (the todo
    list) and needs no permission. ``paths`` are as the model gave them,
    relative to the workspace or absolute.
    """

    tool: str
    kind: ActionKind
    paths: tuple[str, ...] = ()
    command: str | None = None
