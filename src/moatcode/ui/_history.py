"""The prompt's history file, named only once the settings are loaded.

The prompt is drawn before the settings say where Moat keeps its data, so the
history starts without a file: loading waits (in prompt_toolkit's loader
thread, see ``ThreadedHistory``) until ``set_path`` names one, and what the
user sends before then is written to it at that moment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory, History


class LateFileHistory(History):
    """A ``FileHistory`` whose file is given later; ``None`` means keep no history."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._named = threading.Event()
        self._file: FileHistory | None = None
        self._unsaved: list[str] = []
        self._saved_late = 0

    def set_path(self, path: Path | None) -> None:
        """Name the file (from any thread); what was sent before is saved now."""
        with self._lock:
            if self._named.is_set():
                return
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = FileHistory(str(path))
                for string in self._unsaved:
                    self._file.store_string(string)
                self._saved_late = len(self._unsaved)
            self._unsaved = []
            self._named.set()

    def load_history_strings(self) -> Iterable[str]:
        self._named.wait()
        if self._file is None:
            return []
        newest_first = list(self._file.load_history_strings())
        # What was sent before the file was named is in memory already.
        return newest_first[self._saved_late:]

    def store_string(self, string: str) -> None:
        with self._lock:
            if not self._named.is_set():
                self._unsaved.append(string)
            elif self._file is not None:
                self._file.store_string(string)
