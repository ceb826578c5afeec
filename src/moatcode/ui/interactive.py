"""The interactive session loop: read a prompt, run it or a slash command, repeat.

The session itself (audit log, sandbox, model client...) is started in a
background thread once the prompt is on screen (or at ``start_session``), so
the user can type while it starts; the first prompt waits for it. Ctrl-C
during a step cancels the step and keeps the session; at an empty prompt
right after, or twice in a row, it exits, as does Ctrl-D. Before each action
that can change files, the workspace is snapshotted for ``/undo``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rich.text import Text

from moatcode.errors import Cancelled, MaxTurnsReached, MoatError
from moatcode.snapshots.git_tree import SnapshotError
from moatcode.types import Action, ToolCall
from moatcode.ui import slash
from moatcode.ui.choice import Asker
from moatcode.ui.console import ConsoleRenderer
from moatcode.ui.custom_commands import CustomCommand
from moatcode.ui.host import Host, LiveSession
from moatcode.ui.mentions import expand_mentions
from moatcode.ui.permissions import PermissionState
from moatcode.ui.starter import Starter
from moatcode.ui.status import Status
from moatcode.ui.tool_view import describe_call, title_of

if TYPE_CHECKING:
    from moatcode.policy.engine import PolicyEngine


class Reader(Protocol):
    def read(self, on_ready: Callable[[], None] | None = None) -> str: ...

    def refresh(self) -> None: ...

    def abort(self) -> None: ...


class InteractiveApp:
    def __init__(self, *, host: Host, renderer: ConsoleRenderer, reader: Reader, asker: Asker,
                 permissions: PermissionState, workspace: Path,
                 custom: dict[str, CustomCommand],
                 may_read: Callable[[str], str | None],
                 on_first_session: Callable[[], None] | None = None) -> None:
        self.host = host
        self.renderer = renderer
        self.status: Status = renderer.status
        self.reader = reader
        self.asker = asker
        self.permissions = permissions
        self.workspace = workspace
        self.custom = custom
        self.started_at = time.monotonic()
        self._may_read = may_read
        self._on_first_session = on_first_session
        self._notes: list[str] = []
        self._exit = False
        self._armed = False  # the next Ctrl-C at an empty prompt exits
        self._last_text = ""
        self._snapshot_failed = False
        self._mode_notice = ""
        self.status.mode = permissions.mode
        permissions.listeners.append(self._gate_changed)
        self._starter: Starter[LiveSession] = Starter(lambda: self._start(None), self._started)
        self._current: LiveSession | None = None

    # -- running -------------------------------------------------------------

    def run(self, first_prompt: str | None = None) -> int:
        """The session loop; returns the exit code."""
        try:
            if first_prompt:
                mark = "›" if self.renderer.glyphs.ok == "✓" else ">"
                self.renderer.print(Text(f"{mark} {first_prompt}"))
                self._handle(first_prompt)
            while not self._exit:
                try:
                    text = self.reader.read(on_ready=self._starter.begin)
                except KeyboardInterrupt:
                    if self._armed:
                        break
                    self._armed = True
                    self.renderer.note("Press Ctrl-C again, or Ctrl-D, to exit.")
                    continue
                except EOFError:
                    break
                self._armed = False
                if self._starter.done:
                    self.session()  # raises here when the start failed
                self._handle(text)
            if self._current is None and self._starter.done:
                self.session()  # the start failed while the prompt was up
        except MoatError as exc:
            self.renderer.error(str(exc))
            return exc.exit_code
        finally:
            self._close()
        return 0

    def _handle(self, text: str) -> None:
        if self._mode_notice and self._current is not None:
            from moatcode.events import Notice

            self._current.emit(Notice(self._mode_notice))
        self._mode_notice = ""
        stripped = text.strip()
        if not stripped:
            return
        if stripped.startswith("/") and not stripped.startswith("//"):
            try:
                slash.dispatch(self, stripped)
            except (KeyboardInterrupt, Cancelled):
                self.renderer.interrupted()
                self.renderer.note("Cancelled.")
            except (MoatError, SnapshotError) as exc:
                self.renderer.error(str(exc))
            return
        self.run_prompt(text)

    def run_prompt(self, text: str) -> None:
        try:
            session = self._wait_for_session()
        except KeyboardInterrupt:
            self._cancelled()
            return
        expanded = expand_mentions(text, self.workspace, self._may_read)
        for problem in expanded.problems:
            self.renderer.note(problem)
        if expanded.attached:
            self.renderer.note("Attached " + ", ".join(expanded.attached) + ".")
        prompt = expanded.text
        if self._notes:
            prompt = "\n".join(self._notes) + "\n\n" + prompt
            self._notes.clear()
        session.record_prompt(text)
        try:
            self._last_text = session.agent.run(prompt).text
        except (Cancelled, KeyboardInterrupt):
            self._cancelled()
        except MaxTurnsReached as exc:
            self.renderer.error(str(exc))
        except MoatError as exc:
            from moatcode.events import ErrorOccurred

            session.emit(ErrorOccurred(str(exc), type(exc).__name__))
        finally:
            self.renderer.stop()
            self._refresh_status(session)

    def compact(self) -> None:
        session = self._wait_for_session()
        try:
            if not session.agent.compact():
                self.renderer.note("The conversation is too short to compact.")
        except (Cancelled, KeyboardInterrupt):
            self._cancelled()
        finally:
            self.renderer.stop()
            self._refresh_status(session)

    def _cancelled(self) -> None:
        self.renderer.interrupted()
        self.renderer.note("Cancelled; the session goes on. Ctrl-C again exits.")
        self._armed = True

    # -- the session ---------------------------------------------------------

    def start_session(self) -> None:
        """Start the session in the background now, before the prompt asks for it."""
        self._starter.begin()

    def session(self) -> LiveSession:
        if self._current is None:
            self._current = self._starter.result()
            # The mode may have changed (Shift-Tab) while the session was starting.
            self._current.agent.set_gate(self.permissions.engine)
            if self._on_first_session is not None:
                self._on_first_session()  # draw what the start emitted, now it is safe
        return self._current

    def _wait_for_session(self) -> LiveSession:
        if self._current is None and not self._starter.done:
            self.renderer.activity("Starting the session")
            try:
                return self.session()
            finally:
                self.renderer.stop()
        return self.session()

    def restart(self, resume_id: str | None) -> None:
        """End this session and start a new one (or resume ``resume_id``)."""
        fresh = self._start(resume_id)
        old = self._current
        self._current = fresh
        if old is not None:
            old.close("success", self._last_text)
        self.status.session_tokens = 0
        self.status.context_used = 0
        self._notes.clear()
        if resume_id:
            self.renderer.note(f"Resumed session {fresh.session_id[:8]} "
                               f"({fresh.resumed_messages} messages).")

    def _start(self, resume_id: str | None) -> LiveSession:
        session = self.host.start(resume_id)
        session.agent.set_gate(self.permissions.engine)
        session.agent.before_change = self._before_change
        self._refresh_status(session)
        self.status.ready = True
        return session

    def _started(self) -> None:
        if self._starter.failed:
            self.reader.abort()  # show the error now, not after the next prompt
        else:
            self.reader.refresh()

    def _gate_changed(self, engine: PolicyEngine) -> None:
        if self._current is not None:
            self._current.agent.set_gate(engine)

    def _refresh_status(self, session: LiveSession) -> None:
        self.status.context_window = session.agent.context_window()
        self.status.mode = self.permissions.mode

    def _before_change(self, call: ToolCall, action: Action) -> None:
        session = self._current
        snapshots = session.snapshots if session is not None else None
        if snapshots is None or self._snapshot_failed:
            return
        label = f"{title_of(call.name)} {describe_call(call.name, call.arguments)}"
        try:
            snapshots.take(label if len(label) <= 70 else label[:69] + "…")
        except SnapshotError as exc:
            self._snapshot_failed = True
            self.renderer.note(f"Undo snapshots stopped: {exc}")

    # -- for slash commands --------------------------------------------------

    def add_note(self, note: str) -> None:
        self._notes.append(note)

    def request_exit(self) -> None:
        self._exit = True

    def cycle_mode(self) -> None:
        """Shift-Tab: the next allowed mode (called from the prompt's key binding)."""
        mode = self.permissions.next_mode()
        if mode == self.permissions.mode:
            return
        self.permissions.set_mode(mode)
        self.status.mode = mode
        # Recorded (and shown) once the prompt is done: printing now would break it.
        self._mode_notice = f"Permission mode is now {mode}."

    def _close(self) -> None:
        self.renderer.stop()
        session = self._current
        if session is None and self._starter.started:
            # Exiting while the session starts: let it finish, so that it is closed
            # properly and its audit record ends with session_ended.
            try:
                session = self._starter.result()
            except Exception:
                session = None  # its error was already shown, or does not matter now
        if session is not None:
            session.close("success", self._last_text)
            self.renderer.note(f"Session saved; continue it with `moat --continue` or "
                               f"`moat --resume {session.session_id[:8]}`.")
