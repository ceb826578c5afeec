from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.audit.checkpoint import CheckpointSigner
from moatcode.audit.log import LogRow, iter_log_rows, iter_records, summarize
from moatcode.audit.record import Record
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.events import ErrorOccurred, Notice, UserPrompt
from tests.audit.conftest import START, SteppingClock
from tests.audit.test_report import SESSION


def test_log_rows_summarise_each_record(tmp_path: Path, clock: SteppingClock) -> None:
    path = tmp_path / "audit.db"
    signer = CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock, signer=signer)
        for event in SESSION:
            sink(event)
    rows = list(iter_log_rows(path))
    at = [f"2025-03-01T09:00:{n:02d}.000000Z" for n in range(1, 24)]
    expected = [
        "qwen2.5-coder at http://127.0.0.1:8000/v1 in /repo",
        "Fix the failing test",
        "step 1: 1000 bytes, ~250 tokens to http://127.0.0.1:8000/v1 (qwen2.5-coder); "
        "2 sources, 0 redactions",
        "step 1: tool_calls, 900 in / 40 out, 2 tool calls",
        'read_file {"path": "src/app.py"} [call_1]',
        "read_file: allow — mode:default [mode]",
        "1 secret masked in src/app.py",
        "read_file ok, 17 bytes",
    ]
    assert rows[:8] == [
        LogRow(n, at[n - 1], "sess-r", kind, summary)
        for n, kind, summary in zip(
            range(1, 9),
            ["session_started", "user_prompt", "model_request", "model_response", "tool_call",
             "permission", "secrets_redacted", "tool_result"],
            expected, strict=True,
        )
    ]
    by_seq = {row.seq: row.summary for row in rows}
    assert by_seq[15] == "bash: allow by dev (session) — Bash(pytest *) [session]"
    assert by_seq[16] == "bash failed, exit 1, 17 bytes"
    assert by_seq[21] == "edit_file ok, 17 bytes, changed src/app.py"
    assert by_seq[22] == "success after 3 turns, 0 requests, 0 tool calls"
    assert by_seq[23] == f"signed record 22 with key {signer.key_id}"


def test_filters(tmp_path: Path, clock: SteppingClock) -> None:
    path = tmp_path / "audit.db"
    with AuditStore.open(path) as store:
        AuditSink(store, clock=clock, session_id="a")(Notice("one"))
        AuditSink(store, clock=clock, session_id="b")(UserPrompt("two"))
        AuditSink(store, clock=clock, session_id="a")(UserPrompt("three"))
    assert [r.seq for r in iter_records(path, session="a")] == [1, 3]
    assert [r.seq for r in iter_records(path, kind="user_prompt")] == [2, 3]
    assert [r.seq for r in iter_records(path, since=START + timedelta(seconds=2))] == [2, 3]
    assert [r.seq for r in iter_records(path, session="a", kind="user_prompt")] == [3]


def test_summary_is_one_short_line() -> None:
    record = Record(1, "t", "s", "user_prompt", {"text": "line one\nline two " + "x" * 200},
                    "0" * 64, "1" * 64)
    summary = summarize(record)
    assert summary.startswith("line one line two xxx") and len(summary) == 100
    assert summary.endswith("…")
    error = Record(2, "t", "s", "error", {"message": "boom", "error_type": "ModelError"},
                   "0" * 64, "1" * 64)
    assert summarize(error) == "ModelError: boom"
    unknown = Record(3, "t", "s", "future_kind", {"n": 1, "what": "it"}, "0" * 64, "1" * 64)
    assert summarize(unknown) == "it"
    assert summarize(Record(4, "t", "s", "notice", {}, "0" * 64, "1" * 64)) == ""
    assert ErrorOccurred.kind == "error"
