from __future__ import annotations

import hashlib
import os
import stat

from moatcode.tools.base import ToolContext, ToolResult
from moatcode.tools.write_file import WriteFileTool
from moatcode.types import FileChange

tool = WriteFileTool()


def test_creates_file_and_parents(ctx: ToolContext) -> None:
    result = tool.run({"path": "pkg/new.py", "content": "a = 1\nb = 2\n"}, ctx)
    assert result == ToolResult(True, "Created pkg/new.py (2 lines).", change=FileChange(
        "pkg/new.py", None, hashlib.sha256(b"a = 1\nb = 2\n").hexdigest(),
        "--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n"))


def test_replace_keeps_permissions(ctx: ToolContext) -> None:
    path = ctx.workspace / "run.sh"
    path.write_text("echo 1\n")
    os.chmod(path, 0o755)
    assert tool.run({"path": "run.sh", "content": "echo 2\n"}, ctx).ok
    assert path.read_text() == "echo 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755


def test_outside_workspace_refused(ctx: ToolContext) -> None:
    import pytest

    from moatcode.tools.base import ToolArgumentError
    with pytest.raises(ToolArgumentError):
        tool.run({"path": "/etc/passwd", "content": "x"}, ctx)
    with pytest.raises(ToolArgumentError):
        tool.run({"path": "a/../../x", "content": "x"}, ctx)


def test_symlinked_directory_leading_out_refused(ctx: ToolContext, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from moatcode.tools.base import ToolArgumentError
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, ctx.workspace / "d")
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        tool.run({"path": "d/x.txt", "content": "x"}, ctx)
    assert not (outside / "x.txt").exists()
