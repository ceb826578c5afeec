"""The tool contract: a name, one line, a JSON schema, and ``run``.

Tools never decide permissions. ``action`` only says what a call would touch,
so that policy can decide; ``run`` does the work. A failure the model can fix
(bad arguments, a missing file, a non-zero exit) is ``ToolResult(ok=False)``,
never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from moatcode.sandbox.base import Sandbox
from moatcode.types import Action, FileChange, Source, TodoItem


@dataclass
class ToolContext:
    workspace: Path
    sandbox: Sandbox
    # The environment commands see: built by the CLI, never the user's whole one.
    env: Mapping[str, str] = field(default_factory=dict)
    command_timeout_s: float = 120.0
    max_read_bytes: int = 256 * 1024
    max_output_bytes: int = 1 << 20
    todos: list[TodoItem] = field(default_factory=list)
    # The ripgrep binary for grep, glob and list_files.
    rg: str = "rg"
    # Files that are secrets by nature (.env, keys): searches and listings leave them
    # out, as policy denies reading them one by one.
    is_secret: Callable[[str], bool] = field(default=lambda path: False)


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    output: str
    exit_code: int | None = None
    change: FileChange | None = None
    sources: tuple[Source, ...] = ()
    todos: tuple[TodoItem, ...] | None = None
    # Told to the model when its output is cut: how to see the rest.
    more_hint: str = ""


class ToolArgumentError(ValueError):
    """Arguments the schema check let through but the tool cannot use."""


class Tool(Protocol):
    name: str
    description: str
    parameters: Mapping[str, Any]

    def action(self, args: Mapping[str, Any]) -> Action: ...

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult: ...
