"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_server import FakeModelServer


@pytest.fixture
def fake_model() -> Iterator[FakeModelServer]:
    """A started fake model server with an empty script (add turns with ``.add``).

    Leaving it checks the script: an unscripted request, an unused turn or a
    malformed request fails the test at teardown.
    """
    with FakeModelServer() as server:
        yield server
