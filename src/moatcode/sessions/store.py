"""Sessions saved as JSON lines, one file each, per project, in the user's data dir.

Each line is a record: ``meta`` first (id, creation time, workspace, model),
then ``message`` for every message as it is added, ``compaction`` when the
conversation was shortened (it carries the whole new conversation), and
``prompt`` for each prompt the user typed (for the listing). Lines are
appended and flushed as they happen and synced at the end of each step, so a
crash loses at most the line being written; a torn last line is skipped when
the session is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from moatcode.errors import SessionNotFound
from moatcode.types import Message, ToolCall


@dataclass(frozen=True)
class SessionInfo:
    id: str
    path: Path
    created: str
    first_prompt: str
    turns: int
    model: str


@dataclass(frozen=True)
class LoadedSession:
    info: SessionInfo
    messages: tuple[Message, ...]


def project_key(workspace: Path) -> str:
    real = str(workspace.resolve())
    return f"{workspace.resolve().name or 'root'}-{hashlib.sha256(real.encode()).hexdigest()[:12]}"


class SessionStore:
    def __init__(self, data_dir: Path, workspace: Path) -> None:
        self.root = data_dir / "sessions" / project_key(workspace)
        self._workspace = workspace

    def create(self, model: str, endpoint: str, now: datetime | None = None) -> SessionWriter:
        session_id = str(uuid.uuid4())
        self.root.mkdir(parents=True, exist_ok=True)
        created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        path = self.root / f"{session_id}.jsonl"
        writer = SessionWriter(path, session_id, fresh=True)
        writer.write({"type": "meta", "id": session_id, "created": created,
                      "workspace": str(self._workspace), "model": model, "endpoint": endpoint})
        return writer

    def reopen(self, session: LoadedSession) -> SessionWriter:
        return SessionWriter(session.info.path, session.info.id)

    def list(self) -> list[SessionInfo]:
        """Every saved session of this project, newest first."""
        if not self.root.is_dir():
            return []
        infos = [info for path in self.root.glob("*.jsonl")
                 if (info := _load(path, messages=False)[0]) is not None]
        return sorted(infos, key=lambda info: (info.created, info.path.stat().st_mtime),
                      reverse=True)

    def latest(self) -> LoadedSession:
        sessions = self.list()
        if not sessions:
            raise SessionNotFound("There is no saved session for this project yet; start one "
                                  "without --continue.")
        return self.load(sessions[0].id)

    def load(self, session_id: str) -> LoadedSession:
        matches = sorted(self.root.glob(f"{session_id}*.jsonl")) if self.root.is_dir() else []
        if len(matches) != 1:
            what = "matches several sessions" if matches else "matches no session"
            raise SessionNotFound(f"The session id {session_id!r} {what} of this project; "
                                  "list them with `moat sessions`.")
        info, messages = _load(matches[0], messages=True)
        if info is None:
            raise SessionNotFound(f"{matches[0]} is not a Moat session file; remove it.")
        return LoadedSession(info, tuple(_answer_dangling_calls(messages)))


class SessionWriter:
    """Appends one session's records; a new session left with nothing in it is removed.

    ``fresh`` is a file this writer created: if it holds no conversation
    when it closes (no prompt and no message but the system prompt: ``moat``
    opened and left, ``/clear`` right away), the file goes, so ``moat
    sessions`` and ``--continue`` do not offer an empty conversation. A
    resumed session's file is never removed.
    """

    def __init__(self, path: Path, session_id: str, *, fresh: bool = False) -> None:
        self.path = path
        self.id = session_id
        self._fresh = fresh
        self._conversation = False
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()
        if record["type"] != "meta" and not (
                record["type"] == "message" and record["message"]["role"] == "system"):
            self._conversation = True

    def append(self, message: Message) -> None:
        self.write({"type": "message", "message": message_to_dict(message)})

    def replace(self, messages: Sequence[Message]) -> None:
        self.write({"type": "compaction", "messages": [message_to_dict(m) for m in messages]})
        self.flush()

    def prompt(self, text: str) -> None:
        self.write({"type": "prompt", "text": text})

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file.closed:
            return
        if self._fresh and not self._conversation:
            self._file.close()
            self.path.unlink(missing_ok=True)
            return
        self.flush()
        self._file.close()


def message_to_dict(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [[c.id, c.name, c.arguments, c.invalid] for c in message.tool_calls]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    if message.reasoning:
        data["reasoning"] = message.reasoning
    return data


def message_from_dict(data: dict[str, Any]) -> Message:
    return Message(
        role=data["role"],
        content=data.get("content", ""),
        tool_calls=tuple(ToolCall(*c) for c in data.get("tool_calls", [])),
        tool_call_id=data.get("tool_call_id"),
        reasoning=data.get("reasoning", ""),
    )


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            if isinstance(record, dict):
                yield record


def _load(path: Path, messages: bool) -> tuple[SessionInfo | None, list[Message]]:
    meta: dict[str, Any] | None = None
    conversation: list[Message] = []
    first_prompt = ""
    turns = 0
    for record in _records(path):
        kind = record.get("type")
        if kind == "meta" and meta is None:
            meta = record
        elif kind == "prompt" and not first_prompt:
            first_prompt = str(record.get("text", ""))
        elif kind == "message":
            if record["message"].get("role") == "assistant":
                turns += 1
            if messages:
                conversation.append(message_from_dict(record["message"]))
        elif kind == "compaction" and messages:
            conversation = [message_from_dict(m) for m in record["messages"]]
    if meta is None:
        return None, []
    info = SessionInfo(str(meta["id"]), path, str(meta.get("created", "")), first_prompt,
                       turns, str(meta.get("model", "")))
    return info, conversation


def _answer_dangling_calls(messages: list[Message]) -> list[Message]:
    """A session cut off mid-step may hold tool calls with no answer; answer them.

    The OpenAI protocol requires every call answered before the next turn, so a
    resumed session would otherwise be refused by the server.
    """
    out: list[Message] = []
    pending: list[str] = []
    answered: set[str] = set()

    def answer_pending() -> None:
        for call_id in pending:
            if call_id not in answered:
                out.append(Message("tool", "Interrupted before it finished; run it again if "
                                           "still needed.", tool_call_id=call_id))
        pending.clear()

    for message in messages:
        if message.role == "tool":
            answered.add(message.tool_call_id or "")
            out.append(message)
            continue
        answer_pending()
        out.append(message)
        if message.role == "assistant":
            pending.extend(call.id for call in message.tool_calls)
    answer_pending()
    return out
