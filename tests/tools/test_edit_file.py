from __future__ import annotations

import hashlib
import os
import stat

from moatcode.tools.base import ToolContext, ToolResult
from moatcode.tools.edit_file import EditFileTool
from moatcode.types import FileChange

tool = EditFileTool()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_exact_single_match_edits_atomically_and_reports_the_change(ctx: ToolContext) -> None:
    path = ctx.workspace / "m.py"
    path.write_text("def f():\n    return 1\n")
    os.chmod(path, 0o750)
    result = tool.run({"path": "m.py", "old_string": "return 1", "new_string": "return 2"}, ctx)
    assert result == ToolResult(True, "Edited m.py: replaced 1 occurrence.", change=FileChange(
        "m.py", sha(b"def f():\n    return 1\n"), sha(b"def f():\n    return 2\n"),
        "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return 2\n"))
    assert path.read_text() == "def f():\n    return 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    assert [p.name for p in ctx.workspace.iterdir()] == ["m.py"]  # no temp file left


def test_several_matches_need_more_context(ctx: ToolContext) -> None:
    (ctx.workspace / "m.py").write_text("x = 1\ny = 2\nx = 1\n")
    result = tool.run({"path": "m.py", "old_string": "x = 1", "new_string": "x = 3"}, ctx)
    assert result == ToolResult(False, "old_string matches 2 places in m.py (lines 1, 3); "
                                       "include more surrounding lines to make it unique, or "
                                       "set replace_all.")


def test_replace_all(ctx: ToolContext) -> None:
    (ctx.workspace / "m.py").write_text("x = 1\nx = 1\n")
    result = tool.run({"path": "m.py", "old_string": "x = 1", "new_string": "x = 3",
                       "replace_all": True}, ctx)
    assert result.output == "Edited m.py: replaced 2 occurrences."
    assert (ctx.workspace / "m.py").read_text() == "x = 3\nx = 3\n"


def test_no_match_lists_nearest_candidates_with_line_numbers(ctx: ToolContext) -> None:
    (ctx.workspace / "m.py").write_text(
        "import os\n\n\ndef total(items):\n    return sum(item.price for item in items)\n")
    result = tool.run({"path": "m.py",
                       "old_string": "    return sum(item.cost for item in items)",
                       "new_string": "    return 0"}, ctx)
    assert not result.ok
    assert result.output.startswith("old_string was not found in m.py. The nearest candidates:\n"
                                    "lines 5-5 (")
    assert "     5\t    return sum(item.price for item in items)" in result.output
    assert (ctx.workspace / "m.py").read_text().endswith("item.price for item in items)\n")


def test_whitespace_tolerant_fallback_is_reported(ctx: ToolContext) -> None:
    (ctx.workspace / "m.py").write_text("class A:\n    def f(self):\n        return 1  \n")
    result = tool.run({"path": "m.py", "old_string": "def f(self):\n    return 1",
                       "new_string": "def f(self):\n    return 2"}, ctx)
    assert result.ok
    assert "only after ignoring differences in indentation" in result.output
    assert (ctx.workspace / "m.py").read_text() == "class A:\n    def f(self):\n        return 2\n"


def test_crlf_file_keeps_its_line_endings(ctx: ToolContext) -> None:
    (ctx.workspace / "w.txt").write_bytes(b"a\r\nb\r\nc\r\n")
    result = tool.run({"path": "w.txt", "old_string": "a\nb", "new_string": "a\nB"}, ctx)
    assert result.ok
    assert (ctx.workspace / "w.txt").read_bytes() == b"a\r\nB\r\nc\r\n"


def test_latin1_file_round_trips(ctx: ToolContext) -> None:
    (ctx.workspace / "l.txt").write_bytes("prix: 5€?\ncafé\n".encode("latin-1", "replace"))
    result = tool.run({"path": "l.txt", "old_string": "café", "new_string": "thé"}, ctx)
    assert result.ok
    assert (ctx.workspace / "l.txt").read_bytes() == "prix: 5??\nthé\n".encode("latin-1")


def test_create_with_empty_old_string(ctx: ToolContext) -> None:
    result = tool.run({"path": "new/n.py", "old_string": "", "new_string": "x = 1\n"}, ctx)
    assert result.ok and result.change is not None and result.change.before_sha256 is None
    assert (ctx.workspace / "new/n.py").read_text() == "x = 1\n"


def test_missing_file_with_old_string(ctx: ToolContext) -> None:
    result = tool.run({"path": "n.py", "old_string": "x", "new_string": "y"}, ctx)
    assert result == ToolResult(False, "n.py does not exist; to create it, call edit_file with "
                                       "an empty old_string, or use write_file.")
