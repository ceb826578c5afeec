"""Starting something in a thread while the prompt is up, and waiting for it."""

from __future__ import annotations

import threading

import pytest

from moatcode.errors import ConfigError
from moatcode.ui.starter import Starter


class Done:
    """The ``on_done`` callback: what ``failed`` said when it ran, in which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.called = threading.Event()
        self.starter: Starter[str] | None = None

    def __call__(self) -> None:
        assert self.starter is not None
        self.calls.append((threading.current_thread().name, self.starter.failed))
        self.called.set()


def test_the_start_runs_once_in_its_thread_and_its_result_is_waited_for() -> None:
    threads: list[str] = []
    release = threading.Event()

    def start() -> str:
        release.wait(5)
        threads.append(threading.current_thread().name)
        return "session"

    done = Done()
    starter = done.starter = Starter(start, done)
    assert (starter.started, starter.done) == (False, False)
    starter.begin()
    starter.begin()
    assert (starter.started, starter.done) == (True, False)
    release.set()
    assert starter.result() == "session"
    assert done.called.wait(5)
    assert (threads, done.calls, starter.failed) == (["moat-start"], [("moat-start", False)],
                                                      False)


def test_a_failed_start_is_raised_where_the_result_is_asked_for() -> None:
    def start() -> str:
        raise ConfigError("settings.toml is not valid TOML; fix the file.")

    done = Done()
    starter = done.starter = Starter(start, done)
    with pytest.raises(ConfigError, match="settings.toml is not valid TOML"):
        starter.result()
    assert done.called.wait(5)
    assert (done.calls, starter.failed) == ([("moat-start", True)], True)
