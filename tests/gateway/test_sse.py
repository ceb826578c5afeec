"""Relaying an event stream: whole events only, garbage stopped, usage found."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from moatcode.gateway.sse import SseRelay, error_event

EVENTS = [
    b'data: {"choices":[{"delta":{"content":"Hel"}}],"usage":null}\n\n',
    b'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n',
    b": keep-alive\n\n",
    b'event: message\ndata: {"choices":[],\ndata: "x":1}\n\n',
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
    b"data: [DONE]\n\n",
]
STREAM = b"".join(EVENTS)


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_forwards_the_same_whole_events(cuts: list[int]) -> None:
    relay = SseRelay()
    points = sorted({0, *cuts, len(STREAM)})
    forwarded = []
    for lo, hi in itertools.pairwise(points):
        out = relay.feed(STREAM[lo:hi])
        assert out == b"" or out.endswith(b"\n\n")  # never half an event
        forwarded.append(out)
    forwarded.append(relay.finish())
    assert b"".join(forwarded) == STREAM
    assert (relay.problem, relay.done, relay.usage) == (
        None, True, {"prompt_tokens": 3, "completion_tokens": 2})


def test_crlf_streams_and_a_last_event_without_its_blank_line() -> None:
    relay = SseRelay()
    assert relay.feed(b'data: {"a":1}\r\n\r\ndata: [DO') == b'data: {"a":1}\r\n\r\n'
    assert relay.feed(b"NE]") == b""
    assert relay.finish() == b"data: [DONE]\n\n"
    assert relay.done


def test_garbage_stops_the_relay_before_it_is_forwarded() -> None:
    relay = SseRelay()
    out = relay.feed(EVENTS[0] + b"<html>502 Bad Gateway</html>\n\n" + EVENTS[1])
    assert out == EVENTS[0]
    assert relay.problem is not None
    assert relay.feed(EVENTS[1]) == b""
    assert relay.finish() == b""


def test_truncated_json_in_an_event_is_garbage() -> None:
    relay = SseRelay()
    assert relay.feed(b'data: {"choices": [\n\n') == b""
    assert relay.problem is not None


def test_upstream_error_events_pass_and_are_noted() -> None:
    relay = SseRelay()
    event = b'data: {"error":{"message":"overloaded"}}\n\n'
    assert relay.feed(event) == event
    assert relay.error_event and relay.problem is None


def test_error_event_is_well_formed() -> None:
    event = error_event("broken")
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[6:]) == {"error": {"message": "broken", "type": "upstream_error",
                                               "code": 502}}
