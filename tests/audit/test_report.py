from __future__ import annotations

from pathlib import Path

import pytest

from moatcode.audit.report import (
    ActionRow,
    FileRow,
    MaskedSecrets,
    RequestRow,
    SessionInfo,
    build_report,
)
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.errors import SessionNotFound
from moatcode.events import (
    AssistantTurn,
    Event,
    ModelRequestSent,
    PermissionDecided,
    SecretsRedacted,
    SessionEnded,
    SessionStarted,
    ToolCallFinished,
    ToolCallStarted,
    UserPrompt,
)
from moatcode.types import FileChange, Message, Redaction, Source, ToolCall, Usage
from tests.audit.conftest import SteppingClock

# What the redactor took out of src/app.py before anything was recorded.
FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz9q8TQ3kLm"
PLACEHOLDER = "[REDACTED:aws-secret-access-key:1]"
ENDPOINT = "http://127.0.0.1:8000/v1"
HOSTILE = "<img src=x onerror=alert(1)>"

READ_APP = ToolCall("call_1", "read_file", '{"path": "src/app.py"}')
READ_TEST = ToolCall("call_2", "read_file", '{"path": "tests/test_app.py"}')
RUN_TESTS = ToolCall("call_3", "bash", '{"command": "pytest -q"}')
EDIT_APP = ToolCall("call_4", "edit_file", '{"path": "src/app.py", "note": "' + HOSTILE + '"}')
SECRET_REDACTION = Redaction("aws-secret-access-key", PLACEHOLDER, "src/app.py", 3)
DIFF = (
    "--- a/src/app.py\n+++ b/src/app.py\n@@ -1,4 +1,4 @@\n"
    f" KEY = \"{PLACEHOLDER}\"\n-def add(a, b): return a - b\n+def add(a, b): return a + b\n"
    " ``` not a fence\n"
)
CHANGE = FileChange("src/app.py", "a" * 64, "b" * 64, DIFF)
INSTRUCTIONS = Source("instructions", "AGENTS.md")
PROMPT = Source("prompt", "")
APP_LINES = Source("file", "src/app.py", 1, 40)
TEST_LINES = Source("file", "tests/test_app.py", 1, 25)
TEST_OUTPUT = Source("command", "call_3")


def request(step: int, sources: tuple[Source, ...], redactions: tuple[Redaction, ...] = ()
            ) -> ModelRequestSent:
    body = f'{{"step": {step}, "note": "{PLACEHOLDER if redactions else ""}"}}'
    return ModelRequestSent(step, ENDPOINT, "qwen2.5-coder", 1000 * step, 250 * step,
                            f"{step}" * 64, body, sources, redactions)


def answer(step: int, *calls: ToolCall) -> AssistantTurn:
    return AssistantTurn(step, Message("assistant", "", calls), Usage(900 * step, 40), "tool_calls",
                         500.0, "c" * 64)


def allowed(call: ToolCall, **how: str) -> PermissionDecided:
    rule, layer = how.pop("rule", "mode:default"), how.pop("layer", "mode")
    return PermissionDecided(call.id, call.name, "allow", rule, layer, **how)  # type: ignore[arg-type]


def finished(step: int, call: ToolCall, ok: bool = True, **extra: object) -> ToolCallFinished:
    return ToolCallFinished(step, call.id, call.name, ok, f"output of {call.id}", 17, "d" * 64,
                            **extra)  # type: ignore[arg-type]


SESSION: list[Event] = [
    SessionStarted("sess-r", "/repo", "qwen2.5-coder", ENDPOINT, ("read_file", "bash"),
                   "default", user="dev", host="ws1", git_remote="git@example:team/repo",
                   git_head="f00d", policy_hash="9" * 64, moat_version="0.1.0",
                   sandbox="bwrap"),
    UserPrompt("Fix the failing test"),
    request(1, (INSTRUCTIONS, PROMPT)),
    answer(1, READ_APP, READ_TEST),
    ToolCallStarted(1, READ_APP),
    allowed(READ_APP),
    SecretsRedacted("src/app.py", (SECRET_REDACTION,)),
    finished(1, READ_APP, sources=(APP_LINES,)),
    ToolCallStarted(1, READ_TEST),
    allowed(READ_TEST),
    finished(1, READ_TEST, sources=(TEST_LINES,)),
    request(2, (INSTRUCTIONS, PROMPT, APP_LINES, TEST_LINES), (SECRET_REDACTION,)),
    answer(2, RUN_TESTS),
    ToolCallStarted(2, RUN_TESTS),
    allowed(RUN_TESTS, rule="Bash(pytest *)", layer="session", decided_by="user",
            scope="session", who="dev", wait_ms=3200.0),
    finished(2, RUN_TESTS, ok=False, exit_code=1, sandbox="bwrap"),
    request(3, (INSTRUCTIONS, PROMPT, APP_LINES, TEST_LINES, TEST_OUTPUT), (SECRET_REDACTION,)),
    answer(3, EDIT_APP),
    ToolCallStarted(3, EDIT_APP),
    PermissionDecided(EDIT_APP.id, "edit_file", "allow", "Edit(src/**)", "project"),
    finished(3, EDIT_APP, change=CHANGE),
    SessionEnded("sess-r", "success", 3, Usage(5400, 120), 9000.0, 1500.0, "Fixed."),
]


