"""Slash commands: the built-in ones, custom ones from markdown files, and close matches.

``dispatch`` runs ``/name args``. An unknown name lists the commands it is
close to. Custom commands (``custom_commands``) expand to a prompt and run it;
a built-in name always wins over a custom one.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rich.table import Table
from rich.text import Text

from moatcode.policy.modes import parse_mode
from moatcode.ui.choice import Asker, Choice
from moatcode.ui.console import ConsoleRenderer
from moatcode.ui.custom_commands import CustomCommand
from moatcode.ui.host import Host, LiveSession
from moatcode.ui.permissions import PermissionState
from moatcode.ui.status import Status, format_tokens
from moatcode.ui.tool_view import diff_text


class SlashContext(Protocol):
    """What commands use of the interactive session."""

    renderer: ConsoleRenderer
    permissions: PermissionState
    asker: Asker
    host: Host
    status: Status
    custom: dict[str, CustomCommand]
    started_at: float

    def session(self) -> LiveSession: ...

    def run_prompt(self, text: str) -> None: ...

    def compact(self) -> None: ...

    def restart(self, resume_id: str | None) -> None: ...

    def add_note(self, note: str) -> None: ...

    def request_exit(self) -> None: ...


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    run: Callable[[SlashContext, str], None]
    usage: str = ""


def dispatch(ctx: SlashContext, line: str) -> None:
    name, _, args = line.strip()[1:].partition(" ")
    args = args.strip()
    command = COMMANDS.get(name)
    if command is not None:
        command.run(ctx, args)
        return
    custom = ctx.custom.get(name)
    if custom is not None:
        ctx.run_prompt(custom.expand(args))
        return
    names = [*COMMANDS, *ctx.custom]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        close = [n for n in names if n.startswith(name[:2])][:3] if name else []
    named = ["/" + c for c in close]
    listed = ", ".join(named[:-1]) + " or " + named[-1] if len(named) > 1 else "".join(named)
    hint = f" Did you mean {listed}?" if close else " Type /help to see the commands."
    ctx.renderer.error(f"Unknown command /{name}.{hint}")


def command_summaries(custom: dict[str, CustomCommand]) -> dict[str, str]:
    out = {name: c.summary for name, c in COMMANDS.items()}
    for name, command in custom.items():
        out.setdefault(name, command.description)
    return out


# -- the built-in commands ----------------------------------------------------

def _help(ctx: SlashContext, args: str) -> None:
    table = Table.grid(padding=(0, 2))
    for command in COMMANDS.values():
        table.add_row(Text(f"/{command.name}{command.usage}", style="bold"), command.summary)
    for name, custom in ctx.custom.items():
        if name not in COMMANDS:
            table.add_row(Text(f"/{name} [args]", style="bold"),
                          f"{custom.description} ({custom.path.parent.parent.name}/commands)")
    ctx.renderer.print(table)
    ctx.renderer.print(Text(
        "Enter sends · Esc Enter or Ctrl-J: new line · Shift-Tab: mode · Tab: complete · "
        "@path attaches a file · Ctrl-C cancels a step, twice exits · Ctrl-D exits",
        style="dim"))


def _clear(ctx: SlashContext, args: str) -> None:
    session = ctx.session()
    old = session.session_id
    said = any(m.role != "system" for m in session.agent.messages)
    ctx.restart(None)
    if said:
        ctx.renderer.note(f"Started a new conversation. The previous one is saved: /resume, or "
                          f"moat --resume {old[:8]}.")
    else:
        ctx.renderer.note("Started a new conversation.")


def _compact(ctx: SlashContext, args: str) -> None:
    ctx.compact()


def _model(ctx: SlashContext, args: str) -> None:
    session = ctx.session()
    current = ctx.status.model
    name = args
    if not name:
        models = ctx.host.models()
        if not models:
            ctx.renderer.note(f"Using {current}; the server lists no models.")
            return
        choices = [Choice(m, m + ("  (current)" if m == current else ""), "") for m in models]
        name = ctx.asker.choose(f"Model (now {current}):", choices, default=current)
    if name == current:
        ctx.renderer.note(f"Already using {current}.")
        return
    from moatcode.events import Notice

    session.switch_client(ctx.host.client(name))
    ctx.status.model = name
    session.emit(Notice(f"Switched the model from {current} to {name}."))


def _mode(ctx: SlashContext, args: str) -> None:
    state = ctx.permissions
    if not args:
        marks = [f"{m} (current)" if m == state.mode else m for m in state.allowed_modes]
        ctx.renderer.note(f"Modes: {', '.join(marks)}. Switch with /mode NAME or Shift-Tab.")
        return
    set_mode(ctx, args)


def set_mode(ctx: SlashContext, mode: str) -> None:
    from moatcode.events import Notice

    ctx.permissions.set_mode(parse_mode(mode))
    ctx.status.mode = ctx.permissions.mode
    ctx.session().emit(Notice(f"Permission mode is now {ctx.permissions.mode}."))


def _permissions(ctx: SlashContext, args: str) -> None:
    state = ctx.permissions
    table = Table(box=None, padding=(0, 1), show_edge=False)
    for column in ("", "rule", "layer", "source"):
        table.add_column(column, overflow="fold")
    colours = {"allow": "green", "ask": "yellow", "deny": "red"}
    for rule in state.describe():
        where = f"{rule.source}:{rule.line}" if rule.line else rule.source
        if rule.note:
            where = f"{where} ({rule.note})"
        table.add_row(Text(rule.decision, style=colours[rule.decision]), rule.rule,
                      rule.layer, where)
    ctx.renderer.print(Text(f"mode: {state.mode} · modes allowed here: "
                            f"{', '.join(state.allowed_modes)}", style="bold"))
    if not state.trusted:
        ctx.renderer.note("This folder is not trusted: its .moat/config.toml counts only "
                          "for deny and ask rules until `moat trust`.")
    ctx.renderer.print(table)


def _diff(ctx: SlashContext, args: str) -> None:
    snapshots = ctx.session().snapshots
    diff = snapshots.diff() if snapshots is not None else ""
    if not diff.strip():
        ctx.renderer.note("Nothing has changed in this session.")
        return
    ctx.renderer.print(diff_text(diff, ctx.renderer.glyphs, max_lines=100_000))


def _undo(ctx: SlashContext, args: str) -> None:
    snapshots = ctx.session().snapshots
    if snapshots is None:
        ctx.renderer.error("Undo is not available in this session.")
        return
    try:
        steps = int(args) if args else 1
    except ValueError:
        ctx.renderer.error(f"/undo takes a number of steps, not {args!r}.")
        return
    if steps < 1:
        ctx.renderer.error("/undo takes a number of steps of at least 1.")
        return
    result = snapshots.undo(steps)
    if not result.undone:
        ctx.renderer.note("Nothing to undo: no step has changed files in this session.")
        return
    ctx.renderer.note(f"Undid {len(result.undone)} step{'s' if len(result.undone) > 1 else ''}: "
                      + "; ".join(s.label for s in result.undone))
    for restore in result.files:
        ctx.renderer.print(Text(f"    {restore.how:<8} {restore.path}"))
    if not result.files:
        ctx.renderer.note("The files were already as they were before.")
    if snapshots.skipped:
        limit = snapshots.max_file_bytes // (1024 * 1024)
        ctx.renderer.note(f"Not covered by undo (untracked, over {limit} MB, never "
                          f"snapshotted): {', '.join(snapshots.skipped)}.")
    paths = ", ".join(f.path for f in result.files) or "none"
    ctx.add_note(f"(The user undid your last {len(result.undone)} change step(s) with /undo; "
                 f"these files are back as they were before: {paths}. Read them again "
                 "before relying on what you saw earlier.)")


def _usage(ctx: SlashContext, args: str) -> None:
    totals = ctx.session().agent.totals
    usage = totals.usage
    elapsed = time.monotonic() - ctx.started_at
    took = f"{elapsed:.0f}s" if elapsed < 120 else f"{elapsed / 60:.0f} min"
    ctx.renderer.print(Text(
        f"tokens: {format_tokens(usage.prompt_tokens)} in ({format_tokens(usage.cached_tokens)}"
        f" from cache), {format_tokens(usage.completion_tokens)} out\n"
        f"requests: {totals.model_requests} · tool calls: {totals.tool_calls} · model time: "
        f"{totals.api_s:.1f}s · session time: {took}"))


def _audit(ctx: SlashContext, args: str) -> None:
    records = list(ctx.session().audit_records())
    if not records:
        ctx.renderer.note("No audit records for this session (is the audit log off?).")
        return
    from moatcode.ui.audit_view import audit_lines

    shown = records[-40:]
    if len(records) > len(shown):
        ctx.renderer.note(f"The last {len(shown)} of {len(records)} records; "
                          "`moat audit log` shows them all.")
    ctx.renderer.print(audit_lines(shown, ctx.renderer.console.width))


def _resume(ctx: SlashContext, args: str) -> None:
    current = ctx.session().session_id
    infos = [i for i in ctx.host.sessions() if i.id != current][:9]
    if args:
        ctx.restart(args)
        return
    if not infos:
        ctx.renderer.note("There is no other saved session in this project.")
        return
    choices = [Choice(i.id, f"{i.created.replace('T', ' ')[:16]}  {i.turns:>3} turns  "
                            f"{_clip(i.first_prompt, 40)}", "") for i in infos]
    chosen = ctx.asker.choose("Resume which session?", choices, default="")
    if chosen:
        ctx.restart(chosen)


def _exit(ctx: SlashContext, args: str) -> None:
    ctx.request_exit()


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("help", "Show commands and keys", _help),
    Command("clear", "Start a new conversation (this one stays saved)", _clear),
    Command("compact", "Summarise older turns to free context", _compact),
    Command("model", "List the server's models and switch", _model, " [name]"),
    Command("mode", "Show or switch the permission mode", _mode, " [name]"),
    Command("permissions", "Show the rules in effect and where each comes from", _permissions),
    Command("diff", "Show everything changed in this session", _diff),
    Command("undo", "Put files back as before the last step (or N steps)", _undo, " [N]"),
    Command("usage", "Tokens, requests and time of this session", _usage),
    Command("audit", "This session's audit records, briefly", _audit),
    Command("resume", "Pick an earlier session of this project", _resume, " [id]"),
    Command("exit", "Leave (the session is saved)", _exit),
)}
COMMANDS["quit"] = Command("quit", "Leave (same as /exit)", _exit)
