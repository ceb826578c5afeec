"""Permission modes, and what each decides when no rule matches.

    mode           reads (in workspace)  edits (in workspace)  commands
    default        allow                 ask                   ask
    accept-edits   allow                 allow                 ask
    plan           allow                 deny                  deny
    auto           allow                 allow                 allow

Whatever the mode, reading or editing outside the workspace asks (only an
explicit allow rule allows it), and an edit of a protected path (``.git``,
``.moat`` and the like, where a change can make later commands or policy do
something else) or of a secret file asks. Plan mode denies edits and commands
even when an allow rule matches: it is the promise that nothing changes.

In auto mode a command part that cannot be read as plain words (``eval``,
``$CMD x``) runs only when no layer has any Bash deny or ask rule; when one
does, the part asks, since nobody can tell whether the rule was meant for it.
"""

from __future__ import annotations

from typing import Literal

from moatcode.errors import PolicyError
from moatcode.types import ActionKind

Mode = Literal["default", "accept-edits", "plan", "auto"]
MODES: tuple[Mode, ...] = ("default", "accept-edits", "plan", "auto")
Decision = Literal["allow", "ask", "deny"]

# Claude Code's spellings, so `defaultMode = "acceptEdits"` keeps working.
_ALIASES: dict[str, Mode] = {"acceptEdits": "accept-edits", "accept_edits": "accept-edits"}

# Workspace paths whose change alters what later commands or policy do.
PROTECTED_NAMES = (".git", ".moat", ".vscode", ".idea", ".envrc", ".gitmodules")


def parse_mode(text: str) -> Mode:
    """The mode named by ``text``; an unknown name raises ``PolicyError`` naming the choices."""
    if text in MODES:
        return text
    if text in _ALIASES:
        return _ALIASES[text]
    choices = ", ".join(MODES)
    raise PolicyError(f"Unknown permission mode {text!r}; choose one of {choices}.")


def decide_by_mode(mode: Mode, kind: ActionKind) -> Decision:
    """What ``mode`` decides for an action inside the workspace that no rule matched."""
    if kind in ("read", "none"):
        return "allow"
    if mode == "plan":
        return "deny"
    if mode == "auto":
        return "allow"
    if mode == "accept-edits" and kind == "edit":
        return "allow"
    return "ask"


def describe_mode(mode: Mode) -> tuple[tuple[Decision, str], ...]:
    """The mode's defaults as (decision, what) lines, for `moat policy show`."""
    lines: list[tuple[Decision, str]] = [
        ("allow", "reads inside the workspace"),
        (decide_by_mode(mode, "edit"), "edits inside the workspace"),
        (decide_by_mode(mode, "bash"), "commands"),
        ("ask", "reads outside the workspace"),
        ("deny" if mode == "plan" else "ask", "edits outside the workspace"),
    ]
    if mode != "plan":
        lines.append(("ask", "edits of " + ", ".join(PROTECTED_NAMES) + " and secret files"))
    if mode == "auto":
        lines.append(("ask", "commands that cannot be read, when any Bash deny or ask rule exists"))
    else:
        lines.append((decide_by_mode(mode, "bash"), "commands that cannot be read"))
    return tuple(lines)
