"""Parse an action written like a rule, for `moat policy check 'Bash(git push origin main)'`.

The text names what to check the way a rule would: ``Bash(command)``,
``Read(path)``, ``Edit(path)``, or one of Moat's tools with its argument
(``write_file(src/app.py)``, ``grep(src)``). A family stands for its usual
tool (``Read`` is ``read_file``, ``Edit`` is ``edit_file``).
"""

from __future__ import annotations

import re

from moatcode.errors import UsageError
from moatcode.policy.rules import CLAUDE_ALIASES, FAMILIES, TOOLS
from moatcode.types import Action

_FORM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)", re.S)
_FAMILY_TOOL = {"Read": "read_file", "Edit": "edit_file", "Bash": "bash"}


def parse_action_spec(text: str) -> Action:
    """The action ``text`` describes; a malformed one raises ``UsageError`` naming the form."""
    match = _FORM.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"Cannot read the action {text!r}; write it as Bash(git status), Read(src/app.py) "
            "or Edit(src/app.py)."
        )
    name, arg = match.group(1), match.group(2).strip()
    name = CLAUDE_ALIASES.get(name, name)
    tool = _FAMILY_TOOL.get(name, name)
    if tool not in TOOLS:
        known = ", ".join((*FAMILIES, *TOOLS))
        raise UsageError(f"Unknown tool {name!r} in {text!r}; use one of {known}.")
    if not arg:
        raise UsageError(
            f"The action {text!r} names nothing to check; put a command or path in ()."
        )
    kind = TOOLS[tool]
    if kind == "bash":
        return Action(tool=tool, kind="bash", command=arg)
    return Action(tool=tool, kind=kind, paths=(arg,))
