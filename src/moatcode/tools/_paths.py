"""Keep every file tool inside the workspace.

A path is resolved against the workspace and then through every symlink; if
the result is not inside the workspace (``..``, an absolute path elsewhere, or
a symlink that leads out), the call is refused.
"""

from __future__ import annotations

from pathlib import Path

from moatcode.tools.base import ToolArgumentError


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """The real path of ``path`` (relative to the workspace, or absolute) inside it."""
    if not path or "\x00" in path:
        raise ToolArgumentError("path is empty or contains a NUL byte.")
    root = workspace.resolve()
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    real = candidate.resolve(strict=False)
    if real != root and not real.is_relative_to(root):
        raise ToolArgumentError(
            f"{path} is outside the workspace {root} (after resolving links); "
            "only files inside the workspace can be used."
        )
    return real


def display_path(workspace: Path, path: Path) -> str:
    """``path`` relative to the workspace, as the model and the user see it."""
    try:
        return path.relative_to(workspace.resolve()).as_posix() or "."
    except ValueError:
        return str(path)
