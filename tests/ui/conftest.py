"""Fixtures for the terminal UI tests: a plain 80-column console writing to a string."""

from __future__ import annotations

import io

import pytest
from rich.console import Console


class Screen:
    def __init__(self, *, terminal: bool = False, width: int = 80) -> None:
        self.file = io.StringIO()
        self.console = Console(file=self.file, width=width, force_terminal=terminal,
                               color_system="standard" if terminal else None, _environ={},
                               highlight=False, emoji=False)

    @property
    def text(self) -> str:
        return self.file.getvalue()


@pytest.fixture
def screen() -> Screen:
    return Screen()
