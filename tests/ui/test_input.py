"""Big pastes are shown as a placeholder and sent whole; completion of commands and paths;
the prompt drawn before its history, completer and Shift-Tab action exist."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from moatcode.ui.choice import Choice, LineAsker, pick
from moatcode.ui.completion import MoatCompleter
from moatcode.ui.input import Pastes, PlainInput, PromptInput


def test_small_pastes_go_in_as_they_are_and_big_ones_collapse() -> None:
    pastes = Pastes()
    assert pastes.collapse("one line") == "one line"
    big = "\n".join(f"log line {n}" for n in range(300))
    wide = "x" * 5000
    assert pastes.collapse(big) == "[pasted text #1: 300 lines]"
    assert pastes.collapse(wide) == "[pasted text #2: 5000 characters]"
    typed = "why does this fail?\n[pasted text #1: 300 lines]\nand [pasted text #2: 5000 " \
            "characters] [pasted text #9: 1 lines]"
    assert pastes.expand(typed) == (f"why does this fail?\n{big}\nand {wide} "
                                    "[pasted text #9: 1 lines]")


def test_plain_input_echoes_each_line_and_ends_at_eof() -> None:
    out = io.StringIO()
    reader = PlainInput(io.StringIO("first\n/help\n"), out)
    ready: list[bool] = []
    assert reader.read(lambda: ready.append(True)) == "first"
    assert reader.read() == "/help"
    with pytest.raises(EOFError):
        reader.read()
    assert (out.getvalue(), ready) == ("> first\n> /help\n", [True])


def test_line_asker_takes_numbers_letters_and_words() -> None:
    choices = [Choice("once", "Yes", "y"), Choice("no", "No, and tell the model", "n")]
    assert [pick(t, choices) for t in ("1", "y", "2", "N", "no", "yes", "maybe")] == [
        "once", "once", "no", "no", "no", "once", None]
    out = io.StringIO()
    asker = LineAsker(io.StringIO("7\nn\n"), out)
    assert asker.choose("Allow?", choices, default="no") == "no"
    assert out.getvalue() == ("Allow?\n  1. Yes [y]\n  2. No, and tell the model [n]\n> "
                              "Type a number from 1 to 2.\n> ")
    assert LineAsker(io.StringIO(""), io.StringIO()).choose("?", choices, "no") == "no"


def completions(completer: MoatCompleter, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]


def test_completion_of_commands_and_at_paths(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "main.py").write_text("")
    (tmp_path / "setup.cfg").write_text("")
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "node_modules").mkdir()
    completer = MoatCompleter(tmp_path, lambda: {"mode": "", "model": "", "help": ""})
    assert completions(completer, "/mo") == ["/mode", "/model"]
    assert completions(completer, "/mode pl") == []
    assert completions(completer, "look at @s") == ["@setup.cfg", "@src/"]
    assert completions(completer, "look at @src/") == ["@src/main.py", "@src/pkg/"]
    assert completions(completer, "@.h") == ["@.hidden"]
    assert completions(completer, "@../") == []
    assert completions(completer, "no mention") == []


class Prompt:
    """A ``PromptInput`` on a pipe instead of a terminal, and what its parts were given."""

    def __init__(self, tmp_path: Path, keys: PipeInput) -> None:
        self.keys = keys
        self.reader = PromptInput(prompt="> ", toolbar=lambda width: f"{width} columns",
                                  input=self.keys, output=DummyOutput())
        self.history = tmp_path / "history" / "project.txt"
        self.completer = MoatCompleter(tmp_path, dict)
        self.shift_tabs: list[str] = []

    def attach(self) -> None:
        self.reader.attach(history=self.history, completer=self.completer,
                           on_shift_tab=lambda: self.shift_tabs.append("switched"))


@pytest.fixture
def prompt(tmp_path: Path) -> Iterator[Prompt]:
    with create_pipe_input() as keys:
        yield Prompt(tmp_path, keys)


SHIFT_TAB = "\x1b[Z"


def test_what_the_prompt_gets_before_its_parts_exist_is_kept(prompt: Prompt) -> None:
    prompt.keys.send_text(f"{SHIFT_TAB}{SHIFT_TAB}first\r")
    assert prompt.reader.read() == "first"
    assert (prompt.shift_tabs, prompt.history.exists()) == ([], False)
    prompt.attach()  # both Shift-Tabs count now, and what was sent is saved
    assert prompt.shift_tabs == ["switched", "switched"]
    assert prompt.history.read_text().endswith("\n+first\n")
    prompt.keys.send_text(f"{SHIFT_TAB}second\r")
    assert prompt.reader.read() == "second"
    assert len(prompt.shift_tabs) == 3
    saved = [line for line in prompt.history.read_text().splitlines() if line.startswith("+")]
    assert saved == ["+first", "+second"]


def test_what_is_shown_above_the_prompt_comes_once_before_the_read_returns(
        prompt: Prompt) -> None:
    shown: list[str] = []
    prompt.reader.show_above(lambda: shown.append("before"))
    prompt.keys.send_text("hi\r")

    def ready() -> None:
        shown.append("drawn")
        prompt.reader.show_above(lambda: shown.append("above"))

    assert prompt.reader.read(ready) == "hi"
    assert shown == ["before", "drawn", "above"]
    prompt.reader.show_above(lambda: shown.append("later"))
    prompt.reader.flush_above()
    prompt.reader.flush_above()
    assert shown == ["before", "drawn", "above", "later"]


def test_abort_from_another_thread_ends_the_prompt_as_ctrl_d(prompt: Prompt) -> None:
    started = time.monotonic()
    with pytest.raises(EOFError):
        prompt.reader.read(lambda: threading.Thread(target=prompt.reader.abort).start())
    assert time.monotonic() - started < 5
