"""``todo``: the task list the model keeps for itself, shown to the user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moatcode.tools.base import ToolArgumentError, ToolContext, ToolResult
from moatcode.types import Action, TodoItem

_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


class TodoTool:
    name = "todo"
    description = "Replace your task list (for multi-step work); mark one item in_progress."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "content": {"type": "string"},
                        "status": {"type": "string",
                                   "enum": ["pending", "in_progress", "completed"]},
                    },
                    "required": ["content", "status"],
                },
            },
        },
        "required": ["items"],
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "none")

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        items = []
        for raw in args["items"]:
            if not isinstance(raw, dict) or not str(raw.get("content", "")).strip():
                raise ToolArgumentError("each item needs a non-empty content.")
            status = raw.get("status", "pending")
            if status not in _MARKS:
                raise ToolArgumentError(f"status {status!r} is not one of {', '.join(_MARKS)}.")
            items.append(TodoItem(str(raw["content"]).strip(), status))
        ctx.todos[:] = items
        lines = [f"{_MARKS[i.status]} {i.content}" for i in items] or ["(the list is empty)"]
        return ToolResult(True, "\n".join(lines), todos=tuple(items))
