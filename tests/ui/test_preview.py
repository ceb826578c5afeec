"""The diff an approval shows for an edit, computed as the edit tools would apply it."""

from __future__ import annotations

from pathlib import Path

from moatcode.ui.preview import edit_preview


def test_edit_write_and_new_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\ny = 2\n")
    assert edit_preview(tmp_path, "edit_file", {"path": "a.py", "old_string": "y = 2",
                                                "new_string": "y = 3"}) == (
        "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n")
    assert edit_preview(tmp_path, "write_file", {"path": "a.py", "content": "z\n"}) == (
        "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1 @@\n-x = 1\n-y = 2\n+z\n")
    assert edit_preview(tmp_path, "edit_file", {"path": "new.py", "old_string": "",
                                                "new_string": "hi\n"}) == (
        "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+hi\n")
    assert edit_preview(tmp_path, "bash", {"command": "ls"}) is None


def test_text_not_found_exactly_shows_the_two_strings(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("y = 2\n")
    assert edit_preview(tmp_path, "edit_file", {"path": "a.py", "old_string": "y=2",
                                                "new_string": "y=3"}) == (
        "--- a/a.py\n+++ b/a.py\n@@ (where the old text is found) @@\n-y=2\n+y=3\n")


def test_secret_and_outside_files_are_not_read(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text("KEY=secret\n")
    (tmp_path / "outside.txt").write_text("private\n")
    secret = edit_preview(work, "write_file", {"path": ".env", "content": "KEY=new\n"},
                          is_secret=lambda p: p.name == ".env")
    outside = edit_preview(work, "write_file", {"path": "../outside.txt", "content": "x\n"})
    assert secret is not None and "secret" not in secret
    assert outside is not None and "private" not in outside
