"""The renderer's output for a whole turn, exactly, as a pipe or a log sees it (80 columns)."""

from __future__ import annotations

from moatcode.events import (
    AssistantTurn,
    ModelRequestSent,
    ModelRetry,
    Notice,
    PermissionDecided,
    SecretsRedacted,
    SessionStarted,
    TextDelta,
    TodoUpdated,
    ToolCallFinished,
    ToolCallStarted,
)
from moatcode.types import FileChange, Message, Redaction, TodoItem, ToolCall, Usage
from moatcode.ui.console import ConsoleRenderer, HeldEvents
from moatcode.ui.glyphs import ASCII
from moatcode.ui.status import Status
from tests.ui.conftest import Screen

BASH = ToolCall("c1", "bash", '{"command": "python -m pytest -q"}')
EDIT = ToolCall("c2", "edit_file", '{"path": "calc/ops.py", "old_string": "a", '
                                   '"new_string": "b"}')
DIFF = ("--- a/calc/ops.py\n+++ b/calc/ops.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n"
        "-    return a - b\n+    return a + b\n")


def finished(call: ToolCall, ok: bool, output: str, **kw: object) -> ToolCallFinished:
    return ToolCallFinished(step=1, call_id=call.id, tool=call.name, ok=ok, output=output,
                            output_bytes=len(output), output_sha256="x", **kw)  # type: ignore[arg-type]


def clock() -> float:
    return 0.0


def test_a_turn_with_text_a_command_an_edit_and_a_task_list(screen: Screen) -> None:
    status = Status()
    render = ConsoleRenderer(screen.console, status, live=False, clock=clock)
    output = "\n".join(f"line {n}" for n in range(1, 11)) + "\n1 failed\n[exit code 1]"
    for event in (
        SessionStarted("s", "/w", "qwen", "http://h/v1", ("bash",), "accept-edits"),
        ModelRequestSent(1, "http://h/v1", "qwen", 100, 25, "sha", "{}"),
        TextDelta("Let me run "), TextDelta("the tests."),
        AssistantTurn(1, Message("assistant", "Let me run the tests.", (BASH, EDIT)),
                      Usage(1200, 30), "tool_calls", 5.0, "sha"),
        ToolCallStarted(1, BASH),
        PermissionDecided("c1", "bash", "allow", "Bash(python -m pytest *)", "flag"),
        finished(BASH, False, output, exit_code=1),
        ToolCallStarted(1, EDIT),
        PermissionDecided("c2", "edit_file", "allow", "mode:accept-edits", "mode"),
        finished(EDIT, True, "Edited calc/ops.py", change=FileChange("calc/ops.py", "a", "b",
                                                                     DIFF)),
        TodoUpdated((TodoItem("Run the tests", "completed"), TodoItem("Fix add", "in_progress"),
                     TodoItem("Run them again"))),
        Notice("Compacted the conversation."),
    ):
        render(event)
    assert screen.text == (
        "Let me run the tests.\n"
        "\n"
        "✗ Bash  python -m pytest -q  exit 1\n"
        "    … 5 lines above\n"
        "    │ line 6\n"
        "    │ line 7\n"
        "    │ line 8\n"
        "    │ line 9\n"
        "    │ line 10\n"
        "    │ 1 failed\n"
        "✓ Edit  calc/ops.py  +1 -1\n"
        "    @@ -1,2 +1,2 @@\n"
        "     def add(a, b):\n"
        "    -    return a - b\n"
        "    +    return a + b\n"
        "  Tasks\n"
        "    ☑ Run the tests\n"
        "    ◐ Fix add\n"
        "    ☐ Run them again\n"
        "• Compacted the conversation.\n")
    assert status == Status(model="qwen", mode="accept-edits", context_used=1230,
                            session_tokens=1230, requests=1)


def test_denials_name_who_decided_and_carry_the_note(screen: Screen) -> None:
    render = ConsoleRenderer(screen.console, live=False, clock=clock)
    render(ToolCallStarted(1, BASH))
    render(PermissionDecided("c1", "bash", "deny", "mode:default", "mode", "user",
                             note="use make test"))
    render(finished(BASH, False, "declined"))
    render(ToolCallStarted(1, EDIT))
    render(PermissionDecided("c2", "edit_file", "deny", "Edit(.env)", "managed"))
    render(finished(EDIT, False, "denied"))
    assert screen.text == (
        "⊘ Bash  python -m pytest -q  declined by you\n"
        "    note to the model: use make test\n"
        "⊘ Edit  calc/ops.py  denied by Edit(.env)\n")


def test_failures_retries_and_redactions_in_ascii(screen: Screen) -> None:
    render = ConsoleRenderer(screen.console, glyphs=ASCII, live=False, clock=clock)
    read = ToolCall("c3", "read_file", '{"path": "missing.py"}')
    render(ToolCallStarted(1, read))
    render(finished(read, False, "Error: missing.py does not exist.\nMore."))
    render(ModelRetry(2, 1, "HTTP 503", 1.5))
    render(SecretsRedacted("tool:c3", (Redaction("aws-key", "[REDACTED:aws-key:1]", "tool:c3"),
                                       Redaction("password", "[REDACTED:password:1]",
                                                 "tool:c3"))))
    assert screen.text == (
        "x Read  missing.py\n"
        "    missing.py does not exist.\n"
        "* The model request failed (HTTP 503); retry 1 in 1.5s\n"
        "* Masked 2 secrets (aws-key, password) in tool:c3 before it reaches the model.\n")


def test_an_answer_that_was_not_streamed_is_shown_whole(screen: Screen) -> None:
    render = ConsoleRenderer(screen.console, live=False, clock=clock)
    render(AssistantTurn(1, Message("assistant", "All done."), Usage(10, 2), "stop", 1.0, "x"))
    assert screen.text == "All done.\n"


def test_markdown_blocks_are_rendered_with_one_blank_line_between(screen: Screen) -> None:
    terminal = Screen(terminal=False)
    render = ConsoleRenderer(terminal.console, live=True, clock=clock)
    render(AssistantTurn(1, Message("assistant", "# Plan\n\nFirst **this**.\n\n- one\n- two"),
                         Usage(), "stop", 1.0, "x"))
    lines = [line.rstrip() for line in terminal.text.splitlines()]
    assert [line for line in lines if line.strip()][1:] == ["First this.", " • one", " • two"]
    assert lines[-4:] == ["First this.", "", " • one", " • two"]


def test_held_events_wait_for_release_but_fill_the_status_at_once(screen: Screen) -> None:
    render = ConsoleRenderer(screen.console, live=False, clock=clock)
    held = HeldEvents(render)
    held(SessionStarted("s", "/w", "qwen", "e", (), "plan"))
    held(Notice("Tool calling on qwen: native."))
    assert (render.status.model, render.status.mode, screen.text) == ("qwen", "plan", "")
    held.release()
    held(Notice("after"))
    assert screen.text == "• Tool calling on qwen: native.\n• after\n"


def test_long_output_lines_are_cut_at_the_edge_not_wrapped() -> None:
    narrow = Screen(width=40)
    render = ConsoleRenderer(narrow.console, live=False, clock=clock)
    render(ToolCallStarted(1, BASH))
    render(finished(BASH, True, "=" * 60 + " summary\n1 passed\n[exit code 0]", exit_code=0))
    assert narrow.text == (
        "✓ Bash  python -m pytest -q  exit 0\n"
        "    │ =================================…\n"
        "    │ 1 passed\n")
