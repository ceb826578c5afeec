"""``moat`` without ``-p``: build the interactive session's parts and run its loop.

In a terminal, with no prompt on the command line, the prompt comes first and
everything else while the user types: drawing it needs prompt_toolkit and
nothing heavier, so this module imports the rest where it is used. Once the
prompt is drawn, a thread loads the settings and builds the front-end (the
renderer, the permission state, the app: ``_assemble``), prints the greeting
and the settings' notices above the prompt, and has the app start the session
(``_Host.start``: the audit log, the sandbox check, the model client, git facts)
in another. A settings error ends the prompt and is raised from
``run_interactive`` for the CLI to print; what the user typed stays on screen.

Without a terminal on both ends, in a terminal too small, or with an output
encoding that cannot show Unicode, the session falls back to plain lines: one
prompt per input line, output with no redrawing.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from moatcode.ui.glyphs import glyphs_for
from moatcode.ui.input import PromptInput
from moatcode.ui.starter import Starter
from moatcode.ui.status import Status, format_status

if TYPE_CHECKING:
    from pathlib import Path

    from moatcode.config.settings import RuleSource, Settings
    from moatcode.models.base import ModelClient
    from moatcode.policy.engine import PolicyEngine
    from moatcode.policy.modes import Mode
    from moatcode.sessions.store import SessionInfo
    from moatcode.ui.approver import ConsoleApprover
    from moatcode.ui.console import HeldEvents
    from moatcode.ui.host import LiveSession
    from moatcode.ui.interactive import InteractiveApp, Reader

MIN_COLUMNS = 40
MIN_LINES = 8
# Undo snapshots are kept for this many of a project's most recent sessions.
KEEP_SNAPSHOT_SESSIONS = 20


@dataclasses.dataclass(frozen=True)
class _Streams:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO


def run_interactive(load_settings: Callable[[], Settings], prompt: str | None, *,
                    continue_: bool = False, resume_id: str | None = None,
                    stdin: TextIO | None = None, stdout: TextIO | None = None,
                    stderr: TextIO | None = None) -> int:
    """Run the session loop and return its exit code; ``prompt`` is sent first.

    ``load_settings`` is called once, in a background thread when the prompt
    can be drawn before the settings are known; what it raises is raised here.
    """
    streams = _Streams(stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    status = Status()
    reader = None
    if is_capable_terminal(streams.stdin, streams.stdout, os.environ.get("TERM", "")):
        # A capable terminal is one that can show "✓", so it shows "›" too.
        reader = PromptInput(prompt="› ", toolbar=lambda width: format_status(status, width - 2))
    if reader is None or prompt is not None:  # no prompt to draw before the session is needed
        app, greet = _assemble(load_settings(), reader, status, streams, continue_, resume_id)
        greet()
        return app.run(prompt)
    first = _FirstRead(reader)

    def build() -> InteractiveApp:
        app, greet = _assemble(load_settings(), reader, status, streams, continue_, resume_id,
                               first_read=first)
        reader.show_above(greet)
        app.start_session()  # while the user types
        return app

    def built() -> None:
        if boot.failed:
            reader.abort()  # show the error now, not once the user sends something

    boot: Starter[InteractiveApp] = Starter(build, built)
    first.read_first(on_ready=boot.begin)
    return boot.result().run(None)


class _FirstRead:
    """The prompt, read once before the app exists; the app's first ``read`` replays it."""

    def __init__(self, reader: PromptInput) -> None:
        self._reader = reader
        self._first: str | BaseException | None = None

    def read_first(self, on_ready: Callable[[], None]) -> None:
        try:
            self._first = self._reader.read(on_ready)
        except (EOFError, KeyboardInterrupt) as exc:
            self._first = exc

    def read(self, on_ready: Callable[[], None] | None = None) -> str:
        first, self._first = self._first, None
        if first is None:
            return self._reader.read(on_ready)
        self._reader.flush_above()  # the greeting, when the first prompt ended before it came
        if on_ready is not None:
            on_ready()
        if isinstance(first, BaseException):
            raise first
        return first

    def refresh(self) -> None:
        self._reader.refresh()

    def abort(self) -> None:
        self._reader.abort()


