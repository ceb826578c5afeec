"""Big pastes are shown as a placeholder and sent whole; completion of commands and paths."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from moatcode.ui.choice import Choice, LineAsker, pick
from moatcode.ui.completion import MoatCompleter
from moatcode.ui.input import Pastes, PlainInput


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
