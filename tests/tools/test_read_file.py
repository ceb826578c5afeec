from __future__ import annotations

import os
from pathlib import Path

import pytest

from moatcode.tools.base import ToolArgumentError, ToolContext, ToolResult
from moatcode.tools.read_file import ReadFileTool
from moatcode.types import Source

tool = ReadFileTool()


def test_numbered_lines_and_source(ctx: ToolContext) -> None:
    (ctx.workspace / "a.py").write_text("one\ntwo\nthree\n")
    assert tool.run({"path": "a.py"}, ctx) == ToolResult(
        True, "     1\tone\n     2\ttwo\n     3\tthree", sources=(Source("file", "a.py", 1, 3),))


def test_line_range_says_how_to_continue(ctx: ToolContext) -> None:
    (ctx.workspace / "a.txt").write_text("".join(f"l{i}\n" for i in range(1, 11)))
    result = tool.run({"path": "a.txt", "offset": 3, "limit": 2}, ctx)
    assert result.output == "     3\tl3\n     4\tl4\n(showing lines 3-4; continue with offset=5)"
    assert result.sources == (Source("file", "a.txt", 3, 4),)


def test_offset_past_end(ctx: ToolContext) -> None:
    (ctx.workspace / "a.txt").write_text("x\n")
    assert tool.run({"path": "a.txt", "offset": 5}, ctx) == ToolResult(
        False, "a.txt has 1 lines; offset 5 is past the end.")


def test_binary_refused(ctx: ToolContext) -> None:
    (ctx.workspace / "b.bin").write_bytes(b"\x7fELF\x00\x01")
    result = tool.run({"path": "b.bin"}, ctx)
    assert result == ToolResult(False, "b.bin is a binary file (6 bytes); it is not shown.")


def test_not_utf8_is_read_as_latin1(ctx: ToolContext) -> None:
    (ctx.workspace / "l.txt").write_bytes("café\n".encode("latin-1"))
    result = tool.run({"path": "l.txt"}, ctx)
    assert result.ok
    assert result.output == "     1\tcafé\n(not UTF-8: decoded as latin-1)"


def test_size_cap(ctx: ToolContext) -> None:
    ctx.max_read_bytes = 95
    (ctx.workspace / "big.txt").write_text("".join(f"line {i:04d}\n" for i in range(100)))
    result = tool.run({"path": "big.txt"}, ctx)
    assert result.ok
    assert result.output.endswith("(showing lines 1-9; continue with offset=10)")


def test_missing_file(ctx: ToolContext) -> None:
    assert tool.run({"path": "nope.txt"}, ctx) == ToolResult(False, "nope.txt does not exist.")


def test_parent_escape_refused(ctx: ToolContext) -> None:
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        tool.run({"path": "../secret"}, ctx)


def test_symlink_leading_out_refused(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, ctx.workspace / "link.txt")
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        tool.run({"path": "link.txt"}, ctx)


def test_absolute_path_inside_workspace_allowed(ctx: ToolContext) -> None:
    (ctx.workspace / "a.txt").write_text("hi\n")
    assert tool.run({"path": str(ctx.workspace / "a.txt")}, ctx).ok
