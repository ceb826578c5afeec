from __future__ import annotations

import subprocess

from moatcode.tools.base import ToolContext, ToolResult
from moatcode.tools.glob import GlobTool
from moatcode.tools.grep import GrepTool
from moatcode.tools.list_files import ListFilesTool
from moatcode.types import Source


def make_tree(ctx: ToolContext) -> None:
    ws = ctx.workspace
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    (ws / ".gitignore").write_text("build/\n*.log\n")
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "pkg" / "core.py").write_text("def add(a, b):\n    return a + b\n\n\nTODO = 1\n")
    (ws / "src" / "main.py").write_text("from pkg.core import add\nprint(add(1, 2))\n")
    (ws / "build").mkdir()
    (ws / "build" / "out.py").write_text("def add(): pass\n")
    (ws / "debug.log").write_text("add\n")
    (ws / "README.md").write_text("# demo\n")


def test_glob_honours_gitignore(ctx: ToolContext) -> None:
    make_tree(ctx)
    result = GlobTool().run({"pattern": "**/*.py"}, ctx)
    assert result == ToolResult(True, "src/main.py\nsrc/pkg/core.py")


def test_glob_under_a_directory(ctx: ToolContext) -> None:
    make_tree(ctx)
    assert GlobTool().run({"pattern": "*.py", "path": "src/pkg"}, ctx).output == "src/pkg/core.py"


def test_list_files_tree_with_depth(ctx: ToolContext) -> None:
    make_tree(ctx)
    assert ListFilesTool().run({"depth": 2}, ctx).output == (
        "./ (4 files)\n.gitignore\nREADME.md\nsrc/\n  main.py\n  pkg/ (1 files)")


def test_grep_with_context_sources_and_ignores(ctx: ToolContext) -> None:
    make_tree(ctx)
    result = GrepTool().run({"pattern": r"def add", "context": 1}, ctx)
    assert result == ToolResult(True, "src/pkg/core.py:1:def add(a, b):\nsrc/pkg/core.py-2-    "
                                      "return a + b", sources=(Source("file", "src/pkg/core.py",
                                                                      1, 2),))


def test_grep_glob_filter_and_cap(ctx: ToolContext) -> None:
    make_tree(ctx)
    (ctx.workspace / "many.txt").write_text("hit\n" * 10)
    result = GrepTool().run({"pattern": "hit", "glob": "*.txt", "max_results": 3}, ctx)
    assert result.output == ("many.txt:1:hit\nmany.txt:2:hit\nmany.txt:3:hit\n"
                             "(7 more matches not shown; narrow the pattern, path or glob)")


def test_grep_no_match_and_bad_regex(ctx: ToolContext) -> None:
    make_tree(ctx)
    assert GrepTool().run({"pattern": "zzz_nothing"}, ctx) == ToolResult(True, "No matches.")
    bad = GrepTool().run({"pattern": "(unclosed"}, ctx)
    assert not bad.ok and bad.output.startswith("grep failed: ")


def test_grep_leaves_secret_files_out(ctx: ToolContext) -> None:
    from moatcode.guard.secret_files import is_secret_file

    make_tree(ctx)
    ctx.is_secret = is_secret_file
    (ctx.workspace / ".env").write_text("DB_PASSWORD=add-me-to-prod\n")
    (ctx.workspace / ".env.example").write_text("DB_PASSWORD=add-here\n")
    result = GrepTool().run({"pattern": "add"}, ctx)
    assert ".env:" not in result.output
    assert ".env.example:1:DB_PASSWORD=add-here" in result.output
    assert result.output.endswith("(matches in 1 secret file(s) such as .env or keys are not "
                                  "shown: policy keeps them out of prompts)")
    assert GlobTool().run({"pattern": ".env*"}, ctx).output == ".env.example"