@pytest.fixture
def store_path(tmp_path: Path, clock: SteppingClock) -> Path:
    path = tmp_path / "audit.db"
    with AuditStore.open(path) as store:
        other = AuditSink(store, clock=clock)
        other(SessionStarted("sess-old", "/old", "m", ENDPOINT, (), "default"))
        sink = AuditSink(store, clock=clock)
        for event in SESSION:
            sink(event)
    return path


def at(seq: int) -> str:
    return f"2025-03-01T09:00:{seq:02d}.000000Z"


def test_report_of_a_session_that_reads_two_files_and_runs_one_command(store_path: Path) -> None:
    report = build_report(store_path)
    assert report.session == SessionInfo(
        session_id="sess-r", started_at=at(2), ended_at=at(23), user="dev", host="ws1",
        cwd="/repo", model="qwen2.5-coder", endpoint=ENDPOINT, permission_mode="default",
        sandbox="bwrap", policy_hash="9" * 64, moat_version="0.1.0",
        git_remote="git@example:team/repo", git_head="f00d", outcome="success",
        usage=Usage(5400, 120),
    )
    assert report.requests == (
        RequestRow(4, at(4), 1, ENDPOINT, "qwen2.5-coder", 1000, 250, 900, 40, "1" * 64, True,
                   (INSTRUCTIONS, PROMPT), ()),
        RequestRow(13, at(13), 2, ENDPOINT, "qwen2.5-coder", 2000, 500, 1800, 40, "2" * 64, True,
                   (INSTRUCTIONS, PROMPT, APP_LINES, TEST_LINES), (SECRET_REDACTION,)),
        RequestRow(18, at(18), 3, ENDPOINT, "qwen2.5-coder", 3000, 750, 2700, 40, "3" * 64, True,
                   (INSTRUCTIONS, PROMPT, APP_LINES, TEST_LINES, TEST_OUTPUT),
                   (SECRET_REDACTION,)),
    )
    assert report.actions == (
        ActionRow(6, at(6), "call_1", "read_file", READ_APP.arguments, "allow", "mode:default",
                  "mode", "policy", "", "", 0.0, True, None, ""),
        ActionRow(10, at(10), "call_2", "read_file", READ_TEST.arguments, "allow",
                  "mode:default", "mode", "policy", "", "", 0.0, True, None, ""),
        ActionRow(15, at(15), "call_3", "bash", RUN_TESTS.arguments, "allow", "Bash(pytest *)",
                  "session", "user", "session", "dev", 3200.0, False, 1, "bwrap"),
        ActionRow(20, at(20), "call_4", "edit_file", EDIT_APP.arguments, "allow", "Edit(src/**)",
                  "project", "policy", "", "", 0.0, True, None, ""),
    )
    assert report.files == (
        FileRow(22, at(22), "call_4", "src/app.py", "a" * 64, "b" * 64, DIFF),
    )
    assert report.masked == (MaskedSecrets(8, at(8), "src/app.py", (SECRET_REDACTION,)),)
    assert (report.store, report.chain.ok, report.chain.records) == (str(store_path), True, 23)


def test_report_of_a_named_session(store_path: Path) -> None:
    report = build_report(store_path, "sess-old")
    assert (report.session.cwd, report.session.outcome, report.requests) == (
        "/old", "not closed", ()
    )


def test_bodies_kept_as_hashes_are_marked(tmp_path: Path, clock: SteppingClock) -> None:
    path = tmp_path / "audit.db"
    with AuditStore.open(path) as store:
        AuditSink(store, clock=clock, session_id="s", store_requests="hash")(request(1, ()))
    (row,) = build_report(path, "s").requests
    assert (row.body_sha256, row.body_recorded, row.prompt_tokens) == ("1" * 64, False, None)


def test_unknown_session(store_path: Path) -> None:
    with pytest.raises(SessionNotFound) as error:
        build_report(store_path, "nope")
    assert str(error.value) == (
        f"The audit store {store_path} has no session 'nope'; list the sessions with "
        "moat audit log."
    )


def test_empty_store(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditStore.open(path).close()
    with pytest.raises(SessionNotFound, match="holds no session yet"):
        build_report(path)


def test_a_denied_call_without_tool_records(tmp_path: Path, clock: SteppingClock) -> None:
    path = tmp_path / "audit.db"
    wipe = ToolCall("call_9", "bash", '{"command": "rm -rf /"}')
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock, session_id="s")
        sink(answer(1, wipe))
        sink(PermissionDecided("call_9", "bash", "deny", "Bash(rm -rf *)", "managed"))
    assert build_report(path, "s").actions == (
        ActionRow(2, at(2), "call_9", "bash", wipe.arguments, "deny", "Bash(rm -rf *)",
                  "managed", "policy", "", "", 0.0, None, None, ""),
    )
