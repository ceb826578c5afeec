from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from moatcode.sandbox.local import UnconfinedSandbox
from moatcode.tools.base import ToolContext


def rg_path() -> str:
    local = Path(sys.executable).parent / "rg"
    return str(local) if local.exists() else (shutil.which("rg") or "rg")


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return ToolContext(workspace=workspace, sandbox=UnconfinedSandbox(),
                       env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, rg=rg_path(),
                       command_timeout_s=20)
