"""How one tool call looks on screen: a compact line, then its diff or the tail of its output.

Pure functions from event data to ``rich.text.Text``, so the console renderer
and its tests share them.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from moatcode.ui.glyphs import Glyphs

# What each tool is called on screen.
TITLES = {"bash": "Bash", "read_file": "Read", "edit_file": "Edit", "write_file": "Write",
          "grep": "Grep", "glob": "Glob", "list_files": "List", "todo": "Todo"}
OUTPUT_TAIL_LINES = 6
DIFF_MAX_LINES = 40


def parse_arguments(arguments: str) -> dict[str, Any]:
    """The call's arguments as a dict; {} when the model sent something else."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def describe_call(name: str, arguments: str) -> str:
    """The call's target in a few words: the command, the path, the pattern."""
    args = parse_arguments(arguments)

    def arg(key: str) -> str:
        value = args.get(key)
        return " ".join(str(value).split()) if value is not None else ""

    if name == "bash":
        return arg("command")
    if name == "read_file":
        where = arg("path")
        if args.get("offset") or args.get("limit"):
            where += f" (from line {args.get('offset') or 1})"
        return where
    if name in ("edit_file", "write_file"):
        return arg("path")
    if name == "grep":
        inside = arg("path")
        return f"{arg('pattern')}" + (f" in {inside}" if inside else "")
    if name == "glob":
        return arg("pattern")
    if name == "list_files":
        return arg("path") or "."
    if name == "todo":
        return "the task list"
    return " ".join(arguments.split())


def title_of(name: str) -> str:
    return TITLES.get(name, name)


def diff_counts(diff: str) -> tuple[int, int]:
    """Lines added and removed by a unified diff."""
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def call_line(glyph: str, style: str, name: str, target: str, status: str,
              width: int) -> Text:
    """``✓ Bash  python -m pytest -q  · exit 0 · 0.4s``, cut to ``width``."""
    line = Text()
    line.append(glyph, style=style)
    line.append(" ")
    line.append(title_of(name), style="bold")
    room = width - len(line.plain) - len(status) - 4
    if target:
        shown = target if len(target) <= room else target[: max(room - 1, 8)] + "…"
        line.append("  " + shown)
    if status:
        line.append("  " + status, style="dim")
    return line


def diff_text(diff: str, glyphs: Glyphs, max_lines: int = DIFF_MAX_LINES, *,
              wrap: bool = False) -> Text:
    """A unified diff, coloured, cut after ``max_lines``.

    A one-file diff loses its header (the line above names the file); in a
    diff of several files (``git diff``) each file's name is shown in bold.
    Long lines are cut at the screen's edge unless ``wrap`` (an approval must
    show everything).
    """
    body = [line for line in diff.splitlines()
            if not line.startswith(("--- ", "+++ ", "index "))]
    shown = body[:max_lines]
    text = Text(no_wrap=not wrap, overflow="fold" if wrap else "ellipsis")
    for line in shown:
        if line.startswith("diff --git "):
            name = line.split(" b/", 1)[-1]
            text.append(f"  {name}\n", style="bold")
            continue
        style = ("green" if line.startswith("+") else "red" if line.startswith("-")
                 else "cyan" if line.startswith("@@")
                 else "dim" if line.startswith(("new file", "deleted file", "Binary", "old mode",
                                                "new mode", "similarity", "rename"))
                 else "")
        text.append("    " + line + "\n", style=style)
    if len(body) > max_lines:
        text.append(f"    {glyphs.more} {len(body) - max_lines} more diff lines "
                    "(/diff shows everything)\n", style="dim")
    text.rstrip()
    return text


def output_tail(output: str, glyphs: Glyphs, keep: int = OUTPUT_TAIL_LINES) -> Text:
    """The last ``keep`` lines of a command's output, saying how many are hidden above."""
    lines = output.rstrip("\n").splitlines()
    text = Text(no_wrap=True, overflow="ellipsis")
    if len(lines) > keep:
        text.append(f"    {glyphs.more} {len(lines) - keep} lines above\n", style="dim")
        lines = lines[-keep:]
    for line in lines:
        text.append(f"    {glyphs.gutter} {line}\n", style="dim")
    text.rstrip()
    return text
