"""The prompt's history, whose file is named once the settings are loaded."""

from __future__ import annotations

import threading
from pathlib import Path

from prompt_toolkit.history import FileHistory

from moatcode.ui._history import LateFileHistory


def test_loading_waits_for_the_file_and_what_was_sent_before_is_saved_then(
        tmp_path: Path) -> None:
    path = tmp_path / "history" / "project.txt"
    path.parent.mkdir()
    FileHistory(str(path)).store_string("older")
    late = LateFileHistory()
    loaded: list[list[str]] = []
    loader = threading.Thread(target=lambda: loaded.append(list(late.load_history_strings())))
    loader.start()
    late.store_string("sent early")
    loader.join(0.2)
    assert (loader.is_alive(), loaded) == (True, [])  # no file named yet
    late.set_path(path)
    loader.join(5)
    # "sent early" is in the prompt's memory already (prompt_toolkit put it there when
    # it was sent), so loading skips it; the file has it for the next session.
    assert loaded == [["older"]]
    late.store_string("sent later")
    assert list(FileHistory(str(path)).load_history_strings()) == [
        "sent later", "sent early", "older"]


def test_no_file_means_no_history(tmp_path: Path) -> None:
    late = LateFileHistory()
    late.store_string("sent early")
    late.set_path(None)
    late.set_path(tmp_path / "too-late.txt")  # named once only
    late.store_string("sent later")
    assert (list(late.load_history_strings()), list(tmp_path.iterdir())) == ([], [])
