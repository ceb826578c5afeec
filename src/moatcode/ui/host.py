"""What the interactive front-end needs from the CLI that built the session.

The CLI is the composition root (it alone knows every concrete part), so it
hands the front-end a ``Host`` that starts sessions, lists what can be resumed
and builds model clients, and a ``LiveSession`` for each running session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

# Types only: importing the agent and its parts is what the CLI does, later.
if TYPE_CHECKING:
    from moatcode.agent.loop import Agent
    from moatcode.audit.record import Record
    from moatcode.events import Emit
    from moatcode.models.base import ModelClient
    from moatcode.sessions.store import SessionInfo
    from moatcode.snapshots.git_tree import SnapshotStore


@dataclass
class LiveSession:
    agent: Agent
    session_id: str
    emit: Emit
    # Record a prompt the user typed (for `moat sessions` and /resume).
    record_prompt: Callable[[str], None]
    # This session's audit records, oldest first ([] without an audit log).
    audit_records: Callable[[], Sequence[Record]]
    # Send later requests to another model; the session closes the old client.
    switch_client: Callable[[ModelClient], None]
    # Emit the closing event with ``(subtype, result)`` and close every part.
    close: Callable[[str, str], None]
    snapshots: SnapshotStore | None = None
    resumed_messages: int = 0


class Host(Protocol):
    def start(self, resume_id: str | None) -> LiveSession:
        """A new session, or the saved one ``resume_id`` resumed."""
        ...

    def sessions(self) -> list[SessionInfo]:
        """This project's saved sessions, newest first."""
        ...

    def models(self) -> list[str]:
        """The models the server lists."""
        ...

    def client(self, model: str) -> ModelClient:
        """A client for ``model`` on the same endpoint (the managed policy permitting)."""
        ...
