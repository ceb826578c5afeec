"""``read_file``: a text file from the workspace, with line numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moatcode.tools._files import decode_text, is_binary
from moatcode.tools._paths import display_path, resolve_in_workspace
from moatcode.tools.base import ToolContext, ToolResult
from moatcode.types import Action, Source

MAX_LINE_CHARS = 2000
DEFAULT_LIMIT = 2000


class ReadFileTool:
    name = "read_file"
    description = "Read a text file; lines are numbered. Use offset/limit for large files."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Path relative to the workspace."},
            "offset": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
            "limit": {"type": "integer", "minimum": 1, "description": "Number of lines."},
        },
        "required": ["path"],
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "read", paths=(str(args.get("path", "")),))

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        path = resolve_in_workspace(ctx.workspace, str(args["path"]))
        shown = display_path(ctx.workspace, path)
        if path.is_dir():
            return ToolResult(False, f"{shown} is a directory; use list_files to see it.")
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                data = handle.read(ctx.max_read_bytes + 1)
        except FileNotFoundError:
            return ToolResult(False, f"{shown} does not exist.")
        except OSError as exc:
            return ToolResult(False, f"{shown} cannot be read: {exc.strerror or exc}.")
        if is_binary(data):
            return ToolResult(False, f"{shown} is a binary file ({size} bytes); it is not shown.")
        partial_bytes = len(data) > ctx.max_read_bytes
        if partial_bytes:
            data = data[: ctx.max_read_bytes]
            data = data[: data.rfind(b"\n") + 1] or data
        decoded = decode_text(data)
        lines = decoded.text.splitlines()
        offset = int(args.get("offset") or 1)
        limit = int(args.get("limit") or DEFAULT_LIMIT)
        if lines and offset > len(lines):
            return ToolResult(False, f"{shown} has {len(lines)} lines; offset {offset} is past "
                                     "the end.")
        chosen = lines[offset - 1: offset - 1 + limit]
        end = offset + len(chosen) - 1
        body = "\n".join(
            f"{number:>6}\t{_clip(line)}" for number, line in enumerate(chosen, start=offset)
        )
        notes = []
        if decoded.encoding == "latin-1":
            notes.append("(not UTF-8: decoded as latin-1)")
        more = end < len(lines) or partial_bytes
        if more:
            notes.append(f"(showing lines {offset}-{end}; continue with offset={end + 1})")
        if not lines:
            body = "(empty file)"
        output = "\n".join([body, *notes]) if notes else body
        source = Source("file", shown, offset if chosen else None, end if chosen else None)
        return ToolResult(True, output, sources=(source,))


def _clip(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return f"{line[:MAX_LINE_CHARS]}... [line cut at {MAX_LINE_CHARS} characters]"
