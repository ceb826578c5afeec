"""The interactive ``Approver``: show what would run and why it asks, then take an answer.

The request is shown whole: the full command, or the diff the edit would make,
then the reason policy gave and the rule (or mode) behind it. The answers are
yes once, yes for this session, always for this project (an ``allow`` rule in
``.moat/config.toml``) and no with an optional note for the model; the two
that remember are offered only where a rule can say exactly this and the
managed policy lets users add allow rules. The agent turns the answer into a
``PermissionDecided`` event, so the audit log records who answered what.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from moatcode.agent.approval import Approval, ApprovalRequest
from moatcode.ui.choice import Asker, Choice
from moatcode.ui.console import ConsoleRenderer
from moatcode.ui.permissions import PermissionState
from moatcode.ui.preview import edit_preview
from moatcode.ui.tool_view import diff_text, parse_arguments, title_of

if TYPE_CHECKING:
    from moatcode.events import Emit


class ConsoleApprover:
    def __init__(self, renderer: ConsoleRenderer, asker: Asker, permissions: PermissionState,
                 *, who: str, is_secret: Callable[[Path], bool] | None = None) -> None:
        self._renderer = renderer
        self._asker = asker
        self._permissions = permissions
        self._who = who
        self._is_secret = is_secret
        # Set once the session exists: where "saved a rule" notices go (the audit log too).
        self.emit: Emit | None = None

    def approve(self, request: ApprovalRequest) -> Approval:
        self._renderer.stop()
        self._renderer.print()
        self._renderer.print(self.describe(request))
        rules = self._permissions.propose(request.action)
        choices = [Choice("once", "Yes", "y")]
        if self._permissions.can_remember:
            what = _quoted(rules) if rules else "this exact call"
            choices.append(Choice("session", f"Yes, and allow {what} for this session", "s"))
        if rules:
            choices.append(Choice("project", f"Yes, and always allow {_quoted(rules)} in this "
                                             "project", "a"))
        choices.append(Choice("no", "No, and tell the model what to do instead", "n"))
        key = self._asker.choose(f"Allow this {title_of(request.call.name)} call?", choices,
                                 default="no")
        if key == "no":
            note = self._asker.text("Note for the model (Enter for none): ").strip()
            return Approval(False, "once", self._who, note)
        if key == "session":
            if rules:
                self._permissions.remember_for_session(rules)
            self._renderer.note(f"Allowed {_quoted(rules) if rules else 'this call'} for "
                                "this session.")
            return Approval(True, "session", self._who)
        if key == "project":
            saved = self._permissions.remember_for_project(rules)
            message = f"Saved the allow rule {_quoted(rules)} to {saved.path}."
            if not saved.effective:
                message += (" This folder is not trusted, so the file counts only after "
                            "`moat trust`; the rule applies for the rest of this session.")
            self._renderer.note(message)
            if self.emit is not None:
                from moatcode.events import Notice

                self.emit(Notice(message))
            return Approval(True, "project", self._who)
        return Approval(True, "once", self._who)

    def describe(self, request: ApprovalRequest) -> RenderableType:
        """The request as a panel: what will run or change, then why policy asks."""
        call = request.call
        args = parse_arguments(call.arguments)
        body: RenderableType
        if request.action.kind == "bash" and request.action.command is not None:
            title = f"{title_of(call.name)} wants to run"
            body = Text(request.action.command, style="bold")
        else:
            diff = edit_preview(self._permissions.workspace, call.name, args, self._is_secret)
            paths = ", ".join(request.action.paths)
            title = f"{title_of(call.name)} wants to change {paths}" if diff is not None \
                else f"{title_of(call.name)} {paths}".strip()
            body = (diff_text(diff, self._renderer.glyphs, max_lines=200, wrap=True) if diff
                    else Text(request.preview or json.dumps(args, indent=2)))
        verdict = request.verdict
        why = Text()
        why.append("Why it asks: ", style="bold")
        why.append(f"{verdict.reason} ")
        why.append(f"({verdict.rule}, {verdict.layer})", style="dim")
        return Group(Panel(body, title=title, title_align="left", border_style="yellow"), why)


def _quoted(rules: tuple[str, ...]) -> str:
    return ", ".join(rules)
