"""What the tool-call parsers return: calls, refused attempts, and the result.

``Attempt`` is what one family's reader found at one place in the text; the
entry point (``parse.py``) judges attempts against the offered tools and turns
them into ``ParsedCall`` or ``MalformedCall``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParsedCall:
    """A complete, well-formed call."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class MalformedCall:
    """Something clearly meant as a call that cannot be executed."""

    name: str | None
    raw: str
    reason: str


@dataclass(frozen=True)
class ParseResult:
    calls: tuple[ParsedCall, ...]
    malformed: tuple[MalformedCall, ...]
    # The content with the call markup, thinking and template control tokens removed.
    text: str
    # Which family matched, e.g. "hermes"; None when nothing did.
    format: str | None


@dataclass(frozen=True)
class Attempt:
    """A call (or a failed try at one) found in ``text[start:end]``.

    ``arguments`` is None exactly when the attempt failed, and ``reason`` then
    says why.
    """

    start: int
    end: int
    format: str
    name: str | None
    arguments: dict[str, Any] | None
    reason: str = ""


def found(start: int, end: int, fmt: str, name: str, arguments: dict[str, Any]) -> Attempt:
    return Attempt(start, end, fmt, name, arguments)


def failed(start: int, end: int, fmt: str, name: str | None, reason: str) -> Attempt:
    return Attempt(start, end, fmt, name, None, reason)
