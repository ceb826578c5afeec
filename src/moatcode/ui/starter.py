"""Starting something slow in a thread while the user types at the prompt."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Starter(Generic[T]):
    """Runs ``start`` once in a thread; ``result`` waits for it and raises what it raised.

    ``on_done`` runs in that thread when ``start`` returns or fails (to redraw
    the prompt, or to end it so that the failure is shown at once).
    """

    def __init__(self, start: Callable[[], T], on_done: Callable[[], None]) -> None:
        self._start = start
        self._on_done = on_done
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._value: T | None = None
        self._error: BaseException | None = None

    def begin(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="moat-start", daemon=True)
            self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def failed(self) -> bool:
        return self._done.is_set() and self._error is not None

    def result(self) -> T:
        self.begin()
        while not self._done.wait(0.1):
            pass  # a short wait, so Ctrl-C is seen
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def _run(self) -> None:
        try:
            self._value = self._start()
        except BaseException as exc:  # handed to the waiting thread by result()
            self._error = exc
        finally:
            self._done.set()
            self._on_done()