def _assemble(settings: Settings, prompt_input: PromptInput | None, status: Status,
              streams: _Streams, continue_: bool, resume_id: str | None, *,
              first_read: Reader | None = None) -> tuple[InteractiveApp, Callable[[], None]]:
    """The app, and what to print before it runs.

    The app reads from ``prompt_input`` (plain lines when it is None), through
    ``first_read`` when the first prompt was read before the app existed.
    """
    import getpass

    from rich.console import Console

    from moatcode.sessions.store import project_key
    from moatcode.ui.approver import ConsoleApprover
    from moatcode.ui.choice import LineAsker, TerminalAsker
    from moatcode.ui.completion import MoatCompleter
    from moatcode.ui.console import ConsoleRenderer, HeldEvents
    from moatcode.ui.custom_commands import load_custom_commands
    from moatcode.ui.input import PlainInput
    from moatcode.ui.interactive import InteractiveApp
    from moatcode.ui.permissions import PermissionState
    from moatcode.ui.slash import command_summaries

    live = prompt_input is not None
    console = Console(file=streams.stdout, highlight=False, emoji=False, soft_wrap=False,
                      force_terminal=live or None)
    status.model = settings.model.name or ""
    status.mode = settings.permissions.mode
    renderer = ConsoleRenderer(console, status, glyphs=glyphs_for(console.encoding), live=live)
    held = HeldEvents(renderer)
    workspace = settings.workspace
    permissions = PermissionState(
        rules=settings.permissions.rules, mode=settings.permissions.mode,
        allowed_modes=settings.permissions.allowed_modes, locked=settings.locked,
        trusted=settings.project_trusted, workspace=workspace, build=_engine_builder(settings))
    asker = TerminalAsker() if live else LineAsker(streams.stdin, streams.stdout)
    approver = ConsoleApprover(renderer, asker, permissions, who=getpass.getuser(),
                               is_secret=_is_secret)
    host = _Host(settings, held, approver, continue_=continue_, resume_id=resume_id)
    custom = load_custom_commands(workspace)
    app = InteractiveApp(host=host, renderer=renderer,
                         reader=first_read or prompt_input or PlainInput(streams.stdin,
                                                                         streams.stdout),
                         asker=asker, permissions=permissions, workspace=workspace,
                         custom=custom, may_read=lambda path: _may_read(permissions.engine, path),
                         on_first_session=held.release)
    if prompt_input is not None:
        prompt_input.attach(
            history=settings.data_dir / "history" / f"{project_key(workspace)}.txt",
            completer=MoatCompleter(workspace, lambda: command_summaries(custom)),
            on_shift_tab=app.cycle_mode)

    def greet() -> None:
        for notice in settings.notices:
            streams.stderr.write(f"moat: {notice}\n")
        streams.stderr.flush()
        renderer.note(f"Moat in {workspace} · /help for commands"
                      + (" · Shift-Tab switches mode" if live else ""))

    return app, greet


def is_capable_terminal(stdin: TextIO, stdout: TextIO, term: str) -> bool:
    """Whether to draw (prompt_toolkit, spinners) or fall back to plain lines."""
    try:
        if not (stdin.isatty() and stdout.isatty()) or term == "dumb":
            return False
    except (AttributeError, ValueError):
        return False
    size = shutil.get_terminal_size((0, 0))
    if size.columns < MIN_COLUMNS or size.lines < MIN_LINES:
        return False
    return glyphs_for(getattr(stdout, "encoding", None)).ok == "✓"


def _engine_builder(settings: Settings):  # type: ignore[no-untyped-def]
    def build(rules: Sequence[RuleSource], mode: Mode) -> PolicyEngine:
        from moatcode.cli.compose import create_policy

        permissions = dataclasses.replace(settings.permissions, rules=tuple(rules), mode=mode)
        return create_policy(dataclasses.replace(settings, permissions=permissions))

    return build


