"""When the interactive session draws, and when it falls back to plain lines."""

from __future__ import annotations

import io
import os
import pty

import pytest

from moatcode.cli.interactive import is_capable_terminal


class Stream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty = tty
        self._encoding = encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def test_pipes_a_dumb_terminal_and_a_broken_locale_fall_back() -> None:
    assert not is_capable_terminal(Stream(False), Stream(True), "xterm")
    assert not is_capable_terminal(Stream(True), Stream(False), "xterm")
    assert not is_capable_terminal(Stream(True), Stream(True), "dumb")


@pytest.mark.parametrize(("columns", "lines", "encoding", "capable"), [
    (100, 40, "utf-8", True), (30, 40, "utf-8", False), (100, 5, "utf-8", False),
    (100, 40, "ascii", False)])
def test_the_terminal_size_and_encoding(monkeypatch: pytest.MonkeyPatch, columns: int,
                                        lines: int, encoding: str, capable: bool) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("LINES", str(lines))
    controller, terminal = pty.openpty()
    try:
        with open(terminal, "w", encoding=encoding, closefd=False) as out, \
                open(terminal, encoding=encoding, closefd=False) as inp:
            assert is_capable_terminal(inp, out, "xterm-256color") is capable
    finally:
        os.close(controller)
        os.close(terminal)
