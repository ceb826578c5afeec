"""``edit_file``: replace one exact piece of text in a file.

The text must match exactly once. When it does not match at all, a match that
ignores differences in indentation and trailing spaces is tried and reported
as such; when that fails too, the answer lists the nearest candidates with
their line numbers so the model can correct its next attempt.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from moatcode.tools._change import read_existing, save_change
from moatcode.tools._files import decode_text, encode_text, is_binary
from moatcode.tools._paths import display_path, resolve_in_workspace
from moatcode.tools.base import ToolContext, ToolResult
from moatcode.types import Action

MAX_CANDIDATES = 3
MAX_WINDOWS = 20_000


class EditFileTool:
    name = "edit_file"
    description = (
        "Replace old_string with new_string in a file. old_string must match exactly once "
        "(include enough surrounding lines), unless replace_all is true. "
        "An empty old_string creates a new file."
    )
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "old_string": {"type": "string", "description": "Exact text to replace."},
            "new_string": {"type": "string", "description": "Text to put in its place."},
            "replace_all": {"type": "boolean", "description": "Replace every occurrence."},
        },
        "required": ["path", "old_string", "new_string"],
    }

    def action(self, args: Mapping[str, Any]) -> Action:
        return Action(self.name, "edit", paths=(str(args.get("path", "")),))

    def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        path = resolve_in_workspace(ctx.workspace, str(args["path"]))
        shown = display_path(ctx.workspace, path)
        old_string, new_string = str(args["old_string"]), str(args["new_string"])
        replace_all = bool(args.get("replace_all", False))
        before = read_existing(path)
        if before is None:
            if old_string:
                return ToolResult(False, f"{shown} does not exist; to create it, call edit_file "
                                         "with an empty old_string, or use write_file.")
            after = new_string.encode("utf-8")
            change = save_change(shown, path, None, None, new_string, after)
            return ToolResult(True, f"Created {shown}.", change=change)
        if is_binary(before):
            return ToolResult(False, f"{shown} is a binary file; it cannot be edited.")
        if not old_string:
            return ToolResult(False, f"{shown} already exists; give the old_string to replace, "
                                     "or use write_file to replace the whole file.")
        if old_string == new_string:
            return ToolResult(False, "old_string and new_string are the same; nothing to do.")
        current = decode_text(before)
        text = current.text
        if current.newline == "\r\n" and "\r\n" not in old_string:
            old_string = old_string.replace("\n", "\r\n")
            new_string = new_string.replace("\n", "\r\n")
        count = text.count(old_string)
        note = ""
        if count == 1 or (count > 1 and replace_all):
            updated = text.replace(old_string, new_string)
        elif count > 1:
            lines = _line_numbers(text, old_string)
            return ToolResult(False, f"old_string matches {count} places in {shown} (lines "
                                     f"{', '.join(map(str, lines))}); include more surrounding "
                                     "lines to make it unique, or set replace_all.")
        else:
            loose = _loose_replace(text, old_string, new_string)
            if loose is None:
                return ToolResult(False, _no_match_message(shown, text, old_string))
            updated, first, last = loose
            note = (f" (old_string matched lines {first}-{last} only after ignoring "
                    "differences in indentation and trailing spaces; check the result)")
        try:
            after = encode_text(updated, current.encoding)
        except UnicodeEncodeError as exc:
            return ToolResult(False, f"{shown} is {current.encoding}, and new_string has "
                                     f"characters it cannot hold ({exc.reason}).")
        change = save_change(shown, path, before, text, updated, after)
        replaced = f"{count} occurrences" if count > 1 else "1 occurrence"
        return ToolResult(True, f"Edited {shown}: replaced {replaced}{note}.", change=change)


def _line_numbers(text: str, needle: str) -> list[int]:
    numbers, start = [], 0
    while (index := text.find(needle, start)) >= 0:
        numbers.append(text.count("\n", 0, index) + 1)
        start = index + 1
    return numbers


def _loose_replace(text: str, old: str, new: str) -> tuple[str, int, int] | None:
    """Replace ``old`` where it matches once with whitespace ignored at line edges."""
    lines = text.splitlines(keepends=True)
    old_lines = old.strip("\r\n").splitlines()
    if not old_lines:
        return None
    key = [line.strip() for line in old_lines]
    stripped = [line.strip() for line in lines]
    size = len(key)
    hits = [i for i in range(len(lines) - size + 1) if stripped[i:i + size] == key]
    if len(hits) != 1:
        return None
    start = hits[0]
    file_indent = _indent(lines[start])
    old_indent = _indent(old_lines[0])
    new_lines = new.strip("\r\n").splitlines()
    reindented = [
        file_indent + line[len(old_indent):] if line.startswith(old_indent) else line
        for line in new_lines
    ]
    newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
    last = lines[start + size - 1]
    ending = newline if last.endswith(("\n", "\r")) else ""
    replacement = newline.join(reindented) + ending if reindented else ""
    updated = "".join(lines[:start]) + replacement + "".join(lines[start + size:])
    return updated, start + 1, start + size


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _no_match_message(shown: str, text: str, old: str) -> str:
    lines = text.splitlines()
    size = max(1, len(old.strip("\r\n").splitlines()))
    target = old.strip("\r\n")
    scored: list[tuple[float, int]] = []
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    for start in range(min(len(lines) - size + 1, MAX_WINDOWS)):
        window = "\n".join(lines[start:start + size])
        matcher.set_seq1(window)
        if matcher.real_quick_ratio() < 0.5 or matcher.quick_ratio() < 0.5:
            continue
        ratio = matcher.ratio()
        if ratio >= 0.5:
            scored.append((ratio, start))
    scored.sort(key=lambda item: (-item[0], item[1]))
    picked: list[tuple[float, int]] = []
    for ratio, start in scored:
        if all(abs(start - other) >= size for _, other in picked):
            picked.append((ratio, start))
        if len(picked) == MAX_CANDIDATES:
            break
    message = f"old_string was not found in {shown}."
    if not picked:
        return message + " No similar text either; read the file again before editing."
    parts = [message + " The nearest candidates:"]
    for ratio, start in picked:
        snippet = "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(start + 1, start + size + 1))
        parts.append(f"lines {start + 1}-{start + size} ({ratio:.0%} similar):\n{snippet}")
    return "\n".join(parts)
