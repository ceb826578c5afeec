"""``write_file``: create a file or replace its whole content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moatcode.tools._change import read_existing, save_change
from moatcode.tools._files import decode_text, encode_text, is_binary
from moatcode.tools._paths import display_path, resolve_in_workspace
from moatcode.tools.base import ToolContext, ToolResult
from moatcode.types import Action


class WriteFileTool:
    name = "write_file"
    description = "Create a file, or replace all of its content. Prefer edit_file for changes."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Path relative to the workspace."},
            "content": {"type": "string", "description": "The whole new content."},
        },
        "required": ["path", "content"],
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "edit", paths=(str(args.get("path", "")),))

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        path = resolve_in_workspace(ctx.workspace, str(args["path"]))
        shown = display_path(ctx.workspace, path)
        if path.is_dir():
            return ToolResult(False, f"{shown} is a directory.")
        content = str(args["content"])
        before = read_existing(path)
        if before is not None and is_binary(before):
            return ToolResult(False, f"{shown} is a binary file; it is not replaced.")
        old = decode_text(before) if before is not None else None
        encoding = old.encoding if old else "utf-8"
        if old and old.newline == "\r\n" and "\r\n" not in content:
            content = content.replace("\n", "\r\n")
        try:
            after = encode_text(content, encoding)
        except UnicodeEncodeError as exc:
            return ToolResult(False, f"{shown} is {encoding}, and the new content has "
                                     f"characters it cannot hold ({exc.reason}).")
        change = save_change(shown, path, before, old.text if old else None, content, after)
        verb = "Created" if before is None else "Replaced"
        lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        return ToolResult(True, f"{verb} {shown} ({lines} lines).", change=change)
