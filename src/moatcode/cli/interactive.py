"""``moat`` without ``-p``: build the interactive session's parts and run its loop.

The prompt is on screen before the agent's parts exist: ``_Host.start`` (the
audit log, the sandbox check, the model client, git facts) runs in a
background thread while the user types, and imports what it needs only then.
Without a terminal on both ends, in a terminal too small, or with an output
encoding that cannot show Unicode, the session falls back to plain lines: one
prompt per input line, output with no redrawing.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console

from moatcode.config.settings import RuleSource, Settings
from moatcode.ui.console import ConsoleRenderer, HeldEvents
from moatcode.ui.glyphs import glyphs_for
from moatcode.ui.status import Status, format_status

if TYPE_CHECKING:
    from moatcode.models.base import ModelClient
    from moatcode.policy.engine import PolicyEngine
    from moatcode.policy.modes import Mode
    from moatcode.sessions.store import SessionInfo
    from moatcode.ui.approver import ConsoleApprover
    from moatcode.ui.host import LiveSession

MIN_COLUMNS = 40
MIN_LINES = 8
# Undo snapshots are kept for this many of a project's most recent sessions.
KEEP_SNAPSHOT_SESSIONS = 20


def run_interactive(settings: Settings, prompt: str | None, *, continue_: bool = False,
                    resume_id: str | None = None, stdin: TextIO | None = None,
                    stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    live = is_capable_terminal(stdin, stdout, os.environ.get("TERM", ""))
    console = Console(file=stdout, highlight=False, emoji=False, soft_wrap=False,
                      force_terminal=live or None)
    glyphs = glyphs_for(console.encoding)
    status = Status(model=settings.model.name or "", mode=settings.permissions.mode)
    renderer = ConsoleRenderer(console, status, glyphs=glyphs, live=live)
    held = HeldEvents(renderer)

    from moatcode.ui.approver import ConsoleApprover
    from moatcode.ui.choice import LineAsker, TerminalAsker
    from moatcode.ui.custom_commands import load_custom_commands
    from moatcode.ui.interactive import InteractiveApp
    from moatcode.ui.permissions import PermissionState
    from moatcode.ui.slash import command_summaries

    workspace = settings.workspace
    permissions = PermissionState(
        rules=settings.permissions.rules, mode=settings.permissions.mode,
        allowed_modes=settings.permissions.allowed_modes, locked=settings.locked,
        trusted=settings.project_trusted, workspace=workspace, build=_engine_builder(settings))
    asker = TerminalAsker() if live else LineAsker(stdin, stdout)
    approver = ConsoleApprover(renderer, asker, permissions, who=getpass.getuser(),
                               is_secret=_is_secret)
    host = _Host(settings, held, approver, continue_=continue_, resume_id=resume_id)
    custom = load_custom_commands(workspace)
    app: InteractiveApp | None = None

    def shift_tab() -> None:
        if app is not None:
            app.cycle_mode()

    if live:
        from moatcode.sessions.store import project_key
        from moatcode.ui.completion import MoatCompleter
        from moatcode.ui.input import PromptInput

        reader: PromptInput | PlainInputType = PromptInput(
            history=settings.data_dir / "history" / f"{project_key(workspace)}.txt",
            completer=MoatCompleter(workspace, lambda: command_summaries(custom)),
            prompt="› " if glyphs.ok == "✓" else "> ",
            toolbar=lambda: format_status(status, console.width - 2),
            on_shift_tab=shift_tab)
    else:
        from moatcode.ui.input import PlainInput

        reader = PlainInput(stdin, stdout)
    app = InteractiveApp(host=host, renderer=renderer, reader=reader, asker=asker,
                         permissions=permissions, workspace=workspace, custom=custom,
                         may_read=lambda path: _may_read(permissions.engine, path),
                         on_first_session=held.release)
    renderer.note(f"Moat in {workspace} · /help for commands"
                  + (" · Shift-Tab switches mode" if live else ""))
    return app.run(prompt)


if TYPE_CHECKING:
    from moatcode.ui.input import PlainInput as PlainInputType


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
