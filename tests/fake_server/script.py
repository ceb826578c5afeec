"""The script a test gives the fake model server: one turn per chat request.

A turn is either an answer (``Reply``, or ``SlowStream`` around one) or a way
the server misbehaves (``Fault``, ``CutStream``, ``Garbage``). Each request
takes the next turn, whatever it is, so a client's retry after a ``Fault``
takes the turn after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moatcode.types import Usage

# Checks a chat request's parsed JSON body before the turn answers it; it
# raises (an ``assert`` is enough) when the request is not what the test wants.
Expectation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Call:
    """A tool call the fake model makes.

    ``arguments`` is a mapping (sent as JSON) or a string sent exactly as
    given, which is how a test feeds the client invalid JSON. ``id`` is
    generated (``call_1``, ``call_2``... in the order the server answers)
    unless given.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """An answer: reasoning, text and tool calls, in that order on the wire.

    ``finish_reason`` defaults to ``tool_calls`` when there are calls, else
    ``stop``. ``usage`` defaults to an estimate: a quarter of the request body's
    bytes for the prompt, a quarter of the characters generated for the
    completion.
    """

    text: str = ""
    tool_calls: Sequence[Call] = ()
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    expect: Expectation | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Fault:
    """An HTTP error answer; ``body`` defaults to a vLLM-shaped error JSON."""

    status: int = 500
    body: str | None = None
    retry_after: int | str | None = None


@dataclass(frozen=True)
class CutStream:
    """Send the first ``after_chunks`` SSE events of ``reply``, then drop the connection.

    A non-streaming request gets the headers and half the JSON body instead.
    """

    after_chunks: int = 2
    reply: Reply = Reply(text="This answer is cut off before it ends.")


@dataclass(frozen=True)
class SlowStream:
    """``reply`` with ``delay_s`` between SSE events (before the body, when not streaming)."""

    reply: Reply
    delay_s: float = 0.2


@dataclass(frozen=True)
class Garbage:
    """A 200 whose body is not valid JSON or SSE.

    The content type is the one the client expects (JSON or an event stream)
    unless given, because that is the case a client cannot reject early.
    """

    body: bytes = b"<html><body>502 Bad Gateway</body></html>\n"
    content_type: str | None = None


Turn = Reply | Fault | CutStream | SlowStream | Garbage


def describe_turn(turn: Turn) -> str:
    """A short line naming a turn, for failure messages."""
    if isinstance(turn, SlowStream):
        return f"SlowStream(delay_s={turn.delay_s}, {describe_turn(turn.reply)})"
    if isinstance(turn, CutStream):
        return f"CutStream(after_chunks={turn.after_chunks})"
    if isinstance(turn, Reply):
        parts = []
        if turn.text:
            text = turn.text if len(turn.text) <= 40 else turn.text[:37] + "..."
            parts.append(f"text={text!r}")
        if turn.tool_calls:
            parts.append("tool_calls=[" + ", ".join(c.name for c in turn.tool_calls) + "]")
        return "Reply(" + ", ".join(parts) + ")"
    return repr(turn)
