"""One line per tool call: what each tool's line names, and how diffs and output are cut."""

from __future__ import annotations

import pytest

from moatcode.ui.glyphs import ASCII, UNICODE, glyphs_for
from moatcode.ui.tool_view import call_line, describe_call, diff_counts, diff_text, output_tail


@pytest.mark.parametrize(("name", "arguments", "shown"), [
    ("bash", '{"command": "git   status\\n"}', "git status"),
    ("read_file", '{"path": "a.py"}', "a.py"),
    ("read_file", '{"path": "a.py", "offset": 40, "limit": 10}', "a.py (from line 40)"),
    ("edit_file", '{"path": "b.py", "old_string": "x", "new_string": "y"}', "b.py"),
    ("grep", '{"pattern": "TODO", "path": "src"}', "TODO in src"),
    ("glob", '{"pattern": "**/*.md"}', "**/*.md"),
    ("list_files", "{}", "."),
    ("todo", '{"items": []}', "the task list"),
    ("web_fetch", '{"url":  "x"}', '{"url": "x"}'),
    ("bash", "not json", ""),
])
def test_describe_call(name: str, arguments: str, shown: str) -> None:
    assert describe_call(name, arguments) == shown


def test_call_line_cuts_a_long_target_to_the_width() -> None:
    line = call_line("✓", "green", "bash", "x" * 200, "exit 0 · 1.2s", 40)
    assert line.plain == "✓ Bash  xxxxxxxxxxxxxxxx…  exit 0 · 1.2s"
    assert len(line.plain) <= 40


def test_diff_counts_and_text() -> None:
    diff = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n+d\n"
    assert diff_counts(diff) == (2, 1)
    assert diff_text(diff, UNICODE).plain == "    @@ -1,3 +1,3 @@\n     a\n    -b\n    +c\n    +d"
    assert diff_text(diff, ASCII, max_lines=2).plain == (
        "    @@ -1,3 +1,3 @@\n     a\n    ... 3 more diff lines (/diff shows everything)")


def test_a_diff_of_several_files_names_each() -> None:
    diff = ("diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n"
            "-1\n+2\ndiff --git a/y.txt b/y.txt\ndeleted file mode 100644\n")
    assert diff_text(diff, UNICODE).plain == (
        "  x.py\n    @@ -1 +1 @@\n    -1\n    +2\n  y.txt\n    deleted file mode 100644")


def test_output_tail() -> None:
    assert output_tail("a\nb\n", UNICODE, keep=3).plain == "    │ a\n    │ b"
    assert output_tail("1\n2\n3\n4", ASCII, keep=2).plain == (
        "    ... 2 lines above\n    | 3\n    | 4")


@pytest.mark.parametrize(("encoding", "glyphs"), [
    ("utf-8", UNICODE), ("UTF8", UNICODE), ("ascii", ASCII), ("latin-1", ASCII),
    ("no-such-codec", ASCII), (None, ASCII)])
def test_glyphs_follow_the_output_encoding(encoding: str | None, glyphs: object) -> None:
    assert glyphs_for(encoding) == glyphs
