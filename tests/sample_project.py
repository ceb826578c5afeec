"""The small project with a failing test that end-to-end tests and benchmarks work on."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(path: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)


def write_buggy_project(repo: Path) -> Path:
    """``add()`` subtracts; ``test_ops.py`` catches it. Committed to a new git repository."""
    (repo / "calc").mkdir(parents=True)
    (repo / "calc" / "__init__.py").write_text("")
    (repo / "calc" / "ops.py").write_text("def add(a, b):\n    return a - b\n")
    (repo / "test_ops.py").write_text(
        "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    (repo / "AGENTS.md").write_text("Run the tests with `python -m pytest -q`.\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "init")
    return repo
