"""Tab completion for the prompt: slash commands at the start, ``@`` file paths anywhere."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

MAX_PATH_COMPLETIONS = 200
SKIPPED_DIRS = {".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"}


class MoatCompleter(Completer):
    def __init__(self, workspace: Path, commands: Callable[[], dict[str, str]]) -> None:
        """``commands`` gives each command's name (without the slash) and its summary."""
        self._workspace = workspace
        self._commands = commands

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        if before.startswith("/") and " " not in before and "\n" not in before:
            typed = before[1:]
            for name, summary in self._commands().items():
                if name.startswith(typed):
                    yield Completion("/" + name, start_position=-len(before),
                                     display_meta=summary)
            return
        word = before.split()[-1] if before.split() and not before[-1].isspace() else ""
        if word.startswith("@"):
            yield from self._paths(word[1:])

    def _paths(self, typed: str) -> Iterable[Completion]:
        folder, _, prefix = typed.rpartition("/")
        base = (self._workspace / folder).resolve()
        if not base.is_relative_to(self._workspace.resolve()) or not base.is_dir():
            return
        try:
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except OSError:
            return
        shown = 0
        for entry in entries:
            if not entry.name.startswith(prefix) or entry.name in SKIPPED_DIRS:
                continue
            if entry.name.startswith(".") and not prefix.startswith("."):
                continue
            is_dir = entry.is_dir()
            text = (f"{folder}/" if folder else "") + entry.name + ("/" if is_dir else "")
            yield Completion("@" + text, start_position=-len(typed) - 1,
                             display=entry.name + ("/" if is_dir else ""))
            shown += 1
            if shown >= MAX_PATH_COMPLETIONS:
                return
