"""``list_files``: the files under a directory, as a short tree.

Ignored files (``.gitignore`` and friends) and ``.git`` are left out.
Directories deeper than ``depth`` are shown with the number of files in them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from moatcode.tools._paths import display_path, resolve_in_workspace
from moatcode.tools._rg import RipgrepError, run_rg
from moatcode.tools.base import ToolContext, ToolResult
from moatcode.types import Action

MAX_ENTRIES = 400


class ListFilesTool:
    name = "list_files"
    description = "List files under a directory as a tree (ignored files skipped)."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Directory (default: workspace root)."},
            "depth": {"type": "integer", "minimum": 1, "description": "Levels shown (3)."},
        },
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "read", paths=(str(args.get("path") or "."),))

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        base = resolve_in_workspace(ctx.workspace, str(args.get("path") or "."))
        shown = display_path(ctx.workspace, base)
        if not base.is_dir():
            return ToolResult(False, f"{shown} is not a directory.")
        depth = int(args.get("depth") or 3)
        try:
            lines, _ = run_rg(ctx.rg, ["--files", "--sort", "path", "."], base)
        except RipgrepError as exc:
            return ToolResult(False, f"list_files failed: {exc}.")
        # Secret files (.env, keys) are listed, since knowing they exist helps; their
        # contents stay out of reach of the read tools.
        files = [line.removeprefix("./") for line in lines]
        if not files:
            return ToolResult(True, f"{shown}/ is empty (or holds only ignored files).")
        entries = _tree(files, depth)
        out = entries[:MAX_ENTRIES]
        if len(entries) > MAX_ENTRIES:
            out.append(f"({len(entries) - MAX_ENTRIES} more entries; list a subdirectory)")
        header = f"{shown}/ ({len(files)} files)"
        return ToolResult(True, "\n".join([header, *out]))


def _tree(files: list[str], depth: int) -> list[str]:
    """Indented entries; a directory at the depth limit shows how many files it holds."""
    entries: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    deep: Counter[str] = Counter()
    for name in files:
        parts = name.split("/")
        for level in range(1, min(len(parts) - 1, depth) + 1):
            directory = "/".join(parts[:level])
            if directory not in seen:
                seen.add(directory)
                entries.append((directory, level - 1, parts[level - 1] + "/"))
        if len(parts) - 1 < depth:
            entries.append((name, len(parts) - 1, parts[-1]))
        else:
            deep["/".join(parts[:depth])] += 1
    return [
        "  " * indent + label + (f" ({deep[key]} files)" if key in deep else "")
        for key, indent, label in entries
    ]
