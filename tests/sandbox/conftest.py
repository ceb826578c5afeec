"""Fixtures for the sandbox tests: a workspace, a home full of credentials, real bubblewrap."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moatcode.sandbox.base import SandboxPolicy
from moatcode.sandbox.bwrap import BwrapSandbox
from moatcode.sandbox.detect import check_bwrap

# What a developer's home holds that no command may read.
CREDENTIALS = {
    ".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nplanted\n",
    ".aws/credentials": "[default]\naws_secret_access_key = planted\n",
    ".config/gcloud/credentials.db": "planted",
    ".kube/config": "token: planted\n",
    ".docker/config.json": '{"auths": {"planted": {}}}\n',
    ".netrc": "machine example.internal login me password planted\n",
    ".npmrc": "//registry.example.internal/:_authToken=planted\n",
    ".pypirc": "[pypi]\npassword = planted\n",
    ".git-credentials": "https://me:planted@example.internal\n",
}
READ_ONLY = (Path(".git/hooks"), Path(".git/config"), Path(".moat"))
PATH_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


@pytest.fixture(scope="session")
def bwrap_reason() -> str | None:
    return check_bwrap()


@pytest.fixture
def need_bwrap(bwrap_reason: str | None) -> None:
    if bwrap_reason is not None:
        pytest.skip(f"bubblewrap cannot run here: {bwrap_reason}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for name, text in CREDENTIALS.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A repository-shaped workspace outside the home directory."""
    ws = tmp_path / "ws"
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "hooks" / "pre-commit.sample").write_text("#!/bin/sh\n")
    (ws / ".git" / "config").write_text("[core]\n\tbare = false\n")
    (ws / "README.md").write_text("hello\n")
    return ws


@pytest.fixture
def python_paths() -> tuple[Path, ...]:
    """What this interpreter needs inside a sandbox that hides the home directory."""
    real = Path(os.path.realpath(sys.executable))
    return (Path(sys.prefix), Path(sys.base_prefix), real.parent.parent)


MakeSandbox = Callable[..., BwrapSandbox]


@pytest.fixture
def make_sandbox(
    need_bwrap: None, home: Path, workspace: Path, python_paths: tuple[Path, ...]
) -> MakeSandbox:
    """A factory: the workspace, the usual read-only paths, this Python readable; override any."""

    def make(*, home_dir: Path = home, **changes: Any) -> BwrapSandbox:
        fields: dict[str, Any] = {
            "writable_roots": (workspace,),
            "read_only_paths": READ_ONLY,
            "readable_paths": python_paths,
            **changes,
        }
        return BwrapSandbox(SandboxPolicy(**fields), home=home_dir)

    return make


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (our own test process excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found
