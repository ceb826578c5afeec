"""``bash``: run a shell command in the workspace, through the sandbox.

The command runs with ``bash -c`` under the sandbox the CLI chose, with a
timeout, its whole process tree killed at the end, and its output capped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moatcode.tools.base import ToolContext, ToolResult
from moatcode.types import Action, Source

MAX_TIMEOUT_S = 600.0


class BashTool:
    name = "bash"
    description = (
        "Run a bash command in the workspace (no network). Returns output and exit code."
    )
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "integer", "minimum": 1, "maximum": 600,
                        "description": "Seconds (default 120)."},
        },
        "required": ["command"],
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "bash", command=str(args.get("command", "")))

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        command = str(args["command"])
        if not command.strip():
            return ToolResult(False, "command is empty.")
        timeout = min(float(args.get("timeout") or ctx.command_timeout_s), MAX_TIMEOUT_S)
        result = ctx.sandbox.run(["bash", "-c", command], ctx.workspace, timeout, ctx.env,
                                 max_output=ctx.max_output_bytes)
        output = result.output.decode("utf-8", errors="replace")
        notes = []
        if result.output_truncated:
            notes.append(f"[output cut at {ctx.max_output_bytes} bytes; redirect to a file "
                         "and read parts of it, or filter with grep/tail]")
        if result.timed_out:
            notes.append(f"[timed out after {timeout:g}s; the command and everything it "
                         "started were killed]")
        notes.append(f"[exit code {result.exit_code}]")
        text = output.rstrip("\n")
        body = "\n".join([text, *notes]) if text else "\n".join(["(no output)", *notes])
        ok = result.exit_code == 0 and not result.timed_out
        return ToolResult(ok, body, exit_code=result.exit_code,
                          sources=(Source("command", command[:200]),),
                          more_hint="redirect the output to a file and read it in parts "
                                    "with read_file (offset/limit), or filter it with grep")
