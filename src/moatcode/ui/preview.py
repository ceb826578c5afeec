"""What an edit would do, as a diff, for the approval prompt.

The agent's preview of an edit is its arguments; a person wants the diff. This
computes it the way ``edit_file`` and ``write_file`` would apply it, reading
the file only when it is inside the workspace and not a secret (the preview is
shown on screen, never sent anywhere). When the exact text is not found (the
tool may still match it loosely) the diff is of the two strings alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

MAX_PREVIEW_BYTES = 1 << 20


def edit_preview(workspace: Path, tool: str, args: Mapping[str, Any],
                 is_secret: Callable[[Path], bool] | None = None) -> str | None:
    """A unified diff of the edit ``args`` describe, or None when ``tool`` does not edit."""
    if tool not in ("edit_file", "write_file"):
        return None
    shown = str(args.get("path", ""))
    before = _read(workspace, shown, is_secret)
    if tool == "write_file":
        return _diff(shown, before, str(args.get("content", "")))
    old, new = str(args.get("old_string", "")), str(args.get("new_string", ""))
    if before is None:
        return _diff(shown, None, new) if not old else _diff(shown, old, new, loose=True)
    count = before.count(old) if old else 0
    if count == 1 or (count > 1 and args.get("replace_all")):
        return _diff(shown, before, before.replace(old, new))
    return _diff(shown, old, new, loose=True)


def _read(workspace: Path, given: str, is_secret: Callable[[Path], bool] | None) -> str | None:
    if not given:
        return None
    root = workspace.resolve()
    path = Path(given).expanduser()
    real = (path if path.is_absolute() else root / path).resolve()
    if not real.is_relative_to(root) or (is_secret is not None and is_secret(real)):
        return None
    try:
        if real.stat().st_size > MAX_PREVIEW_BYTES:
            return None
        data = real.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


def _diff(shown: str, before: str | None, after: str, *, loose: bool = False) -> str:
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"a/{shown}" if before is not None else "/dev/null", tofile=f"b/{shown}",
        n=3)
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if loose:
        # The hunk header's line numbers are of the snippet, not of the file.
        text = "\n".join("@@ (where the old text is found) @@" if line.startswith("@@")
                         else line for line in text.splitlines()) + "\n"
    return text
