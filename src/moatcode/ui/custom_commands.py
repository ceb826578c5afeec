"""Custom slash commands: each markdown file in ``.moat/commands/`` (or ``.claude/commands/``).

``.moat/commands/review.md`` becomes ``/review``; a file in a sub-folder,
``frontend/component.md``, becomes ``/frontend:component``. The file is a prompt;
``$ARGUMENTS`` in it is replaced by what follows the command. An optional
front matter block (between ``---`` lines, as Claude Code writes it) is not part
of the prompt; its ``description`` is what ``/help`` shows. Where both folders
name the same command, ``.moat/commands`` wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

COMMAND_DIRS = (".moat/commands", ".claude/commands")
MAX_COMMAND_BYTES = 256 * 1024


@dataclass(frozen=True)
class CustomCommand:
    name: str
    description: str
    body: str
    path: Path

    def expand(self, arguments: str) -> str:
        """The prompt, with ``$ARGUMENTS`` replaced (or the arguments appended when absent)."""
        if "$ARGUMENTS" in self.body:
            return self.body.replace("$ARGUMENTS", arguments)
        return f"{self.body}\n\n{arguments}".strip() if arguments else self.body


def load_custom_commands(workspace: Path) -> dict[str, CustomCommand]:
    commands: dict[str, CustomCommand] = {}
    for folder in reversed(COMMAND_DIRS):  # the first folder's files win
        root = workspace / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.md")):
            if not path.is_file() or path.stat().st_size > MAX_COMMAND_BYTES:
                continue
            name = ":".join(path.relative_to(root).with_suffix("").parts)
            if not name or any(c.isspace() for c in name):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            description, body = parse_command_file(text)
            commands[name] = CustomCommand(name, description, body, path)
    return dict(sorted(commands.items()))


def parse_command_file(text: str) -> tuple[str, str]:
    """(description, prompt body) of a command file."""
    description = ""
    body = text
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is not None:
            for line in lines[1:end]:
                key, _, value = line.partition(":")
                if key.strip() == "description":
                    description = value.strip().strip("\"'")
            body = "\n".join(lines[end + 1:])
    body = body.strip()
    if not description:
        first = next((line.strip("# ").strip() for line in body.splitlines() if line.strip()),
                     "")
        description = first if len(first) <= 60 else first[:59] + "…"
    return description, body
