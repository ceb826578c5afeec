"""Read-only facts from git for the first turn and the audit record."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

MAX_STATUS_LINES = 30


@dataclass(frozen=True)
class GitFacts:
    root: Path | None
    branch: str = ""
    head: str = ""
    remote: str = ""
    status: str = ""


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=10,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace").strip()


def find_root(cwd: Path) -> Path | None:
    top = _git(cwd, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


def read_facts(cwd: Path) -> GitFacts:
    root = find_root(cwd)
    if root is None:
        return GitFacts(None)
    status = _git(root, "status", "--short") or ""
    lines = status.splitlines()
    if len(lines) > MAX_STATUS_LINES:
        lines = [*lines[:MAX_STATUS_LINES], f"... and {len(lines) - MAX_STATUS_LINES} more"]
    return GitFacts(
        root=root,
        branch=_git(root, "branch", "--show-current") or "",
        head=_git(root, "rev-parse", "HEAD") or "",
        remote=_git(root, "remote", "get-url", "origin") or "",
        status="\n".join(lines) if lines else "clean",
    )
