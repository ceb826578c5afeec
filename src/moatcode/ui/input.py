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
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pathlib import Path

    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output

    from moatcode.ui._history import LateFileHistory

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
    """The prompt in a terminal, which can be drawn before the session's parts exist.

    ``attach`` hands it the history file, the completer and the Shift-Tab action
    later, from any thread; a Shift-Tab pressed before then counts once they
    are there, and ``show_above`` prints above the prompt while it is up.
    """

    def __init__(self, *, prompt: str, toolbar: Callable[[int], str],
                 input: Input | None = None, output: Output | None = None) -> None:
        """``toolbar`` gives the status line for the terminal's width in columns;
        ``input`` and ``output`` are the terminal's (prompt_toolkit's own by default)."""
        self.pastes = Pastes()
        self._prompt = prompt
        self._toolbar = toolbar
        self._input = input
        self._output = output
        self._lock = threading.Lock()
        self._history: LateFileHistory | None = None
        self._history_path: Path | None = None
        self._attached = False
        self._completer: Completer | None = None
        self._on_shift_tab: Callable[[], None] | None = None
        self._shift_tabs = 0  # pressed before there was anything to switch
        self._above: list[Callable[[], None]] = []
        self._above_scheduled = False
        self._session: PromptSession[str] | None = None

    def attach(self, *, history: Path | None, completer: Completer,
               on_shift_tab: Callable[[], None]) -> None:
        """Give the prompt its parts (safe from another thread, while it is up)."""
        self._completer = completer
        with self._lock:
            self._history_path = history
            self._attached = True
            if self._history is not None:
                self._history.set_path(history)
            self._on_shift_tab = on_shift_tab
            for _ in range(self._shift_tabs):
                on_shift_tab()
            self._shift_tabs = 0
        self.refresh()

    def show_above(self, show: Callable[[], None]) -> None:
        """Run ``show``, which prints, above the prompt (from any thread).

        While the prompt is up, it runs in the prompt's own thread with the prompt
        out of the way; otherwise when the current read returns, or the next starts,
        or at ``flush_above``.
        """
        with self._lock:
            self._above.append(show)
        self.refresh()

    def read(self, on_ready: Callable[[], None] | None = None) -> str:
        """The next prompt; ``on_ready`` runs once the prompt is on screen."""
        self.flush_above()
        session = self._session or self._create()
        self._session = session
        app = session.app
        if on_ready is not None:

            def first_render(_: object) -> None:
                app.after_render -= first_render
                on_ready()

            app.after_render += first_render
        try:
            return self.pastes.expand(session.prompt())
        finally:
            self.flush_above()

    def refresh(self) -> None:
        """Redraw the status line (safe from another thread)."""
        if self._session is not None and self._session.app.is_running:
            self._session.app.invalidate()

    def abort(self) -> None:
        """End the prompt as if Ctrl-D was pressed (from another thread).

        A history file not named by then never will be: its loader stops waiting.
        """
        with self._lock:
            if self._history is not None and not self._attached:
                self._history.set_path(None)
        session = self._session
        if session is None or not session.app.is_running:
            return
        app = session.app
        app.loop.call_soon_threadsafe(  # type: ignore[union-attr]
            lambda: app.exit(exception=EOFError()) if app.is_running else None)

    def flush_above(self) -> None:
        """Show what waits for ``show_above`` now (call it when no prompt is up)."""
        with self._lock:
            pending, self._above = self._above, []
            self._above_scheduled = False
        for show in pending:
            show()

    def _schedule_above(self, _: object) -> None:
        # After each drawing, in the prompt's thread: make room for what waits.
        with self._lock:
            if not self._above or self._above_scheduled:
                return
            self._above_scheduled = True
        from prompt_toolkit.application import run_in_terminal

        run_in_terminal(self.flush_above)

    def _shift_tab(self) -> None:
        with self._lock:
            if self._on_shift_tab is None:
                self._shift_tabs += 1
            else:
                self._on_shift_tab()

    def _create(self) -> PromptSession[str]:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.application import get_app
        from prompt_toolkit.completion import DynamicCompleter
        from prompt_toolkit.formatted_text import FormattedText
        from prompt_toolkit.history import ThreadedHistory
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
        from prompt_toolkit.keys import Keys
        from prompt_toolkit.styles import Style

        from moatcode.ui._history import LateFileHistory

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
            self._shift_tab()

        @bindings.add(Keys.BracketedPaste)
        def _paste(event: KeyPressEvent) -> None:
            data = event.data.replace("\r\n", "\n").replace("\r", "\n")
            event.current_buffer.insert_text(self.pastes.collapse(data))

        with self._lock:
            self._history = LateFileHistory()
            if self._attached:
                self._history.set_path(self._history_path)
        session: PromptSession[str] = PromptSession(
            message=FormattedText([("class:prompt", self._prompt)]),
            multiline=True,
            prompt_continuation=lambda width, line, wrap: " " * width,
            history=ThreadedHistory(self._history),
            completer=DynamicCompleter(lambda: self._completer),
            complete_while_typing=False,
            key_bindings=bindings,
            bottom_toolbar=lambda: FormattedText(
                [("class:status", " " + self._toolbar(get_app().output.get_size().columns))]),
            placeholder=FormattedText([("class:placeholder", PLACEHOLDER_TEXT)]),
            style=Style.from_dict({"prompt": "bold ansicyan", "placeholder": "#888888",
                                   "bottom-toolbar": "noreverse", "status": "#888888"}),
            enable_history_search=False,
            reserve_space_for_menu=4,
            input=self._input,
            output=self._output,
        )
        session.app.after_render += self._schedule_above
        return session
