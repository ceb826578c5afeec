"""Fixtures for end-to-end tests: a temporary git project and the real `moat` command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sample_project import git, write_buggy_project

__all__ = ["MOAT", "Project", "git", "json_lines", "types_of"]

MOAT = str(Path(sys.executable).parent / "moat")


@dataclass
class Project:
    root: Path
    repo: Path
    home: Path
    env: dict[str, str]

    def run(self, *args: str, base_url: str | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if base_url:
            env["MOAT_BASE_URL"] = base_url
        return subprocess.run([MOAT, *args], cwd=self.repo, env=env, capture_output=True,
                              text=True, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / "moat"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    repo = tmp_path / "repo"
    home = tmp_path / "home"
    home.mkdir()
    write_buggy_project(repo)
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        # The scripted server plays the turns of each test; the auto probe has its own test.
        "MOAT_TOOL_PROTOCOL": "native",
        # No managed policy from this machine's /etc leaks into the tests.
        "MOAT_MANAGED_CONFIG": str(tmp_path / "no-managed.toml"),
        "MOAT_CLAUDE_MANAGED_SETTINGS": str(tmp_path / "no-managed.json"),
    }
    return Project(tmp_path, repo, home, env)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def types_of(lines: Sequence[dict[str, Any]]) -> list[str]:
    return [line["type"] for line in lines]
