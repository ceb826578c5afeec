"""Run ripgrep for the search and listing tools.

ripgrep honours ``.gitignore``, ``.ignore`` and ``.rgignore`` (also outside a
git repository, with ``--no-require-git``), skips binary files and does not
follow symlinks, which is what the tools want.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

BASE_ARGS = ("--no-config", "--no-require-git", "--hidden", "--glob", "!.git/", "--color",
             "never")
TIMEOUT_S = 60


class RipgrepError(Exception):
    pass


def run_rg(rg: str, args: Sequence[str], cwd: Path) -> tuple[list[str], bool]:
    """Run ``rg``; return its output lines and whether it found anything."""
    try:
        done = subprocess.run(
            [rg, *BASE_ARGS, *args],
            cwd=cwd,
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        )
    except FileNotFoundError as exc:
        raise RipgrepError(f"the ripgrep binary {rg!r} is missing") from exc
    except subprocess.TimeoutExpired as exc:
        raise RipgrepError(f"ripgrep took longer than {TIMEOUT_S}s") from exc
    if done.returncode not in (0, 1):
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise RipgrepError(message[0] if message else f"ripgrep exited {done.returncode}")
    lines = done.stdout.decode("utf-8", errors="replace").splitlines()
    return lines, done.returncode == 0
