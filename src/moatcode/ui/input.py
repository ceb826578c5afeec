"""Reading what the user types: prompt_toolkit in a terminal, plain lines otherwise.

In a terminal: Enter sends; Esc then Enter, Ctrl-J, or a line ending in ``\\``
starts a new line. History is kept per project across sessions. Tab completes
commands and ``@`` paths. Shift-Tab switches the permission mode. A big paste
is shown as one short placeholder and sent whole. Ctrl-C clears what is typed
(on an empty line it raises ``KeyboardInterrupt``); Ctrl-D on an empty line
raises ``EOFError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer

PASTE_COLLAPSE_LINES = 12
PASTE_COLLAPSE_CHARS = 2000
_PLACEHOLDER = re.compile(r"\[pasted text #(\d+): [^\]]*\]")
PLACEHOLDER_TEXT = "Ask Moat · / for commands · @ to attach a file · Esc Enter for a new line"


class Pastes:
    """Big pasted texts, kept whole while the prompt shows a placeholder for each."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}

    def collapse(self, data: str) -> str:
        """What to insert for a paste: itself, or a placeholder when it is big."""
        lines = len(data.splitlines()) or 1
        if lines < PASTE_COLLAPSE_LINES and len(data) < PASTE_COLLAPSE_CHARS:
            return data
        number = len(self._texts) + 1
        self._texts[number] = data
        size = f"{lines} lines" if lines > 1 else f"{len(data)} characters"
        return f"[pasted text #{number}: {size}]"

    def expand(self, text: str) -> str:
        def whole(match: re.Match[str]) -> str:
            return self._texts.get(int(match.group(1)), match.group(0))

        return _PLACEHOLDER.sub(whole, text)


class PlainInput:
    """One prompt per line from a stream (no terminal); each line is echoed after ``> ``."""

    def __init__(self, stdin: TextIO, out: TextIO) -> None:
        self._in = stdin
        self._out = out

    def read(self, on_ready: Callable[[], None] | None = None) -> str:
        if on_ready is not None:
            on_ready()
        line = self._in.readline()
        if not line:
            raise EOFError
        text = line.rstrip("\n")
        self._out.write(f"> {text}\n")
        self._out.flush()
        return text

    def refresh(self) -> None:
        """Nothing to redraw without a terminal."""

    def abort(self) -> None:
        """Nothing to interrupt: the next read comes after the check."""


class PromptInput:
    def __init__(self, *, history: Path, completer: Completer, prompt: str,
                 toolbar: Callable[[], str], on_shift_tab: Callable[[], None]) -> None:
        self.pastes = Pastes()
        self._history_path = history
        self._completer = completer
        self._prompt = prompt
        self._toolbar = toolbar
        self._on_shift_tab = on_shift_tab
        self._session: PromptSession[str] | None = None

    def read(self, on_ready: Callable[[], None] | None = None) -> str:
        """The next prompt; ``on_ready`` runs once the prompt is on screen."""
        session = self._session or self._create()
        self._session = session
        if on_ready is not None:
            app = session.app

            def first_render(_: object) -> None:
                app.after_render -= first_render
                on_ready()

            app.after_render += first_render
        return self.pastes.expand(session.prompt())

    def refresh(self) -> None:
        """Redraw the status line (safe from another thread)."""
        if self._session is not None and self._session.app.is_running:
            self._session.app.invalidate()

    def abort(self) -> None:
        """End the prompt as if Ctrl-D was pressed (from another thread)."""
        session = self._session
        if session is None or not session.app.is_running:
            return
        app = session.app
        app.loop.call_soon_threadsafe(  # type: ignore[union-attr]
            lambda: app.exit(exception=EOFError()) if app.is_running else None)

    def _create(self) -> PromptSession[str]:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.formatted_text import FormattedText
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
        from prompt_toolkit.keys import Keys
        from prompt_toolkit.styles import Style

        bindings = KeyBindings()

        @bindings.add("enter")
        def _send(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            if buffer.document.text_before_cursor.endswith("\\"):
                buffer.delete_before_cursor()
                buffer.insert_text("\n")
            else:
                buffer.validate_and_handle()

        @bindings.add("escape", "enter")
        @bindings.add("c-j")
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        @bindings.add("c-c")
        def _interrupt(event: KeyPressEvent) -> None:
            if event.current_buffer.text:
                event.current_buffer.reset()
            else:
                event.app.exit(exception=KeyboardInterrupt())

        @bindings.add("s-tab")
        def _mode(event: KeyPressEvent) -> None:
            self._on_shift_tab()

        @bindings.add(Keys.BracketedPaste)
        def _paste(event: KeyPressEvent) -> None:
            data = event.data.replace("\r\n", "\n").replace("\r", "\n")
            event.current_buffer.insert_text(self.pastes.collapse(data))

        self._history_path.parent.mkdir(parents=True, exist_ok=True)
        return PromptSession(
            message=FormattedText([("class:prompt", self._prompt)]),
            multiline=True,
            prompt_continuation=lambda width, line, wrap: " " * width,
            history=FileHistory(str(self._history_path)),
            completer=self._completer,
            complete_while_typing=False,
            key_bindings=bindings,
            bottom_toolbar=lambda: FormattedText([("class:status", " " + self._toolbar())]),
            placeholder=FormattedText([("class:placeholder", PLACEHOLDER_TEXT)]),
            style=Style.from_dict({"prompt": "bold ansicyan", "placeholder": "#888888",
                                   "bottom-toolbar": "noreverse", "status": "#888888"}),
            enable_history_search=False,
            reserve_space_for_menu=4,
        )
