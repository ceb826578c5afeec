"""/audit: one short line per record of this session."""

from __future__ import annotations

from moatcode.audit.record import Record
from moatcode.ui.audit_view import audit_lines


def record(seq: int, kind: str, data: dict[str, object]) -> Record:
    return Record(seq, f"2026-11-22T10:00:{seq:02d}.000000Z", "s", kind, data, "p", "h")


def test_audit_lines() -> None:
    records = [
        record(1, "session_started", {"model": "qwen", "permission_mode": "default"}),
        record(2, "user_prompt", {"text": "fix   the tests"}),
        record(3, "model_request", {"request_bytes": 2048, "estimated_tokens": 512,
                                    "endpoint": "http://h/v1"}),
        record(4, "model_response", {"finish_reason": "tool_calls",
                                     "usage": {"completion_tokens": 20},
                                     "message": {"tool_calls": [["c1", "bash", "{}", ""]]}}),
        record(5, "tool_call", {"call": {"name": "bash",
                                         "arguments": '{"command": "make test"}'}}),
        record(6, "permission", {"decision": "deny", "decided_by": "user", "scope": "once",
                                 "rule": "mode:default"}),
        record(7, "tool_result", {"ok": False, "exit_code": None}),
        record(8, "checkpoint", {}),
    ]
    assert audit_lines(records, 80).plain == (
        "#1     10:00:01  session_started  qwen · default mode\n"
        "#2     10:00:02  user_prompt      fix the tests\n"
        "#3     10:00:03  model_request    2048 bytes, ~512 tokens to http://h/v1\n"
        "#4     10:00:04  model_response   tool_calls, 20 tokens, 1 tool call\n"
        "#5     10:00:05  tool_call        Bash make test\n"
        "#6     10:00:06  permission       deny by user, once (mode:default)\n"
        "#7     10:00:07  tool_result      failed\n"
        "#8     10:00:08  checkpoint")
