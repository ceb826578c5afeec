from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from moatcode.errors import SessionNotFound
from moatcode.sessions.store import SessionStore
from moatcode.types import Message, ToolCall


def test_save_list_and_load(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "data", tmp_path / "repo")
    writer = store.create("m", "http://x/v1", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    writer.prompt("fix the tests please")
    messages = [Message("system", "s"), Message("user", "u"),
                Message("assistant", "", (ToolCall("c1", "read_file", '{"path":"a"}'),)),
                Message("tool", "data", tool_call_id="c1"), Message("assistant", "done")]
    for message in messages:
        writer.append(message)
    writer.close()
    [info] = store.list()
    assert (info.id, info.created, info.first_prompt, info.turns, info.model) == (
        writer.id, "2026-01-02T03:04:05+00:00", "fix the tests please", 2, "m")
    loaded = store.load(writer.id[:8])
    assert loaded.messages == tuple(messages)
    assert store.latest().info.id == writer.id


def test_torn_last_line_and_dangling_calls(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "data", tmp_path / "repo")
    writer = store.create("m", "e")
    calls = (ToolCall("c1", "bash", "{}"), ToolCall("c2", "bash", "{}"))
    for message in [Message("system", "s"), Message("user", "u"), Message("assistant", "", calls),
                    Message("tool", "one", tool_call_id="c1")]:
        writer.append(message)
    writer.close()
    with writer.path.open("a") as handle:
        handle.write('{"type":"message","message":{"role":"tool","con')  # killed mid-write
    loaded = store.load(writer.id)
    assert loaded.messages[-2:] == (
        Message("tool", "one", tool_call_id="c1"),
        Message("tool", "Interrupted before it finished; run it again if still needed.",
                tool_call_id="c2"))


def test_compaction_replaces_the_conversation(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "data", tmp_path / "repo")
    writer = store.create("m", "e")
    for message in [Message("system", "s"), Message("user", "u"), Message("assistant", "a")]:
        writer.append(message)
    writer.replace([Message("system", "s"), Message("user", "u + summary")])
    writer.append(Message("user", "next"))
    writer.close()
    assert store.load(writer.id).messages == (
        Message("system", "s"), Message("user", "u + summary"), Message("user", "next"))


def test_unknown_and_missing_sessions(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "data", tmp_path / "repo")
    with pytest.raises(SessionNotFound, match="no saved session for this project"):
        store.latest()
    with pytest.raises(SessionNotFound, match="matches no session"):
        store.load("abc")


def test_projects_are_kept_apart(tmp_path: Path) -> None:
    SessionStore(tmp_path / "data", tmp_path / "a").create("m", "e").close()
    assert SessionStore(tmp_path / "data", tmp_path / "b").list() == []


def test_a_new_session_left_empty_is_not_kept(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "data", tmp_path / "repo")
    empty = store.create("m", "e")
    empty.append(Message("system", "s"))  # the agent writes its system prompt at once
    empty.close()
    assert not empty.path.exists() and store.list() == []
    kept = store.create("m", "e")
    kept.append(Message("system", "s"))
    kept.prompt("hello")
    kept.close()
    assert [info.id for info in store.list()] == [kept.id]
    # A resumed session is never removed, even when nothing is added to it.
    resumed = store.reopen(store.load(kept.id))
    resumed.close()
    assert kept.path.exists()
