"""Asking the user to pick one answer, or to type a line: in a terminal, or from plain input.

``TerminalAsker`` draws a small menu with prompt_toolkit (arrows and Enter, or
the number or letter of an answer); ``LineAsker`` prints the answers and reads
a line, for a session without a terminal. Ctrl-C raises ``KeyboardInterrupt``
in both, which cancels the step that asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO


@dataclass(frozen=True)
class Choice:
    key: str
    label: str
    letter: str  # typed alone to pick it, like its number


class Asker(Protocol):
    def choose(self, question: str, choices: Sequence[Choice], default: str) -> str:
        """The key of the chosen answer; ``default`` on Escape or end of input."""
        ...

    def text(self, prompt: str) -> str: ...


def pick(typed: str, choices: Sequence[Choice]) -> str | None:
    """The key an answer like ``2``, ``s`` or ``yes`` names, or None."""
    typed = typed.strip().lower()
    for number, choice in enumerate(choices, 1):
        if typed in (str(number), choice.letter) or (len(typed) > 1 and
                                                     choice.label.lower().startswith(typed)):
            return choice.key
    return None


class LineAsker:
    def __init__(self, stdin: TextIO, out: TextIO) -> None:
        self._in = stdin
        self._out = out

    def choose(self, question: str, choices: Sequence[Choice], default: str) -> str:
        self._out.write(f"{question}\n")
        for number, choice in enumerate(choices, 1):
            self._out.write(f"  {number}. {choice.label} [{choice.letter}]\n")
        while True:
            self._out.write("> ")
            self._out.flush()
            line = self._in.readline()
            if not line:
                self._out.write("\n")
                return default
            key = pick(line, choices)
            if key is not None:
                return key
            self._out.write(f"Type a number from 1 to {len(choices)}.\n")

    def text(self, prompt: str) -> str:
        self._out.write(prompt)
        self._out.flush()
        return self._in.readline().rstrip("\n")


class TerminalAsker:
    def choose(self, question: str, choices: Sequence[Choice], default: str) -> str:
        from prompt_toolkit.application import Application
        from prompt_toolkit.formatted_text import StyleAndTextTuples
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
        from prompt_toolkit.layout import Layout, Window
        from prompt_toolkit.layout.controls import FormattedTextControl
        from prompt_toolkit.styles import Style

        selected = 0
        bindings = KeyBindings()

        def lines() -> StyleAndTextTuples:
            out: StyleAndTextTuples = [("class:question", f"{question}\n")]
            for number, choice in enumerate(choices, 1):
                mark = "›" if number - 1 == selected else " "
                style = "class:selected" if number - 1 == selected else ""
                out.append((style, f"{mark} {number}. {choice.label}\n"))
            out.append(("class:hint", "  ↑↓ and Enter, or type a number · Esc for no"))
            return out

        @bindings.add("up")
        def _up(event: KeyPressEvent) -> None:
            nonlocal selected
            selected = (selected - 1) % len(choices)

        @bindings.add("down")
        @bindings.add("tab")
        def _down(event: KeyPressEvent) -> None:
            nonlocal selected
            selected = (selected + 1) % len(choices)

        @bindings.add("enter")
        def _enter(event: KeyPressEvent) -> None:
            event.app.exit(result=choices[selected].key)

        @bindings.add("escape", eager=True)
        def _escape(event: KeyPressEvent) -> None:
            event.app.exit(result=default)

        @bindings.add("c-c")
        def _interrupt(event: KeyPressEvent) -> None:
            event.app.exit(exception=KeyboardInterrupt())

        @bindings.add("<any>")
        def _typed(event: KeyPressEvent) -> None:
            key = pick(event.data, choices)
            if key is not None:
                event.app.exit(result=key)

        app: Application[str] = Application(
            layout=Layout(Window(FormattedTextControl(lines, show_cursor=False),
                                 wrap_lines=True, dont_extend_height=True)),
            key_bindings=bindings, erase_when_done=True,
            style=Style.from_dict({"selected": "bold reverse", "hint": "#888888",
                                   "question": "bold"}))
        return app.run(handle_sigint=False)

    def text(self, prompt: str) -> str:
        from prompt_toolkit import PromptSession

        session: PromptSession[str] = PromptSession()
        return session.prompt(prompt)