def _is_secret(path: Path) -> bool:
    from moatcode.guard.secret_files import is_secret_file

    return is_secret_file(path)


def _may_read(engine: PolicyEngine, path: str) -> str | None:
    from moatcode.types import Action

    verdict = engine.decide(Action("read_file", "read", paths=(path,)))
    return verdict.reason if verdict.decision == "deny" else None


class _Host:
    """Starts sessions for the front-end; the one place here that knows ``compose``."""

    def __init__(self, settings: Settings, renderer: HeldEvents, approver: ConsoleApprover,
                 *, continue_: bool, resume_id: str | None) -> None:
        self._settings = settings
        self._renderer = renderer
        self._approver = approver
        self._continue = continue_
        self._resume_id = resume_id
        self._first = True
        self._client: ModelClient | None = None
        self._model: str | None = None

    def start(self, resume_id: str | None) -> LiveSession:
        from moatcode.cli.compose import create_session
        from moatcode.sessions.store import SessionStore, project_key
        from moatcode.snapshots.git_tree import SnapshotStore, prune_snapshots, snapshot_dir
        from moatcode.ui.host import LiveSession

        settings = self._settings
        if self._model is not None:  # the user switched models with /model
            settings = dataclasses.replace(
                settings, model=dataclasses.replace(settings.model, name=self._model))
        store = SessionStore(settings.data_dir, settings.workspace)
        if self._first and resume_id is None:
            resume_id = self._resume_id
            loaded = store.latest() if self._continue and not resume_id else None
        else:
            loaded = None
        self._first = False
        if resume_id:
            loaded = store.load(resume_id)
        session = create_session(settings, approver=self._approver,
                                 consumers=[self._renderer], resume=loaded)
        self._client = session.client
        self._approver.emit = session.emit
        session_id = session.writer.id
        root = settings.data_dir / "snapshots" / project_key(settings.workspace)
        recent = [info.id for info in store.list()[:KEEP_SNAPSHOT_SESSIONS]]
        prune_snapshots(root, [*recent, session_id])
        snapshots = SnapshotStore(settings.workspace, snapshot_dir(root, session_id))

        def switch_client(client: ModelClient) -> None:
            old = session.client
            session.agent.set_client(client)
            session.client = client
            self._client = client
            old.close()

        def close(subtype: str, result: str) -> None:
            try:
                session.agent.close(subtype, result)
            finally:
                session.close()

        def audit_records() -> list[object]:
            if session.audit is None:
                return []
            return list(session.audit.store.records(session=session_id))

        return LiveSession(
            agent=session.agent, session_id=session_id, emit=session.emit,
            record_prompt=session.writer.prompt, audit_records=audit_records,  # type: ignore[arg-type]
            switch_client=switch_client, close=close, snapshots=snapshots,
            resumed_messages=len(loaded.messages) if loaded else 0)

    def sessions(self) -> list[SessionInfo]:
        from moatcode.sessions.store import SessionStore

        return SessionStore(self._settings.data_dir, self._settings.workspace).list()

    def models(self) -> list[str]:
        settings = self._settings
        base_url = settings.gateway.url or settings.model.base_url
        if not base_url:  # the embedded model: the one file loaded
            return [self._client.model] if self._client is not None else []
        from moatcode.guard.egress import create_http_client
        from moatcode.models.openai_compat import OpenAICompatClient

        api_key = settings.gateway.token if settings.gateway.url else settings.model.api_key
        http = create_http_client([base_url], settings.model.timeout_s, api_key)
        try:
            return OpenAICompatClient(base_url, "", http).list_models()
        finally:
            http.close()

    def client(self, model: str) -> ModelClient:
        from moatcode.cli.clients import create_client

        settings = self._settings
        choice = create_client(dataclasses.replace(
            settings, model=dataclasses.replace(settings.model, name=model)))
        self._model = model
        return choice.client
