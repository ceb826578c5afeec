"""``grep``: search file contents with ripgrep (regex, glob filter, context lines)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from moatcode.tools._paths import display_path, resolve_in_workspace
from moatcode.tools._rg import RipgrepError, run_rg
from moatcode.tools.base import ToolContext, ToolResult
from moatcode.types import Action, Source

DEFAULT_MAX = 100
MAX_LINE_CHARS = 400


class GrepTool:
    name = "grep"
    description = "Search file contents for a regex (ripgrep syntax); ignored files skipped."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Regular expression."},
            "path": {"type": "string", "description": "File or directory (default: all)."},
            "glob": {"type": "string", "description": "Only files matching, e.g. *.py"},
            "context": {"type": "integer", "minimum": 0, "maximum": 10},
            "ignore_case": {"type": "boolean"},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
        "required": ["pattern"],
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "read", paths=(str(args.get("path") or "."),))

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        target = resolve_in_workspace(ctx.workspace, str(args.get("path") or "."))
        if not target.exists():
            return ToolResult(False, f"{display_path(ctx.workspace, target)} does not exist.")
        rg_args = ["--json", "--max-columns", "2000"]
        if args.get("glob"):
            rg_args += ["--glob", str(args["glob"])]
        if args.get("context"):
            rg_args += ["--context", str(int(args["context"]))]
        if args.get("ignore_case"):
            rg_args.append("--ignore-case")
        relative = display_path(ctx.workspace, target)
        rg_args += ["--regexp", str(args["pattern"]), "--", relative]
        try:
            lines, found = run_rg(ctx.rg, rg_args, ctx.workspace.resolve())
        except RipgrepError as exc:
            return ToolResult(False, f"grep failed: {exc}.")
        if not found:
            return ToolResult(True, "No matches.")
        return _format(lines, int(args.get("max_results") or DEFAULT_MAX), ctx.is_secret)


def _format(lines: list[str], limit: int, is_secret: Callable[[str], bool]) -> ToolResult:
    out: list[str] = []
    ranges: dict[str, list[int]] = {}
    matches = 0
    hidden: set[str] = set()
    last: tuple[str, int] | None = None
    for raw in lines:
        event = json.loads(raw)
        kind = event.get("type")
        if kind not in ("match", "context"):
            continue
        data = event["data"]
        path = _text(data["path"]).removeprefix("./")
        if is_secret(path):
            hidden.add(path)
            continue
        number = int(data.get("line_number") or 0)
        if kind == "match":
            matches += 1
            if matches > limit:
                continue
        elif matches >= limit:
            continue
        if last is not None and (last[0] != path or number > last[1] + 1):
            out.append("--")
        last = (path, number)
        text = _text(data["lines"]).rstrip("\r\n")
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + "..."
        separator = ":" if kind == "match" else "-"
        out.append(f"{path}{separator}{number}{separator}{text}")
        ranges.setdefault(path, []).append(number)
    if matches > limit:
        out.append(f"({matches - limit} more matches not shown; narrow the pattern, path or glob)")
    if hidden:
        out.append(f"(matches in {len(hidden)} secret file(s) such as .env or keys are not "
                   "shown: policy keeps them out of prompts)")
    if not out:
        return ToolResult(True, "No matches.")
    sources = tuple(Source("file", path, min(numbers), max(numbers))
                    for path, numbers in ranges.items())
    return ToolResult(True, "\n".join(out), sources=sources)


def _text(field: dict[str, Any]) -> str:
    if "text" in field:
        return str(field["text"])

    return base64.b64decode(field.get("bytes", "")).decode("utf-8", errors="replace")
