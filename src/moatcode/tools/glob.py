"""``glob``: find files by name pattern, honouring ignore files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moatcode.tools._paths import display_path, resolve_in_workspace
from moatcode.tools._rg import RipgrepError, run_rg
from moatcode.tools.base import ToolContext, ToolResult
from moatcode.types import Action

MAX_FILES = 500


class GlobTool:
    name = "glob"
    description = "Find files whose path matches a glob such as **/*.py (ignored files skipped)."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Glob, e.g. src/**/*.ts"},
            "path": {"type": "string", "description": "Directory to search (default: all)."},
        },
        "required": ["pattern"],
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "read", paths=(str(args.get("path") or "."),))

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        base = resolve_in_workspace(ctx.workspace, str(args.get("path") or "."))
        pattern = str(args["pattern"])
        if not base.is_dir():
            return ToolResult(False, f"{display_path(ctx.workspace, base)} is not a directory.")
        try:
            lines, _ = run_rg(ctx.rg, ["--files", "--glob", pattern, "--sort", "path", "."],
                              base)
        except RipgrepError as exc:
            return ToolResult(False, f"glob failed: {exc}.")
        root = display_path(ctx.workspace, base)
        found = [line.removeprefix("./") for line in lines]
        found = [name for name in found if not ctx.is_secret(name)]
        if root != ".":
            found = [f"{root}/{name}" for name in found]
        if not found:
            return ToolResult(True, f"No files match {pattern}.")
        shown = found[:MAX_FILES]
        more = len(found) - len(shown)
        tail = [f"({more} more; use a narrower pattern)"] if more else []
        return ToolResult(True, "\n".join([*shown, *tail]))
