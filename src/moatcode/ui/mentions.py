"""``@path`` in a prompt attaches that file: its text goes into the prompt after yours.

Only files inside the workspace are attached, and only where policy would let
the agent read them: a deny rule or a secret file (``.env``, keys) stays out,
whoever asks. The prompt then goes through the same secret redaction as any
other text on its way to the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MENTION = re.compile(r"(?<![\w@])@((?:\\ |[^\s@])+)")
MAX_ATTACH_BYTES = 256 * 1024


@dataclass(frozen=True)
class Expanded:
    text: str
    attached: tuple[str, ...]
    problems: tuple[str, ...]


def expand_mentions(text: str, workspace: Path, may_read: Callable[[str], str | None]) -> \
        Expanded:
    """Append each ``@path``'s file; ``may_read(path)`` returns why not, or None to allow."""
    attached: list[str] = []
    problems: list[str] = []
    blocks: list[str] = []
    root = workspace.resolve()
    for match in MENTION.finditer(text):
        given = match.group(1).replace("\\ ", " ").rstrip(".,;:!?)")
        path = (root / given).resolve()
        if given in attached or not path.is_relative_to(root) or not path.is_file():
            continue
        shown = path.relative_to(root).as_posix()
        refusal = may_read(shown)
        if refusal:
            problems.append(f"@{given} was not attached: {refusal}")
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            problems.append(f"@{given} was not attached: it is a binary file.")
            continue
        note = ""
        if len(data) > MAX_ATTACH_BYTES:
            data = data[:MAX_ATTACH_BYTES]
            note = f" (first {MAX_ATTACH_BYTES // 1024} KB)"
            problems.append(f"@{given} is large; only its first {MAX_ATTACH_BYTES // 1024} KB "
                            "were attached.")
        content = data.decode("utf-8", errors="replace")
        attached.append(given)
        blocks.append(f'<file path="{shown}"{note}>\n{content.rstrip()}\n</file>')
    if not blocks:
        return Expanded(text, (), tuple(problems))
    return Expanded(f"{text}\n\nFiles the user attached:\n\n" + "\n\n".join(blocks),
                    tuple(attached), tuple(problems))
