from __future__ import annotations

from moatcode.tools.base import ToolContext, ToolResult
from moatcode.tools.bash import BashTool
from moatcode.tools.todo import TodoTool
from moatcode.types import Source, TodoItem


def test_bash_runs_in_workspace_with_exit_code(ctx: ToolContext) -> None:
    (ctx.workspace / "f.txt").write_text("hello\n")
    result = BashTool().run({"command": "cat f.txt; echo err >&2; exit 3"}, ctx)
    assert result.ok is False
    assert result.exit_code == 3
    assert result.output == "hello\nerr\n[exit code 3]"
    assert result.sources == (Source("command", "cat f.txt; echo err >&2; exit 3"),)


def test_bash_timeout_is_reported(ctx: ToolContext) -> None:
    result = BashTool().run({"command": "sleep 5", "timeout": 1}, ctx)
    assert not result.ok
    assert "[timed out after 1s; the command and everything it started were killed]" in \
        result.output


def test_bash_output_cap(ctx: ToolContext) -> None:
    ctx.max_output_bytes = 1000
    result = BashTool().run({"command": "yes | head -c 100000"}, ctx)
    assert "[output cut at 1000 bytes;" in result.output
    assert len(result.output) < 1300


def test_bash_environment_is_only_what_was_given(ctx: ToolContext) -> None:
    result = BashTool().run({"command": "env | sort | grep -v '^_=' | grep -v '^PWD=' "
                             "| grep -v '^SHLVL='"}, ctx)
    assert result.output == "LANG=C.UTF-8\nPATH=/usr/bin:/bin\n[exit code 0]"


def test_todo_replaces_the_list(ctx: ToolContext) -> None:
    items = [{"content": "read code", "status": "completed"},
             {"content": "fix bug", "status": "in_progress"},
             {"content": "test", "status": "pending"}]
    result = TodoTool().run({"items": items}, ctx)
    expected = (TodoItem("read code", "completed"), TodoItem("fix bug", "in_progress"),
                TodoItem("test", "pending"))
    assert result == ToolResult(True, "[x] read code\n[~] fix bug\n[ ] test", todos=expected)
    assert ctx.todos == list(expected)
